"""/settings/assignment: admins add, edit, reorder, switch and delete rules and groups; bad input is
refused beside its control; the tester and the history say what would happen and what did."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AssignmentGroup, AssignmentRule, Lead
from app.services import assignment
from app.services.capture import capture_lead


@pytest.fixture
def people(make_user):
    return [make_user("member", name=name, email=f"{name.lower()}@example.com") for name in ("Ann", "Ben")]


@pytest.fixture
def group(people):
    return assignment.save_group(None, name="Sales DACH", members={p.id: 1 for p in people})


def rule_data(**changes) -> dict:
    return {"name": "Germany → sales DACH", "condition_field": "country", "condition_op": "equals",
            "condition_value": "DE", "target": "round_robin", "user": "", "group": "", "cap": "", **changes}


def error(body: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', body)
    return found.group(1) if found else ""


@pytest.mark.parametrize("method, url", [("get", "/settings/assignment"), ("post", "/settings/assignment/rules"),
                                         ("post", "/settings/assignment/groups"),
                                         ("get", "/settings/assignment/try")])
def test_members_cannot_reach_the_assignment_settings(as_member, stages, method, url):
    response = getattr(as_member, method)(url)
    assert response.status_code == 403


def test_the_empty_page_says_what_to_do_next(as_admin, stages):
    page = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert "No rules yet, so every new lead waits in the pool" in page
    assert "No groups yet" in page and "No lead has been assigned by a rule since Monday" in page


def test_an_admin_adds_a_group_and_a_rule_that_then_routes_leads(as_admin, stages, people):
    response = as_admin.post("/settings/assignment/groups", {
        "group_name": "Sales DACH", "members-0-user_id": str(people[0].id), "members-0-include": "y",
        "members-0-weight": "2", "members-1-user_id": str(people[1].id), "members-1-include": "y",
        "members-1-weight": "1"})
    assert response.status_code == 302
    saved = db.session.scalar(select(AssignmentGroup))
    assert saved.name == "Sales DACH" and {(m.user_id, m.weight) for m in saved.members} == {
        (people[0].id, 2), (people[1].id, 1)}
    response = as_admin.post("/settings/assignment/rules", rule_data(target="weighted", group=str(saved.id),
                                                                     cap="25"))
    assert response.status_code == 302
    rule = db.session.scalar(select(AssignmentRule))
    assert (rule.name, rule.condition, rule.target, rule.group_id, rule.cap) == (
        "Germany → sales DACH", {"field": "country", "op": "equals", "value": "DE"}, "weighted", saved.id, 25)
    page = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert "Country is “Germany” → weighted round-robin over Sales DACH, at most 25 open leads each" in page


def test_a_rule_without_a_condition_takes_every_lead(as_admin, stages, people):
    response = as_admin.post("/settings/assignment/rules", rule_data(
        name="Catch-all", condition_field="", condition_op="", condition_value="", target="person",
        user=str(people[1].id)))
    assert response.status_code == 302
    assert db.session.scalar(select(AssignmentRule.condition)) == {}
    assert "Every lead → Ben" in as_admin.get("/settings/assignment").get_data(as_text=True)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "Give the rule a name."),
    ({"condition_op": "gt"}, "condition_op", "can be checked with"),
    ({"condition_field": "source", "condition_value": ""}, "condition_value", "Enter a value"),
    ({"condition_field": "custom.deleted"}, "condition_field", "custom field was deleted"),
    ({"target": "person"}, "user", "Choose the person"),
    ({"target": "round_robin"}, "group", "Choose the group"),
    ({"cap": "0"}, "cap", "from 1 to"),
    ({"cap": "-3"}, "cap", "from 1 to"),
    ({"cap": "lots"}, "cap", "whole number"),
])
def test_bad_rules_are_refused_beside_the_control(as_admin, stages, changes, field, message):
    response = as_admin.post("/settings/assignment/rules", rule_data(**changes), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert message in error(body, field), body
    assert 'aria-invalid="true"' in body
    assert db.session.scalar(select(func.count()).select_from(AssignmentRule)) == 0


def test_a_group_that_has_nobody_in_it_is_refused_for_a_rule(as_admin, stages, group):
    from app.models import AssignmentGroupMember
    db.session.execute(AssignmentGroupMember.__table__.delete())
    db.session.commit()
    response = as_admin.post("/settings/assignment/rules", rule_data(group=str(group.id)), htmx=True)
    assert response.status_code == 422 and "has nobody in it" in error(response.get_data(as_text=True), "group")


def test_the_hundred_and_first_rule_is_refused(as_admin, stages, people):
    for n in range(assignment.MAX_RULES):
        db.session.add(AssignmentRule(name=f"R{n}", position=n, enabled=True, condition={}, target="person",
                                      user_id=people[0].id, created_at=datetime(2026, 1, 1)))
    db.session.commit()
    response = as_admin.post("/settings/assignment/rules", rule_data(target="person", user=str(people[0].id)),
                             htmx=True)
    assert response.status_code == 422 and "already 100 rules" in error(response.get_data(as_text=True), "name")


@pytest.mark.parametrize("data, field_id, message", [
    ({"group_name": "Empty"}, "members", "Pick at least one member"),
    ({"group_name": "", "members-0-include": "y"}, "group_name", "Give the group a name."),
    ({"group_name": "Zero", "members-0-include": "y", "members-0-weight": "0"}, r"members-\d+-weight", "from 1 to 100"),
    ({"group_name": "Minus", "members-0-include": "y", "members-0-weight": "-2"}, r"members-\d+-weight", "from 1 to 100"),
    ({"group_name": "Text", "members-0-include": "y", "members-0-weight": "lots"}, r"members-\d+-weight", "from 1 to 100"),
])
def test_bad_groups_are_refused_beside_the_control(as_admin, stages, people, data, field_id, message):
    data = {"members-0-user_id": str(people[0].id), "members-0-weight": "1", **data}
    response = as_admin.post("/settings/assignment/groups", data, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert message in error(body, field_id), body
    assert db.session.scalar(select(func.count()).select_from(AssignmentGroup)) == 0


def test_a_group_name_in_use_is_refused_and_a_group_in_use_cannot_be_deleted(as_admin, stages, group, people):
    response = as_admin.post("/settings/assignment/groups", {
        "group_name": "sales dach", "members-0-user_id": str(people[0].id), "members-0-include": "y",
        "members-0-weight": "1"}, htmx=True)
    assert "already a group called" in error(response.get_data(as_text=True), "group_name")
    assignment.save_rule(None, name="DACH", condition={}, target="round_robin", group_id=group.id)
    response = as_admin.post(f"/settings/assignment/groups/{group.id}/delete")
    # Said beside the delete button (422), not on the error page.
    assert response.status_code == 422 and re.search(r'id="delete-group-error" role="alert">[^<]*used by the rule DACH',
                                                     response.get_data(as_text=True))
    assert db.session.get(AssignmentGroup, group.id) is not None


def test_rules_are_reordered_switched_edited_and_deleted(as_admin, stages, group, people):
    first = assignment.save_rule(None, name="First", condition={}, target="person", user_id=people[0].id)
    second = assignment.save_rule(None, name="Second", condition={}, target="round_robin", group_id=group.id)
    response = as_admin.post(f"/settings/assignment/rules/{second.id}/move", {"direction": "up"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Moved Second up." in body
    assert [r.name for r in assignment.rules()] == ["Second", "First"]
    response = as_admin.post(f"/settings/assignment/rules/{first.id}/enabled", {"enabled": "0"}, htmx=True)
    assert "Turned First off." in response.get_data(as_text=True)
    assert db.session.get(AssignmentRule, first.id).enabled is False
    edit = as_admin.get(f"/settings/assignment/rules/{second.id}").get_data(as_text=True)
    assert 'value="Second"' in edit
    response = as_admin.post(f"/settings/assignment/rules/{second.id}", rule_data(
        name="Second, renamed", group=str(group.id), target="least_loaded", cap="5"))
    assert response.status_code == 302
    saved = db.session.get(AssignmentRule, second.id)
    assert (saved.name, saved.target, saved.cap) == ("Second, renamed", "least_loaded", 5)
    assert as_admin.post(f"/settings/assignment/rules/{first.id}/delete").status_code == 302
    assert [r.name for r in assignment.rules()] == ["Second, renamed"]


def test_a_broken_rule_says_why_on_the_page(as_admin, stages, group):
    from app.models import AssignmentGroupMember
    assignment.save_rule(None, name="DACH", condition={}, target="round_robin", group_id=group.id)
    db.session.execute(AssignmentGroupMember.__table__.delete())
    db.session.commit()
    capture_lead({"first_name": "Grace", "email": "grace@example.com"}, via="test")
    page = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert "its group Sales DACH has nobody in it. Edit the rule to fix it." in page


def test_the_tester_shows_each_rules_answer_and_the_outcome_without_assigning(as_admin, stages, group, people,
                                                                              make_lead):
    assignment.save_rule(None, name="Germany", condition={"field": "country", "op": "equals", "value": "DE"},
                         target="person", user_id=people[1].id)
    assignment.save_rule(None, name="Everyone", condition={}, target="round_robin", group_id=group.id)
    response = as_admin.get("/settings/assignment/try?country=de&email=x%40example.com", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "<strong>Ben</strong> would get this lead, by the rule “Germany”" in body
    assert "Not reached: an earlier rule takes the lead." in body
    response = as_admin.get("/settings/assignment/try?country=FR", htmx=True)
    assert "<strong>Ann</strong> would get this lead, by the rule “Everyone”" in response.get_data(as_text=True)
    assert "Does not fire" in response.get_data(as_text=True)
    lead = make_lead(email="grace@example.com", first_name="Grace")
    body = as_admin.get("/settings/assignment/try?lead_email=Grace%40Example.com", htmx=True).get_data(as_text=True)
    assert "would get Grace Lead" in body
    assert db.session.get(Lead, lead.id).owner_id is None  # the tester assigns nothing
    missing = as_admin.get("/settings/assignment/try?lead_email=nobody%40example.com", htmx=True)
    assert missing.status_code == 422 and "No lead has that email" in error(missing.get_data(as_text=True),
                                                                            "lead_email")
    named = as_admin.get("/settings/assignment/try?country=Germany", htmx=True).get_data(as_text=True)
    assert "by the rule “Germany”" in named
    nowhere = as_admin.get("/settings/assignment/try?country=Atlantis", htmx=True)
    assert nowhere.status_code == 422 and error(nowhere.get_data(as_text=True), "country")


def test_the_history_shows_leads_per_rule_and_member_this_week(as_admin, stages, group):
    assignment.save_rule(None, name="Everyone", condition={}, target="round_robin", group_id=group.id)
    for n in range(3):
        capture_lead({"first_name": f"L{n}", "email": f"l{n}@example.com"}, via="test")
    page = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert re.search(r"<td[^>]*>Everyone</td>\s*<td[^>]*>Ann: 2, Ben: 1</td>\s*<td class=\"num\"[^>]*>3</td>", page)


def test_editing_a_group_changes_its_members_and_clears_its_rules_broken_flag(as_admin, stages, group, people):
    rule = assignment.save_rule(None, name="DACH", condition={}, target="round_robin", group_id=group.id)
    db.session.get(AssignmentRule, rule.id).broken_since = datetime(2026, 1, 1)
    db.session.commit()
    page = as_admin.get(f"/settings/assignment/groups/{group.id}").get_data(as_text=True)
    assert 'value="Sales DACH"' in page and page.count("checked") == 2
    data = {"group_name": "Sales DACH"}
    offered = re.findall(r'name="members-(\d+)-user_id" type="hidden" value="(\d+)"', page)
    assert {int(user_id) for _, user_id in offered} >= {p.id for p in people}
    for n, user_id in offered:
        data[f"members-{n}-user_id"], data[f"members-{n}-weight"] = user_id, "3"
        if int(user_id) == people[1].id:
            data[f"members-{n}-include"] = "y"
    assert as_admin.post(f"/settings/assignment/groups/{group.id}", data).status_code == 302
    saved = db.session.get(AssignmentGroup, group.id)
    assert [(m.user_id, m.weight) for m in saved.members] == [(people[1].id, 3)]
    assert db.session.get(AssignmentRule, rule.id).broken_since is None


def test_editing_a_rule_shows_its_person_and_group_chosen(as_admin, stages, group, people):
    to_ann = assignment.save_rule(None, name="To Ann", condition={}, target="person", user_id=people[0].id)
    to_group = assignment.save_rule(None, name="To the group", condition={}, target="round_robin", group_id=group.id)
    ann = as_admin.get(f"/settings/assignment/rules/{to_ann.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{people[0].id}">Ann</option>|<option value="{people[0].id}" selected>Ann',
                     ann), ann
    grouped = as_admin.get(f"/settings/assignment/rules/{to_group.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{group.id}">Sales DACH</option>|<option value="{group.id}" selected>',
                     grouped)
