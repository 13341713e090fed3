"""The OpenAPI document stays true: schemathesis generates valid and invalid requests from it, sends
them to the app in-process (WSGI) with a working key, and checks every answer against it.

Every built-in check runs: no 5xx, documented status codes, content types, headers and bodies,
401 without or with a wrong key, 405 with Allow for undocumented methods, invalid input refused
(4xx) and valid input accepted. "Valid" here means valid by the document; a schema-valid request
the domain still refuses (an email address that cannot be delivered, a phone number that cannot
exist, a stage id that names no stage) gets a documented 422, so 422 counts as an acceptable
answer to valid input."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from app.api.openapi import document
from app.extensions import db
from app.services import utcnow
from app.services.api_keys import create_key
from app.services.appointment_emails import link_token
from app.services.appointments import answer, book_appointment, cancel_appointment
from app.services.leads import create_lead
from app.services.stages import ensure_default_pipeline
from app.services.users import create_user

EXAMPLES_PER_OPERATION = 30

# The document in the code (the target fixture checks the app serves exactly this one). Loading it
# from the app per test with schemathesis.pytest.from_fixture would be neater, but that loader sets
# pytest's private Node._nodeid, which pytest 9 no longer has; so tests are collected from the
# document and each one points its WSGI calls at its own app (one per database).
schema = schemathesis.openapi.from_dict(document())
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)
schema.config.checks.update(included_check_names=["all"])
schema.config.checks.positive_data_acceptance.expected_statuses = ["2xx", "401", "404", "409", "422", "429"]


@dataclass
class Target:
    app: Flask
    secret: str


@pytest.fixture
def target(make_app):
    app = make_app()
    with app.app_context():
        stages = ensure_default_pipeline()
        owner = create_user("owner@example.com", "correct horse battery staple", "member", "Olive Owner")
        # A few leads, so generated ids and filters sometimes find something.
        for n in range(1, 6):
            lead = create_lead({"first_name": f"Lead{n}", "email": f"lead{n}@example.com"}, None,
                               stage_id=stages[n % len(stages)].id, owner_id=owner.id if n % 2 else None)
            # ...and appointments in each state, so generated appointment ids sometimes find one.
            appointment = book_appointment(lead.id, None, starts_at=utcnow().replace(tzinfo=timezone.utc)
                                           + timedelta(days=n), duration_minutes=30)
            if n == 2:
                cancel_appointment(appointment.id, None)
            elif n in (3, 4):
                action = "confirm" if n == 3 else "reschedule"
                answer(link_token(appointment, action), action)
        secret = create_key("schemathesis")[1]
        served = app.test_client().get("/api/v1/openapi.json").get_json()
        db.session.remove()
    assert served == document()
    return Target(app, secret)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_every_answer_matches_the_openapi_document(case, target):
    # In-process WSGI calls (and the checks' follow-up probes) go to this test's app and database.
    case.operation.app = case.operation.schema.app = target.app
    case.call_and_validate(headers={"Authorization": f"Bearer {target.secret}"})

