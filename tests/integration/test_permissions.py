"""What members may do (issue 16, "Permissions"): each team switch on and off, on the web and the API;
a read-only key; a member-role key; a restricted member neither sees nor counts another person's leads."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from flask import has_app_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiKey, AuditEntry, Lead, Note, TeamSettings, TimelineEntry
from app.services import ServiceError, api_keys, board, permissions, team_settings
from app.services.lead_queries import PoolFilters, pool_total
from tests.conftest import Web

PROBLEM = "application/problem+json"
WHO_CAN = "An admin can allow it on the Team settings page."


def set_members(**allowed) -> None:
    """Save the members' switches as an admin would (the others stay as they are)."""
    team_settings.save("UTC", None, member_permissions=allowed)
    db.session.commit()


class Api:
    def __init__(self, app, secret: str):
        self.app, self.client, self.secret = app, app.test_client(), secret

    def send(self, method: str, url: str, body=None):
        headers = {"Authorization": f"Bearer {self.secret}"}
        kwargs = {}
        if body is not None:
            kwargs["data"], headers["Content-Type"] = json.dumps(body), "application/json"
        with self.app.app_context():
            response = self.client.open(f"/api/v1{url}", method=method, headers=headers, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response


@pytest.fixture
def other(make_user):
    return make_user("member", name="Olga Other", email="olga@example.com")


@pytest.fixture
def leads(make_lead, member, other):
    """One lead of the member's, one of another member's (with a deal value), one in the pool."""
    return {"mine": make_lead(first_name="Mina", last_name="Mine", owner=member, value=Decimal("100")),
            "theirs": make_lead(first_name="Theo", last_name="Theirs", owner=other, value=Decimal("5000")),
            "pool": make_lead(first_name="Polly", last_name="Pool", value=Decimal("10"))}


def names(page: str) -> set[str]:
    return {name for name in ("Mina Mine", "Theo Theirs", "Polly Pool") if name in page}


# --- the rules and their storage --------------------------------------------------------------------


def test_by_default_members_may_do_everything_they_could_before(app, member, admin):
    assert permissions.member_settings() == {action: action != "delete" for action in permissions.ACTIONS}
    assert [a for a in permissions.ACTIONS if not permissions.allows(member, a)] == ["delete"]  # admins' alone before
    assert permissions.visible_to(member) is None


def test_admins_may_everything_whatever_the_switches_say(app, admin, member):
    set_members(**{action: False for action in permissions.ACTIONS})
    assert all(permissions.allows(admin, action) for action in permissions.ACTIONS)
    assert not any(permissions.allows(member, action) for action in permissions.ACTIONS)
    assert permissions.visible_to(admin) is None and permissions.visible_to(member) == member.id


def test_an_admin_turns_switches_off_on_the_team_page_and_the_audit_log_records_it(as_admin, admin, stages):
    page = as_admin.get("/settings/team").get_data(as_text=True)
    assert "What members may do" in page and "Merge duplicate leads" in page
    assert re.search(r'<input[^>]*checked[^>]*id="allow_export"|<input[^>]*id="allow_export"[^>]*checked', page)
    response = as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "permissions_shown": "1",
                                                "allow_see_all_leads": "y", "allow_reassign": "y", "allow_import": "y"})
    # merge and export left unticked; delete was off and stays off
    assert response.status_code == 302
    assert permissions.member_settings() == {"see_all_leads": True, "reassign": True, "merge": False,
                                             "import": True, "export": False, "delete": False}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "team.permissions_changed")).one()
    assert entry.actor_id == admin.id
    assert entry.details == {"merge": {"from": True, "to": False}, "export": {"from": True, "to": False}}
    assert "may not merge leads" in entry.target and "may not export leads" in entry.target
    page = as_admin.get("/settings/team").get_data(as_text=True)
    assert not re.search(r'<input[^>]*checked[^>]*id="allow_merge"|<input[^>]*id="allow_merge"[^>]*checked', page)


def test_a_post_without_the_switches_leaves_them_as_they_are(as_admin):
    set_members(merge=False)
    assert as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": ""}).status_code == 302
    assert permissions.member_settings()["merge"] is False
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "team.permissions_changed")) == 1  # set_members' only


def test_members_cannot_change_the_switches(as_member):
    response = as_member.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "permissions_shown": "1"})
    assert response.status_code == 403
    assert db.session.get(TeamSettings, 1) is None


def test_delete_is_a_switch_like_the_others_but_starts_off(app, member, admin):
    assert not permissions.allows(member, "delete")  # deleting was for admins only before the switch
    set_members(delete=True)
    assert permissions.allows(member, "delete")
    set_members(delete=False)
    assert not permissions.allows(member, "delete") and permissions.allows(admin, "delete")
    with pytest.raises(permissions.Forbidden, match="Members may not delete leads in this team. " + WHO_CAN):
        permissions.require(member, "delete")


# --- seeing all leads, or only one's own and the pool ------------------------------------------------


def test_with_see_all_on_a_member_sees_and_counts_everyone_s_leads(as_member, leads):
    page = as_member.get("/leads").get_data(as_text=True)
    assert names(page) == {"Mina Mine", "Theo Theirs", "Polly Pool"} and "3 leads" in page
    assert as_member.get(f"/leads/{leads['theirs'].id}").status_code == 200


def test_a_restricted_member_sees_and_counts_only_their_own_leads_and_the_pool(as_member, member, other, leads, stages):
    set_members(see_all_leads=False)
    page = as_member.get("/leads").get_data(as_text=True)
    assert names(page) == {"Mina Mine", "Polly Pool"} and "2 leads" in page  # the kept totals, narrowed
    page = as_member.get("/leads?q=theo").get_data(as_text=True)
    assert names(page) == set() and "0 leads" in page  # a counted (searched) total, narrowed too
    page = as_member.get(f"/leads?stage={stages['New'].id}&sort=name&dir=asc").get_data(as_text=True)
    assert names(page) == {"Mina Mine", "Polly Pool"} and "2 leads" in page
    # Asking for another person's leads by name is refused, not silently emptied.
    refused = as_member.get(f"/leads?owner={other.id}")
    assert refused.status_code == 403
    assert "not another person" in refused.get_data(as_text=True)
    assert as_member.get(f"/leads?owner={member.id}").status_code == 200


def test_a_restricted_member_gets_a_403_page_for_another_person_s_lead(as_member, leads):
    set_members(see_all_leads=False)
    for url in (f"/leads/{leads['theirs'].id}", f"/leads/{leads['theirs'].id}/edit",
                f"/leads/{leads['theirs'].id}/timeline", f"/board/cards/{leads['theirs'].id}/move"):
        response = as_member.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 403, url
        assert "Members may not see leads that belong to someone else in this team. " + WHO_CAN in body
    assert as_member.get(f"/leads/{leads['mine'].id}").status_code == 200
    assert as_member.get(f"/leads/{leads['pool'].id}").status_code == 200


def test_adding_a_lead_a_teammate_already_has_says_so_without_opening_it(as_member, member, other, stages):
    from app.services.capture import capture_lead
    theirs = capture_lead({"first_name": "Theo", "email": "theo@example.com"}, via="test", owner_id=other.id).lead
    db.session.commit()
    set_members(see_all_leads=False)
    response = as_member.post("/leads/new", {"first_name": "Theodore", "email": "theo@example.com",
                                             "owner": str(member.id)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/leads")
    page = as_member.get("/leads").get_data(as_text=True)
    assert "already a lead a teammate owns (same email)" in page and "Theo" not in page
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1  # no twin
    assert db.session.get(Lead, theirs.id).owner_id == other.id


def test_an_htmx_request_for_a_hidden_lead_gets_a_notice_not_a_page(as_member, leads):
    set_members(see_all_leads=False)
    response = as_member.post(f"/leads/{leads['theirs'].id}/notes", {"body": "Sneaky"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and "<html" not in body
    assert response.headers["HX-Reswap"] == "none" and "Members may not see leads" in body
    assert db.session.scalar(select(func.count()).select_from(Note).where(Note.lead_id == leads["theirs"].id)) == 0


def test_a_restricted_member_s_board_shows_and_counts_only_their_leads_and_the_pool(as_member, member, other, leads,
                                                                                   stages):
    set_members(see_all_leads=False)
    page = as_member.get("/board").get_data(as_text=True)
    assert names(page) == {"Mina Mine", "Polly Pool"}
    assert "5,000" not in page and "110" in page  # the column's value: theirs is not added in
    column = board.column(stages["New"].id, board.View(visible_to=member.id))
    assert column.count == 2 and column.total_value == Decimal("110")
    narrowed = board.column(stages["New"].id, board.View(visible_to=member.id, narrow=PoolFilters(q="theo")))
    assert narrowed.count == 0 and narrowed.cards == []
    assert as_member.get(f"/board?owner={other.id}").status_code == 403
    with_all = board.column(stages["New"].id, board.View())
    assert with_all.count == 3


def test_a_restricted_member_s_search_finds_only_leads_they_may_see(as_member, leads):
    set_members(see_all_leads=False)
    assert names(as_member.get("/search?q=theo").get_data(as_text=True)) == set()
    assert names(as_member.get("/search?q=mina").get_data(as_text=True)) == {"Mina Mine"}
    set_members(see_all_leads=True)
    assert names(as_member.get("/search?q=theo").get_data(as_text=True)) == {"Theo Theirs"}


def test_pool_totals_never_count_leads_the_member_may_not_see(app, member, other, leads, stages):
    f = PoolFilters(visible_to=member.id)
    assert pool_total(f, member.id).count == 2
    assert pool_total(PoolFilters(visible_to=member.id, stage_id=stages["New"].id), member.id).count == 2
    assert pool_total(PoolFilters(visible_to=member.id, owner="none"), member.id).count == 1
    assert pool_total(PoolFilters(visible_to=member.id, owner=str(other.id)), member.id).count == 0
    assert pool_total(PoolFilters(visible_to=member.id, source="x"), member.id).count == 0
    assert pool_total(PoolFilters(), member.id).count == 3


def test_a_saved_view_of_another_person_s_leads_is_refused_to_a_restricted_member(as_member, member, other, leads):
    from app.services.saved_views import save_view
    view = save_view(member.id, "Olga's", "pool", f"owner={other.id}")
    db.session.commit()
    set_members(see_all_leads=False)
    opened = as_member.get(f"/views/{view.id}")
    assert opened.status_code == 302
    assert as_member.get(opened.headers["Location"]).status_code == 403


def test_a_restricted_member_s_export_holds_only_leads_they_may_see(as_member, leads):
    set_members(see_all_leads=False)
    response = as_member.get("/leads/export.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Mina" in body and "Polly" in body and "Theo" not in body


def test_a_restricted_member_cannot_act_on_hidden_leads_in_bulk(as_member, leads, stages):
    set_members(see_all_leads=False)
    response = as_member.post("/leads/bulk", {"lead_ids": [str(leads["theirs"].id), str(leads["mine"].id)],
                                              "action": "move", "stage": str(stages["Contacted"].id)})
    assert response.status_code == 403
    assert db.session.get(Lead, leads["theirs"].id).stage_id == stages["New"].id
    assert db.session.get(Lead, leads["mine"].id).stage_id == stages["New"].id


# --- reassigning -----------------------------------------------------------------------------------


def test_with_reassign_on_a_member_may_reassign_another_person_s_lead(as_member, member, leads):
    response = as_member.post(f"/leads/{leads['theirs'].id}/assign", {"owner": str(member.id)})
    assert response.status_code == 302
    assert db.session.get(Lead, leads["theirs"].id).owner_id == member.id


def test_with_reassign_off_another_person_s_lead_stays_theirs(as_member, member, other, admin, leads):
    set_members(reassign=False)
    response = as_member.post(f"/leads/{leads['theirs'].id}/assign", {"owner": str(member.id)})
    assert response.status_code == 403
    assert "Members may not reassign leads that belong to someone else in this team. " + WHO_CAN \
        in response.get_data(as_text=True)
    assert db.session.get(Lead, leads["theirs"].id).owner_id == other.id
    page = as_member.get(f"/leads/{leads['theirs'].id}").get_data(as_text=True)
    assert 'id="assign-owner"' not in page and "may not reassign" in page
    # Their own lead and a pooled one are theirs to hand out.
    assert as_member.post(f"/leads/{leads['mine'].id}/assign", {"owner": str(other.id)}).status_code == 302
    assert as_member.post(f"/leads/{leads['pool'].id}/assign", {"owner": str(member.id)}).status_code == 302
    assert db.session.get(Lead, leads["mine"].id).owner_id == other.id
    assert db.session.get(Lead, leads["pool"].id).owner_id == member.id
    bulk = as_member.post("/leads/bulk", {"lead_ids": [str(leads["theirs"].id)], "action": "assign",
                                          "owner": str(member.id)}, htmx=True)
    assert bulk.status_code == 403 and "<html" not in bulk.get_data(as_text=True)
    assert db.session.get(Lead, leads["theirs"].id).owner_id == other.id
    admin_web = Web(as_member.app.test_client())
    admin_web.login(admin)
    assert admin_web.post(f"/leads/{leads['theirs'].id}/assign", {"owner": str(admin.id)}).status_code == 302
    assert db.session.get(Lead, leads["theirs"].id).owner_id == admin.id


# --- merge, import, export ---------------------------------------------------------------------------


def test_with_merge_on_a_member_may_open_duplicates_and_merge(as_member, make_lead):
    a = make_lead(first_name="Dora", last_name="Dup", email="dora@example.com")
    b = make_lead(first_name="Dora", last_name="Dup", email="dora.d@example.com")
    loser_id = b.id
    assert as_member.get("/leads/duplicates").status_code == 200
    response = as_member.post("/leads/merge", {"survivor": str(a.id), "loser": str(loser_id)})
    assert response.status_code == 302
    assert db.session.get(Lead, loser_id) is None


def test_a_restricted_member_cannot_undo_a_merge_of_someone_else_s_leads(as_member, other, admin, make_lead):
    from app.services import merge as merge_service
    a = make_lead(first_name="Tess", last_name="Twin", email="tess@example.com", owner=other)
    b = make_lead(first_name="Tess", last_name="Twin", email="tess.t@example.com", owner=other)
    merged = merge_service.merge_leads(a.id, b.id, {}, admin.id)
    db.session.commit()
    set_members(see_all_leads=False)
    response = as_member.post(f"/leads/merges/{merged.id}/undo")
    assert response.status_code == 403 and "Tess" not in response.get_data(as_text=True)
    assert db.session.get(Lead, b.id) is None  # still merged


def test_with_merge_off_a_member_is_refused_duplicates_and_merging(as_member, make_lead):
    a = make_lead(first_name="Dora", last_name="Dup", email="dora@example.com")
    b = make_lead(first_name="Dora", last_name="Dup", email="dora.d@example.com")
    set_members(merge=False)
    for response in (as_member.get("/leads/duplicates"), as_member.get(f"/leads/merge?a={a.id}&b={b.id}"),
                     as_member.post("/leads/merge", {"survivor": str(a.id), "loser": str(b.id)})):
        assert response.status_code == 403
        assert "Members may not merge leads in this team. " + WHO_CAN in response.get_data(as_text=True)
    assert db.session.get(Lead, b.id) is not None
    assert "Merge with" not in as_member.get(f"/leads/{a.id}").get_data(as_text=True)


def test_import_follows_its_switch(as_member):
    assert as_member.get("/leads/import").status_code == 200
    assert "Import CSV" in as_member.get("/leads").get_data(as_text=True)
    set_members(**{"import": False})
    response = as_member.get("/leads/import")
    assert response.status_code == 403
    assert "Members may not import leads in this team. " + WHO_CAN in response.get_data(as_text=True)
    assert "Import CSV" not in as_member.get("/leads").get_data(as_text=True)


def test_export_follows_its_switch(as_member, leads):
    assert as_member.get("/leads/export.csv").status_code == 200
    set_members(export=False)
    response = as_member.get("/leads/export.csv")
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "Members may not export leads in this team. " + WHO_CAN in response.get_data(as_text=True)
    assert "as CSV" not in as_member.get("/leads").get_data(as_text=True)


# --- API keys: a role and a read-only scope -----------------------------------------------------------


def test_a_key_s_role_is_no_higher_than_its_creator_s(app, member, admin):
    with pytest.raises(ServiceError, match="no higher than yours"):
        api_keys.create_key("Mine", created_by_id=member.id, role="admin")
    key, _ = api_keys.create_key("Mine", created_by_id=member.id, role="member")
    assert key.role == "member"
    with pytest.raises(ServiceError, match="role"):
        api_keys.create_key("Odd", created_by_id=admin.id, role="owner")


def test_an_admin_key_acts_as_a_member_once_its_creator_is_no_longer_an_admin(app, admin, make_user):
    other_admin = make_user("admin")
    key, _ = api_keys.create_key("Ops", created_by_id=admin.id, role="admin")
    assert api_keys.actor(key).is_admin
    from app.services.users import change_role
    change_role(admin.id, "member", actor_id=other_admin.id)
    db.session.commit()
    assert not api_keys.actor(key).is_admin


def test_deactivating_someone_revokes_their_api_keys(app, admin, make_user):
    from app.models import ApiKey
    from app.services.users import set_active
    leaving = make_user("admin")
    key, _ = api_keys.create_key("Ops", created_by_id=leaving.id, role="admin")
    mine, _ = api_keys.create_key("Mine", created_by_id=admin.id, role="admin")
    set_active(leaving.id, False, admin.id)
    db.session.commit()
    assert db.session.get(ApiKey, key.id, populate_existing=True).revoked_at is not None
    assert db.session.get(ApiKey, mine.id, populate_existing=True).revoked_at is None


def test_an_admin_creates_a_read_only_member_key_on_the_settings_page(as_admin, admin):
    page = as_admin.get("/settings/api-keys").get_data(as_text=True)
    assert "Read-only" in page and 'name="role"' in page
    response = as_admin.post("/settings/api-keys", {"name": "Reporting", "role": "member", "read_only": "y"})
    assert response.status_code == 201
    key = db.session.scalars(select(ApiKey).where(ApiKey.name == "Reporting")).one()
    assert (key.role, key.read_only, key.created_by_id) == ("member", True, admin.id)
    assert "Member, read-only" in as_admin.get("/settings/api-keys").get_data(as_text=True)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.created")).one()
    assert entry.details == {"role": "member", "read_only": True}


def test_a_read_only_key_reads_but_every_write_is_a_403_problem(app, admin, leads, stages):
    _, secret = api_keys.create_key("Reader", created_by_id=admin.id, role="admin", read_only=True)
    db.session.commit()
    api = Api(app, secret)
    listed = api.send("GET", "/leads")
    assert listed.status_code == 200 and len(listed.get_json()["data"]) == 3
    before = db.session.scalar(select(func.count()).select_from(Lead))
    for method, url, body in (("POST", "/leads", {"email": "new@example.com"}),
                              ("PATCH", f"/leads/{leads['pool'].id}", {"job_title": "CEO"}),
                              ("POST", f"/leads/{leads['pool'].id}/tasks", {"title": "Call"})):
        response = api.send(method, url, body)
        assert response.status_code == 403, url
        assert response.mimetype == PROBLEM
        assert "read-only" in response.get_json()["detail"]
    assert db.session.scalar(select(func.count()).select_from(Lead)) == before
    assert db.session.get(Lead, leads["pool"].id).job_title in (None, "")


def test_a_member_key_follows_the_member_permissions(app, admin, member, other, leads):
    _, member_secret = api_keys.create_key("Mina's sync", created_by_id=member.id, role="member")
    _, admin_secret = api_keys.create_key("Everything", created_by_id=admin.id, role="admin")
    db.session.commit()
    mine, admin_api = Api(app, member_secret), Api(app, admin_secret)
    # Everything allowed: as before.
    assert len(mine.send("GET", "/leads").get_json()["data"]) == 3
    assert mine.send("GET", f"/leads/{leads['theirs'].id}").status_code == 200

    set_members(see_all_leads=False, reassign=False)
    listed = {lead["id"] for lead in mine.send("GET", "/leads").get_json()["data"]}
    assert listed == {leads["mine"].id, leads["pool"].id}
    hidden = mine.send("GET", f"/leads/{leads['theirs'].id}")
    assert hidden.status_code == 403 and hidden.mimetype == PROBLEM
    assert "member role" in hidden.get_json()["detail"] and WHO_CAN in hidden.get_json()["detail"]
    refused = mine.send("GET", f"/leads?owner_id={other.id}")
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    # An admin key sees and changes everything.
    assert len(admin_api.send("GET", "/leads").get_json()["data"]) == 3
    assert admin_api.send("PATCH", f"/leads/{leads['theirs'].id}", {"owner_id": admin.id}).status_code == 200

    set_members(see_all_leads=True, reassign=False)
    moved = mine.send("PATCH", f"/leads/{leads['theirs'].id}", {"owner_id": member.id})
    assert moved.status_code == 403 and "reassign" in moved.get_json()["detail"]
    assert db.session.get(Lead, leads["theirs"].id).owner_id == admin.id
    assert mine.send("PATCH", f"/leads/{leads['pool'].id}", {"owner_id": member.id}).status_code == 200
    set_members(reassign=True)
    assert mine.send("PATCH", f"/leads/{leads['theirs'].id}", {"owner_id": member.id}).status_code == 200
    assert db.session.get(Lead, leads["theirs"].id).owner_id == member.id


def test_the_openapi_document_lists_the_403(app, stages):
    from app.api.openapi import document
    doc = document()
    assert doc["paths"]["/leads"]["get"]["responses"]["403"] == {"$ref": "#/components/responses/Forbidden"}
    assert "read-only" in doc["info"]["description"]


# --- a restricted member: imports, source names and the duplicates list ------------------------------


@pytest.mark.parametrize("by_row", [False, True], ids=["batched", "row by row"])
def test_a_restricted_member_s_import_leaves_a_teammate_s_lead_as_it_is_and_says_so(as_member, member, other,
                                                                                      make_lead, stages, by_row):
    from app.models import ImportRow
    from app.services.imports import run_import
    from tests.integration.test_import import csv_bytes, queued
    theirs = make_lead(first_name="Theo", last_name="Theirs", email="theo@example.com", company="Old Co", owner=other)
    mine = make_lead(first_name="Mina", last_name="Mine", email="mina@example.com", company="Old Co", owner=member)
    pool = make_lead(first_name="Polly", last_name="Pool", email="polly@example.com", company="Old Co")
    db.session.commit()
    set_members(see_all_leads=False)
    imp = queued(csv_bytes([["Email", "First name", "Last name", "Company"],
                            ["theo@example.com", "Theodore", "T", "New Co"],   # row 2: a teammate's
                            ["mina@example.com", "Mina", "Mine", "New Co"],    # row 3: their own
                            ["polly@example.com", "Polly", "Pool", "New Co"],  # row 4: the pool's
                            ["theo@example.com", "Theodore", "T", "Newer Co"]]),  # row 5: the teammate's again
                 duplicates="update", created_by_id=member.id)
    imp = run_import(imp.id, by_row=by_row)

    db.session.expire_all()
    kept = db.session.get(Lead, theirs.id)
    assert (kept.first_name, kept.last_name, kept.company, kept.owner_id) == ("Theo", "Theirs", "Old Co", other.id)
    assert db.session.get(Lead, mine.id).company == "New Co" and db.session.get(Lead, pool.id).company == "New Co"
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 3  # no twin made either
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.lead_id == theirs.id, TimelineEntry.kind == "resubmitted")) == 0  # no mark left on it
    assert (imp.created_count, imp.updated_count, imp.skipped_count) == (0, 2, 2)
    reason = "A teammate already has this lead (same email); it was left as it is."
    rows = {r.row_number: (r.outcome, r.lead_id, r.reason) for r in db.session.execute(
        select(ImportRow.row_number, ImportRow.outcome, ImportRow.lead_id, ImportRow.reason)
        .where(ImportRow.import_id == imp.id))}
    assert rows[2] == rows[5] == ("skipped", None, reason)
    assert rows[3][:2] == ("updated", mine.id) and rows[4][:2] == ("updated", pool.id)
    # The row report says why, and names nothing of the teammate's lead.
    page = as_member.get(f"/leads/import/{imp.id}/progress?outcome=skipped").get_data(as_text=True)
    assert page.count(reason) == 2 and "Theirs" not in page and f"/leads/{theirs.id}\"" not in page
    assert "(removed)" not in page
    report = as_member.get(f"/leads/import/{imp.id}/rows.csv").get_data(as_text=True)
    assert reason in report and "Theirs" not in report


def test_a_restricted_member_key_posting_a_teammate_s_lead_gets_a_403_that_shows_nothing_of_it(app, member, other,
                                                                                                make_lead):
    from app.services.capture import capture_lead
    theirs = capture_lead({"first_name": "Theo", "last_name": "Theirs", "email": "theo@example.com"}, via="test",
                          owner_id=other.id).lead
    db.session.commit()
    _, secret = api_keys.create_key("Mina's sync", created_by_id=member.id, role="member")
    db.session.commit()
    set_members(see_all_leads=False)
    api = Api(app, secret)
    response = api.send("POST", "/leads", {"email": "theo@example.com", "job_title": "CEO", "company": "Spy Co"})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    detail = response.get_json()["detail"]
    assert detail.startswith("A teammate already has this lead (same email); it was left as it is.")
    assert "member role" in detail and WHO_CAN in detail
    assert "Theo" not in response.get_data(as_text=True) and "id" not in response.get_json()
    kept = db.session.get(Lead, theirs.id)
    assert (kept.job_title or "", kept.company or "") == ("", "")
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
    # With "see every lead" on, the known lead answers 200 as before.
    set_members(see_all_leads=True)
    again = api.send("POST", "/leads", {"email": "theo@example.com"})
    assert again.status_code == 200 and again.get_json()["id"] == theirs.id


def test_an_admin_s_import_still_updates_anyone_s_lead(admin, other, make_lead, stages):
    from app.services.imports import run_import
    from tests.integration.test_import import csv_bytes, queued
    theirs = make_lead(first_name="Theo", last_name="Theirs", email="theo@example.com", company="Old Co", owner=other)
    db.session.commit()
    set_members(see_all_leads=False)
    imp = queued(csv_bytes([["Email", "Company"], ["theo@example.com", "New Co"]]), duplicates="update",
                 created_by_id=admin.id)
    assert run_import(imp.id).updated_count == 1
    db.session.expire_all()
    assert db.session.get(Lead, theirs.id).company == "New Co"


@pytest.fixture
def sourced(make_lead, member, other):
    """A source only the member's leads have, one only a teammate's have, one the pool and the teammate share."""
    make_lead(first_name="Mina", last_name="Mine", owner=member, source="Trade fair")
    make_lead(first_name="Theo", last_name="Theirs", owner=other, source="Secret partner")
    make_lead(first_name="Polly", last_name="Pool", source="Webinar")
    make_lead(first_name="Tara", last_name="Theirs", owner=other, source="Webinar")
    db.session.commit()


def test_a_restricted_member_s_source_pickers_name_only_sources_of_leads_they_may_see(as_member, member, sourced):
    from app.services import lead_queries, reports
    assert lead_queries.sources() == ["Secret partner", "Trade fair", "Webinar"]
    assert lead_queries.sources(member.id) == ["Trade fair", "Webinar"]
    assert lead_queries.sources(0) == ["Webinar"]  # nobody's own: the pool's alone
    set_members(see_all_leads=False)
    assert reports.sources(permissions.visible_to(member)) == ["Trade fair", "Webinar"]
    for url in ("/leads", "/board", "/reports/conversion-source"):
        page = as_member.get(url).get_data(as_text=True)
        assert ">Trade fair</option>" in page and ">Webinar</option>" in page, url
        assert "Secret partner" not in page, url
    set_members(see_all_leads=True)
    assert ">Secret partner</option>" in as_member.get("/leads").get_data(as_text=True)


def test_a_report_s_source_check_answers_the_same_for_a_hidden_source_as_for_none(as_member, member, sourced):
    from app.services import reports
    set_members(see_all_leads=False)
    scope = permissions.visible_to(member)

    def refusal(source: str) -> str:
        with pytest.raises(reports.FilterError) as refused:
            reports.clean_filters({"source": source}, report="conversion-source", viewer_id=member.id,
                                  see_everyone=False, visible_to=scope)
        return refused.value.message.replace(source, "…")

    assert refusal("Secret partner") == refusal("Nowhere at all") == "No lead has the source “…”. Pick one from the list."
    assert reports.clean_filters({"source": "Webinar"}, report="conversion-source", viewer_id=member.id,
                                 see_everyone=False, visible_to=scope).source == "Webinar"
    hidden = as_member.get("/reports/conversion-source?source=Secret+partner")
    missing = as_member.get("/reports/conversion-source?source=Nowhere+at+all")
    assert hidden.status_code == missing.status_code == 400
    assert "No lead has the source “Secret partner”" in hidden.get_data(as_text=True)
    assert "Theo" not in hidden.get_data(as_text=True)


def test_a_restricted_member_s_duplicates_page_is_full_of_pairs_they_may_see(as_member, member, other,
                                                                             make_lead, monkeypatch):
    from app.leads import duplicates as duplicates_page
    from app.services import duplicates as duplicate_service
    # Acme's pair (a teammate's) comes first in company order; Zenith's (the member's and the pool's) after.
    make_lead(first_name="Jon", last_name="Smith", company="Acme Inc", owner=other)
    make_lead(first_name="John", last_name="Smith", company="ACME", owner=other)
    make_lead(first_name="Peter", last_name="Gibbons", company="Zenith", owner=member)
    make_lead(first_name="Petr", last_name="Gibbons", company="Zenith")
    make_lead(first_name="Mixed", last_name="Pair", company="Midway", owner=member)
    make_lead(first_name="Mixed", last_name="Pairs", company="Midway", owner=other)  # one hidden: no pair
    db.session.commit()
    set_members(see_all_leads=False)
    page = duplicate_service.likely_duplicates(limit=1, visible_to=member.id)
    assert [(p.a.full_name, p.b.full_name) for p in page.pairs] == [("Peter Gibbons", "Petr Gibbons")]
    assert page.next_after is None
    everyone = duplicate_service.likely_duplicates(limit=1)
    assert [p.a.company for p in everyone.pairs] == ["Acme Inc"] and everyone.next_after is not None

    monkeypatch.setattr(duplicates_page, "PAGE_PAIRS", 1)
    listed = as_member.get("/leads/duplicates").get_data(as_text=True)
    assert "Peter Gibbons" in listed and "Petr Gibbons" in listed
    assert "Smith" not in listed and "Mixed" not in listed and 'rel="next"' not in listed


def test_a_restricted_member_s_same_phone_pairs_leave_out_hidden_leads_before_the_limit(app, member, other,
                                                                                        make_lead):
    from app.services import duplicates as duplicate_service
    make_lead(first_name="Ann", last_name="Home", phone="+14155550101", owner=member)
    make_lead(first_name="Bob", last_name="Home", phone="+14155550101")
    make_lead(first_name="Cy", last_name="Switch", phone="+14155550102", owner=other)  # newer shared phone:
    make_lead(first_name="Di", last_name="Switch", phone="+14155550102", owner=other)  # a teammate's pair
    make_lead(first_name="Ed", last_name="Half", phone="+14155550103", owner=member)   # newest: one hidden
    make_lead(first_name="Flo", last_name="Half", phone="+14155550103", owner=other)
    db.session.commit()
    set_members(see_all_leads=False)
    pairs = duplicate_service.same_phone_pairs(limit=1, visible_to=member.id)
    assert [(p.a.first_name, p.b.first_name) for p in pairs] == [("Ann", "Bob")]
    assert [p.a.first_name for p in duplicate_service.same_phone_pairs(limit=1)] == ["Ed"]


def test_a_restricted_member_opens_only_the_imports_they_started(as_member, member, other, admin, make_lead, stages):
    from app.services.imports import run_import
    from tests.integration.test_import import csv_bytes, queued
    theirs = run_import(queued(csv_bytes([["Email", "First name", "Last name"], ["theo@example.com", "Theo", "Secret"]]),
                               created_by_id=other.id).id)
    mine = run_import(queued(csv_bytes([["Email", "First name", "Last name"], ["mina@example.com", "Mina", "Mine"]]),
                             created_by_id=member.id).id)
    db.session.commit()
    assert as_member.get(f"/leads/import/{theirs.id}/progress").status_code == 200  # seeing all: every import
    set_members(see_all_leads=False)
    for path in (f"/leads/import/{theirs.id}", f"/leads/import/{theirs.id}/progress",
                 f"/leads/import/{theirs.id}/rows.csv", f"/leads/import/{theirs.id}/undo"):
        response = as_member.get(path)
        assert response.status_code == 403, path
        assert "Secret" not in response.get_data(as_text=True)
    assert as_member.get(f"/leads/import/{mine.id}/progress").status_code == 200
    listing = as_member.get("/leads/import").get_data(as_text=True)
    assert f"/leads/import/{mine.id}" in listing and f"/leads/import/{theirs.id}" not in listing
