"""Renaming a custom field's key keeps everything that names it working: scoring and assignment
rules, CSV import mappings, held form submissions and undoable merges are rewritten in the
rename's transaction."""
import io
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AssignmentRule, HeldSubmission, Lead, LeadImport, ScoringRule
from app.services import assignment, atomic, capture_forms as form_service, held_submissions, scoring
from app.services import custom_fields as cf
from app.services.capture import capture_lead
from app.services.custom_fields import FieldSettings
from app.services.imports import create_import
from app.services.merge import merge_leads, undo_merge


@pytest.fixture
def plan(app, stages):
    return cf.create_field(FieldSettings("Plan", key="plan", kind="choice", choices=["Basic", "Pro"]))


def rename(field, admin, key="subscription"):
    return cf.update_field(field.id, FieldSettings("Subscription", key=key, choices=["Basic", "Pro"]), admin.id)


def test_a_scoring_rule_on_a_renamed_field_still_fires_in_capture_and_in_the_tester(plan, admin):
    rule = scoring.save_rule(None, label="pays for Pro", condition={"field": "custom.plan", "op": "equals",
                                                                    "value": "Pro"}, points=20)
    rename(plan, admin)
    db.session.expire_all()
    assert db.session.get(ScoringRule, rule.id).condition == {"field": "custom.subscription", "op": "equals",
                                                             "value": "Pro"}
    lead = capture_lead({"first_name": "Ann", "email": "ann@example.com", "custom": {"subscription": "pro"}},
                        via="api").lead
    assert lead.score == 20 and scoring.reasons_text(lead.score_reasons) == "+20 pays for Pro"
    _, verdicts, total = scoring.try_lead(lead.id)
    assert total == 20 and [v.fired for v in verdicts] == [True] and not verdicts[0].broken


def test_renaming_back_and_forth_leaves_other_fields_rules_alone(plan, admin):
    other = cf.create_field(FieldSettings("Seats", key="seats", kind="number"))
    on_seats = scoring.save_rule(None, label="big team", condition={"field": "custom.seats", "op": "gt",
                                                                   "value": "10"}, points=5)
    rename(plan, admin)
    rename(plan, admin, key="plan")
    db.session.expire_all()
    assert db.session.get(ScoringRule, on_seats.id).condition["field"] == "custom.seats"
    assert cf.get_field(other.id).key == "seats"


def test_an_assignment_rule_on_a_renamed_field_still_routes_and_the_tester_agrees(plan, admin, make_user):
    ann = make_user("member", name="Ann", email="ann.rep@example.com")
    rule = assignment.save_rule(None, name="Pro → Ann", condition={"field": "custom.plan", "op": "equals",
                                                                   "value": "Pro"}, target="person", user_id=ann.id)
    rename(plan, admin)
    db.session.expire_all()
    assert db.session.get(AssignmentRule, rule.id).condition["field"] == "custom.subscription"
    lead = capture_lead({"first_name": "Bo", "email": "bo@example.com", "custom": {"subscription": "Pro"}},
                        via="api").lead
    assert lead.owner_id == ann.id
    _, winner = assignment.try_lead(lead)
    assert winner is not None and winner.rule.id == rule.id
    assert assignment.rule_problem(db.session.get(AssignmentRule, rule.id)) is None


def test_an_import_mapped_to_the_old_key_maps_to_the_new_one(plan, admin):
    imp = create_import(io.BytesIO(b"Email,Plan\nann@example.com,Pro\n"), "people.csv", admin.id)
    assert "custom:plan" in imp.mapping.values()
    rename(plan, admin)
    db.session.expire_all()
    mapping = db.session.get(LeadImport, imp.id).mapping
    assert "custom:subscription" in mapping.values() and "custom:plan" not in mapping.values()


def test_a_held_submission_keeps_its_value_under_the_new_key_and_releases_with_it(plan, admin):
    form = form_service.create_form(form_service.FormSettings(
        name="Contact", fields={"first_name": "required", "email": "required"},
        custom_fields={plan.id: "required"}))
    held = held_submissions.hold(form.id, {"first_name": "Cy", "email": "cy@example.com", "custom_plan": "Pro",
                                           "rendered": form_service.rendered_token(form.id, time.time())})
    rename(plan, admin)
    db.session.expire_all()
    assert db.session.get(HeldSubmission, held.id).values["custom"] == {"subscription": "Pro"}
    captured = held_submissions.release(form.id, held.id)
    assert cf.values_for([captured.lead.id])[captured.lead.id] == {"subscription": "Pro"}


def test_undoing_a_merge_after_a_rename_gives_the_value_back(plan, admin, make_lead):
    survivor, loser = make_lead(email="a@example.com"), make_lead(email="b@example.com")
    with atomic():
        cf.set_values(loser, cf.check_values({"plan": "Pro"}, partial=True), admin.id)
    merge = merge_leads(survivor.id, loser.id, {}, admin.id)
    rename(plan, admin)
    undo_merge(merge.id, admin.id)
    restored = db.session.scalar(select(Lead.id).where(Lead.email == "b@example.com"))
    assert cf.values_for([restored])[restored] == {"subscription": "Pro"}
