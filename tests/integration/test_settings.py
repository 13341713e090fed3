import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, Stage, TimelineEntry, User
from app.services import stages as stage_service


def pipeline_names() -> list[str]:
    return list(db.session.scalars(select(Stage.name).order_by(Stage.position)))


@pytest.mark.parametrize("method, url", [
    ("get", "/settings/stages"), ("get", "/settings/users"), ("post", "/settings/stages"),
    ("post", "/settings/stages/order"), ("post", "/settings/invitations"),
])
def test_members_are_refused_every_admin_page_with_a_clear_403(as_member, stages, method, url):
    response = getattr(as_member, method)(url, **({"data": {"name": "Sneaky", "colour": "#000000", "kind": "open"}}
                                                   if method == "post" else {}))
    assert response.status_code == 403
    assert " are for admins. Ask an admin" in response.get_data(as_text=True)
    assert "Sneaky" not in pipeline_names()


def test_members_do_not_see_admin_links(as_member, stages):
    body = as_member.get("/board").get_data(as_text=True)
    assert "/settings/stages" not in body and "/settings/users" not in body


def test_an_admin_adds_renames_recolours_and_reorders_stages(as_admin, stages):
    assert as_admin.post("/settings/stages", {"name": "Proposal sent", "colour": "#112233", "kind": "open"}).status_code == 302
    assert pipeline_names()[-3:] == ["Proposal sent", "Won", "Lost"]  # open stages come before closed ones
    contacted = stages["Contacted"]
    assert as_admin.post(f"/settings/stages/{contacted.id}", {"name": "Reached", "colour": "#AABBCC",
                                                              "kind": "open"}).status_code == 302
    db.session.refresh(contacted)
    assert (contacted.name, contacted.colour) == ("Reached", "#aabbcc")
    ids = [s.id for s in db.session.scalars(select(Stage).order_by(Stage.position))]
    response = as_admin.post("/settings/stages/order", {"stage_ids": [str(i) for i in reversed(ids)]}, htmx=True)
    assert response.status_code == 200 and "Stage order saved." in response.get_data(as_text=True)
    assert pipeline_names()[:3] == ["Lost", "Won", "Proposal sent"]
    board = as_admin.get("/board").get_data(as_text=True)
    assert board.index(">Proposal sent</h2>") < board.index(">Reached</h2>") < board.index(">New</h2>")


def test_up_and_down_buttons_are_the_keyboard_way_to_reorder(as_admin, stages):
    response = as_admin.post(f"/settings/stages/{stages['Qualified'].id}/move", {"direction": "up"}, htmx=True)
    assert response.status_code == 200 and 'data-focus="stage-' in response.get_data(as_text=True)
    assert pipeline_names()[:3] == ["New", "Qualified", "Contacted"]
    as_admin.post(f"/settings/stages/{stages['New'].id}/move", {"direction": "up"})  # already first: no change
    assert pipeline_names()[0] == "New"
    assert as_admin.post(f"/settings/stages/{stages['New'].id}/move", {"direction": "sideways"}).status_code == 400


def test_a_reorder_that_does_not_name_every_stage_is_refused(as_admin, stages):
    before = pipeline_names()
    response = as_admin.post("/settings/stages/order", {"stage_ids": [str(stages["Won"].id)]}, htmx=True)
    assert response.status_code == 409 and "pipeline changed" in response.get_data(as_text=True)
    assert as_admin.post("/settings/stages/order", {"stage_ids": ["x"]}).status_code == 400
    assert pipeline_names() == before


@pytest.mark.parametrize("data, message", [
    ({"name": "", "colour": "#112233", "kind": "open"}, "Give the stage a name."),
    ({"name": "x" * 61, "colour": "#112233", "kind": "open"}, "60 characters"),
    ({"name": "Fine", "colour": "red", "kind": "open"}, "Pick a colour like"),
    ({"name": "Fine", "colour": "#112233", "kind": "maybe"}, "Not a valid choice"),
])
def test_bad_stage_input_is_shown_beside_the_field(as_admin, stages, data, message):
    response = as_admin.post("/settings/stages", data, htmx=True)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert len(pipeline_names()) == 6


def test_deleting_a_stage_with_leads_asks_where_they_go_then_moves_them_with_history(as_admin, stages, make_lead,
                                                                                     admin):
    leads = [make_lead(first_name=f"L{i}", stage="Qualified") for i in range(3)]
    page = as_admin.get(f"/settings/stages/{stages['Qualified'].id}/delete").get_data(as_text=True)
    assert "3 leads are in this stage" in page and "Move its leads to" in page
    response = as_admin.post(f"/settings/stages/{stages['Qualified'].id}/delete", {"move_to": ""})
    assert response.status_code == 422 and "Choose where to move them" in response.get_data(as_text=True)
    assert "Qualified" in pipeline_names()
    response = as_admin.post(f"/settings/stages/{stages['Qualified'].id}/delete",
                             {"move_to": str(stages["Contacted"].id)})
    assert response.status_code == 302 and "Qualified" not in pipeline_names()
    for lead in leads:
        db.session.refresh(lead)
        assert lead.stage_id == stages["Contacted"].id
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "stage_changed")).all()
    assert sorted(e.lead_id for e in entries) == sorted(lead.id for lead in leads)
    assert all(e.data == {"from": "Qualified", "to": "Contacted", "reason": "stage deleted"} and e.actor_id == admin.id
               for e in entries)


def test_an_empty_stage_deletes_without_a_target(as_admin, stages):
    assert as_admin.post(f"/settings/stages/{stages['Lost'].id}/delete", {}).status_code == 302
    assert "Lost" not in pipeline_names()


def test_the_last_open_stage_cannot_be_deleted_or_closed(as_admin, stages):
    for name in ("Contacted", "Qualified", "Appointment set"):
        assert as_admin.post(f"/settings/stages/{stages[name].id}/delete", {}).status_code == 302
    response = as_admin.post(f"/settings/stages/{stages['New'].id}/delete", {})
    assert response.status_code == 409 and "at least one open stage" in response.get_data(as_text=True)
    response = as_admin.post(f"/settings/stages/{stages['New'].id}", {"name": "New", "colour": "#112233",
                                                                     "kind": "won"}, htmx=True)
    assert response.status_code == 422 and "at least one open stage" in response.get_data(as_text=True)
    assert "New" in pipeline_names()


def test_deleting_into_a_stage_that_does_not_exist_is_refused(as_admin, stages, make_lead):
    lead = make_lead(stage="Won")
    response = as_admin.post(f"/settings/stages/{stages['Won'].id}/delete", {"move_to": "999999"})
    assert response.status_code == 422 and "Won" in pipeline_names()
    db.session.refresh(lead)
    assert lead.stage_id == stages["Won"].id


# --- users -----------------------------------------------------------------------------------


def test_roles_change_but_the_last_admin_stays_an_admin(as_admin, admin, member):
    assert as_admin.post(f"/settings/users/{member.id}/role", {"role": "admin"}).status_code == 302
    db.session.refresh(member)
    assert member.is_admin
    as_admin.post(f"/settings/users/{member.id}/role", {"role": "member"})
    response = as_admin.post(f"/settings/users/{admin.id}/role", {"role": "member"}, htmx=True)
    assert response.status_code == 422 and "at least one active admin" in response.get_data(as_text=True)
    response = as_admin.post(f"/settings/users/{admin.id}/deactivate", {"leads_to": "pool"})
    assert response.status_code == 422
    db.session.refresh(admin)
    assert admin.is_admin and admin.active


def test_a_reactivated_user_can_sign_in_again(as_admin, member, app):
    from tests.conftest import Web
    as_admin.post(f"/settings/users/{member.id}/deactivate")
    as_admin.post(f"/settings/users/{member.id}/reactivate")
    Web(app.test_client()).login(member)


def test_a_stage_name_already_in_use_is_refused_whatever_its_case(as_admin, stages):
    response = as_admin.post("/settings/stages", {"name": "qualified", "colour": "#112233", "kind": "open"},
                             htmx=True)
    assert response.status_code == 422 and "already a stage called qualified" in response.get_data(as_text=True)
    renamed = as_admin.post(f"/settings/stages/{stages['New'].id}", {"name": "WON ", "colour": "#112233",
                                                                     "kind": "open"}, htmx=True)
    assert renamed.status_code == 422
    names = [s.name for s in stage_service.pipeline()]
    assert names.count("Qualified") == 1 and "qualified" not in names and "New" in names


def test_a_taken_stage_name_is_refused_beside_the_name_field(as_admin, stages):
    response = as_admin.post("/settings/stages", {"name": "NEW", "colour": "#112233", "kind": "open"}, htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in page
    assert re.search(r'<input[^>]*aria-describedby="name-error"[^>]*aria-invalid="true"|'
                     r'<input[^>]*aria-invalid="true"[^>]*aria-describedby="name-error"', page)
    assert re.search(r'id="name-error"[^>]*>[^<]*There is already a stage called NEW', page)


def test_the_database_refuses_a_second_stage_of_the_same_name_in_another_case(app, stages):
    from sqlalchemy.exc import IntegrityError
    from app.models import Stage
    db.session.add(Stage(name="QUALIFIED", colour="#112233", position=99, kind="open"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_new_open_stage_goes_before_won_and_lost_and_a_closed_one_at_the_end(as_admin, stages):
    assert as_admin.post("/settings/stages", {"name": "Proposal", "colour": "#112233", "kind": "open"}).status_code == 302
    assert as_admin.post("/settings/stages", {"name": "Gone quiet", "colour": "#112233", "kind": "lost"}).status_code == 302
    db.session.expire_all()
    assert [s.name for s in stage_service.pipeline()] == [
        "New", "Contacted", "Qualified", "Appointment set", "Proposal", "Won", "Lost", "Gone quiet"]
    # After an admin dragged an open stage past the closed ones, a new open stage follows the last open one.
    order = [s.id for s in stage_service.pipeline()]
    stage_service.reorder([order[0], order[1], order[2], order[3], order[5], order[4], order[6], order[7]])
    stage_service.add_stage("Negotiation", "#112233")
    assert [s.name for s in stage_service.pipeline()] == [
        "New", "Contacted", "Qualified", "Appointment set", "Won", "Proposal", "Negotiation", "Lost", "Gone quiet"]


def test_deleting_a_stage_with_leads_picks_no_target_for_you(as_admin, make_lead, stages):
    lead = make_lead(stage="Contacted")
    page = as_admin.get(f"/settings/stages/{stages['Contacted'].id}/delete").get_data(as_text=True)
    picker = page[page.index('name="move_to"'):]
    first, second = re.findall(r"<option[^>]*>[^<]*", picker)[:2]
    assert 'value=""' in first and "Choose a stage" in first and "selected" not in second
    refused = as_admin.post(f"/settings/stages/{stages['Contacted'].id}/delete", {"move_to": ""})
    assert refused.status_code == 422
    db.session.refresh(lead)
    assert lead.stage_id == stages["Contacted"].id
