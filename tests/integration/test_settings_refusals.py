"""Refusals on the field, tag, scoring and assignment editors land beside what the admin was
using, with 422, never on the generic error page; after a save, the next page asks for focus on
the saved row."""
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AssignmentGroup
from app.services import assignment, scoring, tags as tag_service
from app.services import custom_fields as cf
from app.services.custom_fields import FieldSettings

GONE = 999_999


def refusal(response, list_id: str) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body[:300]
    found = re.search(rf'<p class="error" role="alert" id="{list_id}-refused"[^>]*>(.*?)</p>', body, re.S)
    assert found, body[:500]
    assert f'data-focus="{list_id}-refused"' in body
    return found.group(1)


@pytest.mark.parametrize("htmx", [True, False])
def test_editing_moving_or_deleting_a_field_deleted_meanwhile_is_said_on_the_list(as_admin, stages, htmx):
    kept = cf.create_field(FieldSettings("Budget", kind="money"))
    for url, data in ((f"/settings/fields/{GONE}", {"label": "Plan"}),
                      (f"/settings/fields/{GONE}/move", {"direction": "up"}),
                      (f"/settings/fields/{GONE}/delete", {})):
        response = as_admin.post(url, data, htmx=htmx)
        assert "no longer exists" in refusal(response, "field-list")
        body = response.get_data(as_text=True)
        assert "Budget" in body  # the current list, to carry on from
        if htmx:
            assert "<html" not in body and response.headers["HX-Retarget"] == "#field-list-wrap"
        else:
            assert "<html" in body
    assert cf.get_field(kept.id).label == "Budget"


def test_a_move_in_no_direction_is_said_on_the_list(as_admin, stages):
    custom = cf.create_field(FieldSettings("Budget", kind="money"))
    response = as_admin.post(f"/settings/fields/{custom.id}/move", {"direction": "sideways"}, htmx=True)
    assert "up or down" in refusal(response, "field-list")


def test_a_key_clash_is_refused_beside_the_key(as_admin, stages):
    cf.create_field(FieldSettings("Budget", key="budget", kind="money"))
    response = as_admin.post("/settings/fields", {"label": "Budget 2", "key": "budget", "kind": "text"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<p class="error" id="key-error">[^<]*already uses the key', body)


def test_saving_a_field_names_its_row_for_focus(as_admin, stages):
    response = as_admin.post("/settings/fields", {"label": "Budget", "kind": "money"}, htmx=True)
    custom = cf.fields_by_key()["budget"]
    assert response.headers["HX-Redirect"] == "/settings/fields"
    page = as_admin.get("/settings/fields").get_data(as_text=True)
    assert f'id="field-{custom.id}"' in page and f'<span data-focus="field-{custom.id}" hidden>' in page
    again = as_admin.get("/settings/fields").get_data(as_text=True)
    assert "data-focus" not in again  # asked once, by the page after the save


def test_scoring_rule_posts_on_a_deleted_rule_are_said_on_the_list(as_admin, stages):
    scoring.save_rule(None, label="business email", condition={"field": "email", "op": "is_not_free_mail"},
                      points=20)
    for url in (f"/settings/scoring/rules/{GONE}", f"/settings/scoring/rules/{GONE}/off",
                f"/settings/scoring/rules/{GONE}/delete"):
        response = as_admin.post(url, {"label": "x", "points": "5", "condition_field": "email",
                                       "condition_op": "is_free_mail"}, htmx=True)
        assert "no longer exists" in refusal(response, "scoring-rules")
        assert response.headers["HX-Retarget"] == "#scoring-rules"
        assert "business email" in response.get_data(as_text=True)


def test_assignment_posts_on_a_deleted_rule_or_group_are_said_on_the_list(as_admin, stages):
    for url, data in ((f"/settings/assignment/rules/{GONE}/enabled", {"enabled": "0"}),
                      (f"/settings/assignment/rules/{GONE}/move", {"direction": "up"}),
                      (f"/settings/assignment/rules/{GONE}/delete", {}),
                      (f"/settings/assignment/rules/{GONE}", {"name": "x", "target": "person"}),
                      (f"/settings/assignment/groups/{GONE}", {"group_name": "x"}),
                      (f"/settings/assignment/groups/{GONE}/delete", {})):
        response = as_admin.post(url, data, htmx=True)
        assert refusal(response, "rule-list"), url
        assert response.headers["HX-Retarget"] == "#rule-list-wrap"


def test_deleting_a_group_a_rule_uses_is_refused_beside_the_delete_button(as_admin, stages, make_user):
    ann = make_user("member", name="Ann", email="ann.rep@example.com")
    group = assignment.save_group(None, name="Sales", members={ann.id: 1})
    assignment.save_rule(None, name="Everyone → Sales", condition={}, target="round_robin", group_id=group.id)
    response = as_admin.post(f"/settings/assignment/groups/{group.id}/delete")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'aria-describedby="delete-group-error"', body)
    assert re.search(r'<p class="error" id="delete-group-error" role="alert">[^<]*Everyone → Sales', body)
    assert db.session.scalar(select(AssignmentGroup.id).where(AssignmentGroup.id == group.id)) == group.id


def test_tag_posts_on_a_deleted_tag_are_said_on_the_list(as_admin, stages, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, ["vip"], None)
    for url in (f"/settings/tags/{GONE}", f"/settings/tags/{GONE}/delete"):
        response = as_admin.post(url, {f"tag{GONE}-name": "x"}, htmx=True)
        assert refusal(response, "tag-list")
        assert response.headers["HX-Retarget"] == "#tag-list"
        assert "vip" in response.get_data(as_text=True)


def test_a_renamed_tag_row_asks_for_focus_on_its_name(as_admin, stages, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, ["vip"], None)
    tag = tag_service.find_tag("vip")
    response = as_admin.post(f"/settings/tags/{tag.id}", {f"tag{tag.id}-name": "VIP customer"}, htmx=True)
    assert response.status_code == 200
    assert f'data-focus="tag{tag.id}-name"' in response.get_data(as_text=True)


def test_a_stale_edit_page_is_still_a_404(as_admin, stages):
    assert as_admin.get(f"/settings/fields/{GONE}/edit").status_code == 404
