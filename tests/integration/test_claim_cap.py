"""The pool claim cap: admins set it at /settings/team; a member holding that many open leads cannot
claim (or take for themselves) another from the pool, with a message naming the cap, even when
claiming several at the same instant. Admins assigning are never capped."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, TeamSettings, TimelineEntry
from app.services import team_settings
from app.services.leads import ClaimCapReached, assign_lead, bulk_assign, claim_lead
from tests.integration.test_races import together


def set_cap(cap: int | None) -> None:
    team_settings.save("UTC", None, pool_claim_cap=cap)


def owned_by(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Lead).where(Lead.owner_id == user_id))


def test_an_admin_sets_and_clears_the_cap_on_team_settings(as_admin):
    page = as_admin.get("/settings/team").get_data(as_text=True)
    assert 'for="pool_claim_cap">Pool claim cap' in page
    response = as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": "25"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(TeamSettings, 1).pool_claim_cap == 25
    assert 'value="25"' in as_admin.get("/settings/team").get_data(as_text=True)
    as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": " "})
    db.session.expire_all()
    assert db.session.get(TeamSettings, 1).pool_claim_cap is None


@pytest.mark.parametrize("typed, message", [
    ("0", "A cap is a whole number from 1 to 100,000; leave it empty for no cap."),
    ("-3", "Enter a whole number such as 25, or leave it empty for no cap."),
    ("ten", "Enter a whole number such as 25, or leave it empty for no cap."),
    ("2.5", "Enter a whole number such as 25, or leave it empty for no cap."),
    ("100001", "A cap is a whole number from 1 to 100,000; leave it empty for no cap."),
])
def test_a_bad_cap_is_refused_beside_the_field(as_admin, typed, message):
    set_cap(7)
    response = as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": typed},
                             htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="pool_claim_cap-error">' + re.escape(message), body)
    db.session.expire_all()
    assert db.session.get(TeamSettings, 1).pool_claim_cap == 7


def test_members_cannot_change_the_cap(as_member):
    response = as_member.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": "1"})
    assert response.status_code == 403
    assert db.session.get(TeamSettings, 1) is None


def test_a_member_at_the_cap_cannot_claim_and_is_told_the_cap(app, member, make_lead):
    set_cap(2)
    make_lead(owner=member)
    make_lead(owner=member, stage="Contacted")
    make_lead(owner=member, stage="Won")  # closed leads do not count
    pooled = make_lead(first_name="Pia")
    with pytest.raises(ClaimCapReached) as refused:
        claim_lead(pooled.id, member.id)
    assert refused.value.message.startswith(
        "You hold 2 open leads, and the most a member may hold when claiming from the pool is 2.")
    db.session.expire_all()
    assert db.session.get(Lead, pooled.id).owner_id is None
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == "claimed")) == 0


def test_a_member_below_the_cap_claims(app, member, make_lead):
    set_cap(2)
    make_lead(owner=member)
    pooled = make_lead(first_name="Pia")
    assert claim_lead(pooled.id, member.id).owner_id == member.id


def test_no_cap_means_any_number_of_claims(app, member, make_lead):
    for _ in range(3):
        make_lead(owner=member)
    assert claim_lead(make_lead().id, member.id).owner_id == member.id


def test_claiming_from_the_pool_page_past_the_cap_answers_with_the_message(as_member, member, make_lead):
    set_cap(1)
    make_lead(owner=member)
    pooled = make_lead(first_name="Pia")
    response = as_member.post(f"/leads/{pooled.id}/claim", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "<html" not in body
    assert "You hold 1 open lead, and the most a member may hold when claiming from the pool is 1." in body
    plain = as_member.post(f"/leads/{pooled.id}/claim")
    assert plain.status_code == 409 and "the most a member may hold when claiming from the pool is 1" in \
        plain.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lead, pooled.id).owner_id is None


def test_a_member_taking_pool_leads_for_themselves_by_assigning_is_capped_too(app, member, make_user, make_lead):
    set_cap(2)
    make_lead(owner=member)
    pooled = [make_lead(first_name=f"P{i}").id for i in range(3)]
    with pytest.raises(ClaimCapReached) as refused:
        bulk_assign(pooled, member.id, member.id)
    assert "claiming these 3 would make 4" in refused.value.message and "Select at most 1." in refused.value.message
    assert owned_by(member.id) == 1  # none of them changed
    assert assign_lead(pooled[0], member.id, member.id).owner_id == member.id  # makes 2: allowed
    with pytest.raises(ClaimCapReached):
        assign_lead(pooled[1], member.id, member.id)
    assert owned_by(member.id) == 2


def test_admins_assigning_are_never_capped(app, admin, member, make_lead):
    set_cap(1)
    make_lead(owner=member)
    pooled = [make_lead().id for _ in range(2)]
    assert bulk_assign(pooled, member.id, admin.id) == 2
    assert assign_lead(make_lead().id, member.id, admin.id).owner_id == member.id
    assert owned_by(member.id) == 4
    # An admin taking pool leads for themselves is assigning, too.
    assert bulk_assign([make_lead().id, make_lead().id], admin.id, admin.id) == 2


def test_a_member_handing_pool_leads_to_a_teammate_is_not_claiming(app, member, make_user, make_lead):
    set_cap(1)
    other = make_user()
    make_lead(owner=other)
    assert bulk_assign([make_lead().id, make_lead().id], other.id, member.id) == 2


def test_handing_pool_leads_to_a_teammate_and_taking_them_back_is_capped(app, member, make_user, make_lead):
    """The detour the attacker review found: give pool leads away, then assign them to yourself."""
    set_cap(1)
    other = make_user()
    make_lead(owner=member)
    pooled = [make_lead().id, make_lead().id]
    assert bulk_assign(pooled, other.id, member.id) == 2
    with pytest.raises(ClaimCapReached):
        bulk_assign(pooled, member.id, member.id)
    with pytest.raises(ClaimCapReached):
        assign_lead(pooled[0], member.id, member.id)
    assert owned_by(member.id) == 1 and owned_by(other.id) == 2


def test_simultaneous_claims_by_one_member_never_pass_the_cap(app, database_url, member, make_lead):
    """Eight claims of different pool leads at the same instant, by someone one below the cap: one wins."""
    set_cap(3)
    make_lead(owner=member)
    make_lead(owner=member)
    pooled = [make_lead(first_name=f"P{i}").id for i in range(8)]
    member_id = member.id

    results = together(app, *(lambda lead_id=lead_id: claim_lead(lead_id, member_id) for lead_id in pooled))

    won = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, ClaimCapReached)]
    assert len(won) == 1 and len(refused) == 7, results
    # Each refused claim counted after the winner's had committed: "You hold 3 open leads".
    assert all(r.held == 3 and r.cap == 3 for r in refused)
    db.session.expire_all()
    assert owned_by(member_id) == 3
