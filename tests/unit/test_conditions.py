"""The condition engine without a database: checking what admins type, and answering for facts."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from app.services import ServiceError
from app.services import conditions as c

NOW = datetime(2026, 6, 1, 12, 0)
KNOWN = {s.key: s for s in (*c.BUILTIN, *c.EVENTS)}
KNOWN["stage"] = c.FieldSpec("stage", "Stage", "choice", ((1, "New"), (2, "Qualified"), (3, "Won")))
KNOWN["event.stage_reached"] = c.FieldSpec("event.stage_reached", "Stage reached", "stage",
                                           ((1, "New"), (2, "Qualified"), (3, "Won")))
KNOWN["custom.budget"] = c.FieldSpec("custom.budget", "Budget", "number")


def facts(**over):
    base = {"now": NOW, "stage_positions": {1: 0, 2: 1, 3: 2}, "email": "ann@acme.example", "company": "Acme",
            "value": Decimal("2500.00"), "tags": {"vip", "expo"}, "stage": 2, "event.stage_reached": 2,
            "event.idle": NOW - timedelta(days=3), "event.appointment_confirmed": None,
            "event.submitted_again": NOW - timedelta(days=2), "created_at": NOW - timedelta(days=40)}
    return {**base, **over}


def ok(field, op, value=None):
    return c.check({"field": field, "op": op, "value": value}, known=KNOWN)


def test_free_mail_list_knows_the_big_providers_and_not_a_company():
    assert c.is_free_mail("Someone@GMAIL.com") and c.is_free_mail("x@yahoo.com")
    assert not c.is_free_mail("ann@acme.example") and not c.is_free_mail(None) and not c.is_free_mail("")


def test_email_is_a_free_mail_address_fires_only_for_free_mail():
    cond = ok("email", "is_free_mail", "ignored")
    assert cond == {"field": "email", "op": "is_free_mail", "value": None}
    assert c.matches(cond, facts(email="bob@gmail.com"))
    assert not c.matches(cond, facts())
    assert not c.matches(cond, facts(email=None))
    assert c.describe(cond, KNOWN) == "Email is a free-mail address"
    assert "gmail.com is on the free-mail list" in c.explain(cond, facts(email="bob@gmail.com"), KNOWN)


def test_text_comparisons_ignore_case_and_spaces():
    assert c.matches(ok("company", "equals", " ACME "), facts())
    assert c.matches(ok("company", "contains", "cm"), facts())
    assert c.matches(ok("company", "not_contains", "globex"), facts())
    assert c.matches(ok("company", "in_list", "Globex, acme"), facts())
    assert not c.matches(ok("company", "not_in_list", ["acme"]), facts())
    assert c.matches(ok("job_title", "is_empty"), facts())
    assert not c.matches(ok("company", "is_empty"), facts(company="Acme"))


def test_number_comparisons():
    assert c.matches(ok("value", "gte", "2500"), facts())
    assert not c.matches(ok("value", "gt", "2500"), facts())
    assert c.matches(ok("value", "lt", "1e4"), facts())
    assert c.matches(ok("value", "equals", "2500"), facts())
    assert not c.matches(ok("value", "gt", "0"), facts(value=None))


def test_dates_before_after_and_within_days():
    assert c.matches(ok("created_at", "before", "2026-05-01"), facts())
    assert not c.matches(ok("created_at", "after", "2026-05-01"), facts())
    assert c.matches(ok("created_at", "older_than_days", "30"), facts())
    assert not c.matches(ok("created_at", "within_days", "30"), facts())


def test_events_and_when_they_stop_counting():
    recent = ok("event.submitted_again", "happened_within_days", "7")
    assert c.matches(recent, facts())
    assert c.changes_at(recent, facts()) == NOW - timedelta(days=2) + timedelta(days=7)
    assert not c.matches(ok("event.appointment_confirmed", "happened"), facts())
    assert c.matches(ok("event.appointment_confirmed", "not_happened"), facts())


def test_no_activity_for_n_days_fires_once_the_lead_is_idle_that_long():
    idle = ok("event.idle", "at_least_days", "14")
    assert not c.matches(idle, facts())
    assert c.changes_at(idle, facts()) == NOW - timedelta(days=3) + timedelta(days=14)
    assert c.matches(idle, facts(**{"event.idle": NOW - timedelta(days=15)}))
    assert c.describe(idle, KNOWN) == "No activity for at least 14 days"


def test_a_stage_reached_counts_later_stages_too_and_takes_the_stage_by_name():
    cond = ok("event.stage_reached", "reached", "qualified")
    assert cond["value"] == 2
    assert c.matches(cond, facts(**{"event.stage_reached": 3}))
    assert not c.matches(cond, facts(**{"event.stage_reached": 1}))
    assert c.describe(cond, KNOWN) == "Reached stage “Qualified”"


def test_tags_match_any_case():
    assert c.matches(ok("tags", "contains", "VIP"), facts())
    assert c.matches(ok("tags", "in_list", "cold, expo"), facts())
    assert c.matches(ok("tags", "is_empty"), facts(tags=set()))


@pytest.mark.parametrize("raw, field", [
    ({}, "condition_field"),
    ({"field": "shoe_size", "op": "equals", "value": "9"}, "condition_field"),
    ({"field": "custom.gone", "op": "equals", "value": "x"}, "condition_field"),
    ({"field": "email", "op": "gt", "value": "3"}, "condition_op"),
    ({"field": "company", "op": "equals", "value": "  "}, "condition_value"),
    ({"field": "value", "op": "gt", "value": "lots"}, "condition_value"),
    ({"field": "value", "op": "gt", "value": "NaN"}, "condition_value"),
    ({"field": "created_at", "op": "before", "value": "31/01/2026"}, "condition_value"),
    ({"field": "event.idle", "op": "at_least_days", "value": "0"}, "condition_value"),
    ({"field": "event.idle", "op": "at_least_days", "value": "99999"}, "condition_value"),
    ({"field": "stage", "op": "equals", "value": "Nowhere"}, "condition_value"),
    ({"field": "company", "op": "in_list", "value": ",".join(str(n) for n in range(101))}, "condition_value"),
    ({"field": "company", "op": "contains", "value": "x" * 201}, "condition_value"),
])
def test_bad_conditions_are_refused_beside_the_right_control(raw, field):
    with pytest.raises(ServiceError) as exc:
        c.check(raw, known=KNOWN)
    assert exc.value.field == field and exc.value.message


def test_a_condition_on_a_deleted_custom_field_is_broken_not_an_error():
    cond = {"field": "custom.budget", "op": "gt", "value": "100"}
    assert c.broken(cond, KNOWN) is None
    without = {k: v for k, v in KNOWN.items() if k != "custom.budget"}
    assert "deleted" in c.broken(cond, without)
    assert c.explain(cond, facts(), without).startswith("Skipped:")
