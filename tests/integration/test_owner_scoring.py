"""A lead routed to an owner in its capture is scored with that owner: a scoring rule on the owner
counts in the same transaction, and a capture whose rules never name the owner is scored once."""

from app.extensions import db
from app.models import Lead
from app.services import assignment, scoring
from app.services.capture import capture_lead


def test_a_rule_on_the_owner_counts_once_routing_has_given_the_lead_one(stages, make_user):
    ann = make_user("member", name="Ann", email="ann.rep@example.com")
    scoring.save_rule(None, label="Ann's lead", condition={"field": "owner", "op": "equals", "value": ann.id},
                      points=30)
    scoring.save_rule(None, label="no owner yet", condition={"field": "owner", "op": "is_empty"}, points=-5)
    assignment.save_rule(None, name="All → Ann", condition={}, target="person", user_id=ann.id)
    captured = capture_lead({"first_name": "Bo", "email": "bo@example.com"}, via="api")
    db.session.expire_all()
    lead = db.session.get(Lead, captured.lead.id)
    assert lead.owner_id == ann.id
    assert lead.score == 30 and scoring.reasons_text(lead.score_reasons) == "+30 Ann's lead"


def test_without_a_rule_on_the_owner_a_routed_capture_is_scored_once(stages, make_user):
    ann = make_user("member", name="Ann", email="ann.rep@example.com")
    scoring.save_rule(None, label="has a company", condition={"field": "company", "op": "is_not_empty"}, points=5)
    assignment.save_rule(None, name="All → Ann", condition={}, target="person", user_id=ann.id)
    assert not scoring.rules_read("owner")
    lead = capture_lead({"first_name": "Bo", "email": "bo@example.com", "company": "Acme"}, via="api").lead
    assert (lead.owner_id, lead.score) == (ann.id, 5)
