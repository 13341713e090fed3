"""Nurture sequences from the lead's side: the lead page's panel (enrol, refusals beside the select,
stop), a logged reply stopping them, the pool's bulk enrolment of the selected leads, and enrolling
everything the pool's filters match as a job that resumes where a killed worker left it."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import SequenceBulkRun, SequenceEnrolment, TimelineEntry
from app.services import ServiceError, email_templates, sequence_bulk, sequences, utcnow
from app.services.lead_queries import PoolFilters
from app.services.sequences import StepSettings
from app.services.suppression import suppress
from tests.conftest import Web


@pytest.fixture
def template(app):
    made = email_templates.create_template(email_templates.TemplateSettings(
        name="Check in", subject="Still thinking?", body_html="<p>Hi {{ lead.first_name }}</p>"))
    db.session.commit()
    return made


@pytest.fixture
def running(template):
    sequence = sequences.create_sequence("Warm up")
    sequences.add_step(sequence.id, StepSettings(template_id=template.id, delay_days=2))
    sequences.start(sequence.id)
    return sequence


def _current(lead_id: int) -> list[SequenceEnrolment]:
    db.session.expire_all()
    return list(db.session.scalars(select(SequenceEnrolment).where(
        SequenceEnrolment.lead_id == lead_id, SequenceEnrolment.ended_at.is_(None))))


def _error(body: str, field: str = "enrol-sequence") -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', body)
    return found.group(1) if found else ""


# --- the lead page ------------------------------------------------------------------------------


def test_enrolling_from_the_lead_page_swaps_the_panel_with_the_next_step(as_member, member, make_lead, running):
    lead = make_lead(email="lou@example.com")
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Not in any sequence." in page and f'<option value="{running.id}">Warm up</option>' in page

    reply = as_member.post(f"/leads/{lead.id}/sequences", {"sequence_id": str(running.id)}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in body
    [enrolment] = _current(lead.id)
    assert (enrolment.sequence_id, enrolment.enrolled_by_id, enrolment.how) == (running.id, member.id, "hand")
    panel = body.split('id="lead-sequences"')[1]
    assert "Warm up" in panel and "Next: Email: Check in" in panel and "Not in any sequence" not in panel
    assert f"/leads/{lead.id}/sequences/{enrolment.id}/stop" in panel
    assert 'id="timeline"' in body and 'hx-swap-oob="true"' in body and "Enrolled Lena Lead in “Warm up”." in body


@pytest.mark.parametrize("case", ["draft", "twice", "refused_address", "garbage", "empty", "gone"])
def test_a_refused_enrolment_says_why_beside_the_select(as_member, make_lead, running, case):
    lead = make_lead(email="nope@example.com")
    chosen = str(running.id)
    if case == "draft":
        chosen = str(sequences.create_sequence("Not yet").id)
    elif case == "twice":
        sequences.enrol(lead.id, running.id, None)
    elif case == "refused_address":
        suppress("nope@example.com", "admin")
    elif case == "gone":
        chosen = "2147483000"
    db.session.commit()
    before = len(_current(lead.id))
    sent = {"garbage": "abc", "empty": ""}.get(case, chosen)
    reply = as_member.post(f"/leads/{lead.id}/sequences", {"sequence_id": sent}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 422 and "<html" not in body
    expected = {"draft": "is not started yet", "twice": "already in “Warm up”", "refused_address": "does not take our emails",
                "garbage": "Choose one of the sequences", "empty": "Choose a sequence first", "gone": "no longer exists"}
    assert expected[case] in _error(body) and 'aria-invalid="true"' in body
    assert len(_current(lead.id)) == before
    if case == "twice":  # without JavaScript: the whole page, the message beside the select
        page = as_member.post(f"/leads/{lead.id}/sequences", {"sequence_id": sent})
        assert page.status_code == 422 and "<html" in page.get_data(as_text=True)
        assert "already in" in _error(page.get_data(as_text=True))


def test_stopping_an_enrolment_ends_it_by_hand_and_shows_the_outcome(as_member, member, make_lead, running):
    lead = make_lead(email="stop@example.com")
    other = make_lead(email="other@example.com")
    enrolment = sequences.enrol(lead.id, running.id, None)
    theirs = sequences.enrol(other.id, running.id, None)
    db.session.commit()
    wrong = as_member.post(f"/leads/{lead.id}/sequences/{theirs.id}/stop", htmx=True)
    assert wrong.status_code == 404 and len(_current(other.id)) == 1

    reply = as_member.post(f"/leads/{lead.id}/sequences/{enrolment.id}/stop", htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in body
    db.session.expire_all()
    stopped = db.session.get(SequenceEnrolment, enrolment.id)
    assert (stopped.status, stopped.stop_reason) == ("stopped", "manual")
    assert "Not in any sequence." in body and "Stopped: by hand" in body
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                           TimelineEntry.kind == "sequence_stopped")).one()
    assert entry.actor_id == member.id
    again = as_member.post(f"/leads/{lead.id}/sequences/{enrolment.id}/stop", htmx=True)
    assert again.status_code == 409 and "already ended" in again.get_data(as_text=True)
    plain = as_member.post(f"/leads/{other.id}/sequences/{theirs.id}/stop")
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/leads/{other.id}#lead-sequences")
    assert _current(other.id) == []


def test_with_no_running_sequence_an_admin_is_pointed_to_settings_and_a_member_is_told(
        app, web, admin, member, make_lead, template):
    lead = make_lead()
    sequences.create_sequence("Still a draft")
    db.session.commit()
    web.login(admin)
    page = web.get(f"/leads/{lead.id}").get_data(as_text=True)
    panel = page.split('id="lead-sequences"')[1].split("</section>")[0]
    assert "Not in any sequence." in panel and 'href="/settings/sequences"' in panel and "<select" not in panel
    as_member = Web(app.test_client())
    as_member.login(member)
    panel = as_member.get(f"/leads/{lead.id}").get_data(as_text=True).split('id="lead-sequences"')[1].split("</section>")[0]
    assert "an admin sets them up" in panel and "/settings/sequences" not in panel


def test_the_panel_costs_the_same_whatever_the_lead_s_history(as_member, make_lead, running, template, count_queries):
    other = sequences.create_sequence("Other", stop_on_other=False)
    sequences.add_step(other.id, StepSettings(template_id=template.id))
    sequences.start(other.id)
    fresh, long = make_lead(email="a@example.com"), make_lead(email="b@example.com")
    sequences.enrol(fresh.id, running.id, None)
    for _ in range(12):
        enrolment = sequences.enrol(long.id, other.id, None)
        sequences.stop_enrolment(enrolment.id, None)
    sequences.enrol(long.id, running.id, None)
    db.session.commit()
    as_member.get(f"/leads/{fresh.id}")  # a running process has the team's settings cached already
    costs = []
    for lead in (fresh, long):
        with count_queries() as counter:
            page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
        costs.append(counter.count)
    assert costs[0] == costs[1]
    assert page.count("Stopped: by hand") == 9  # the ten latest enrolments: one current, nine ended


# --- a logged reply ---------------------------------------------------------------------------


def test_logging_their_reply_through_the_form_stops_the_lead_s_sequences(as_member, member, make_lead, running):
    lead = make_lead(email="reply@example.com", owner=member)
    sequences.enrol(lead.id, running.id, member.id)
    db.session.commit()
    refused = as_member.post(f"/leads/{lead.id}/activities", {"kind": "reply", "duration_minutes": "5"}, htmx=True)
    assert refused.status_code == 422 and "has no duration" in refused.get_data(as_text=True)
    assert len(_current(lead.id)) == 1

    reply = as_member.post(f"/leads/{lead.id}/activities", {"kind": "reply", "note": "Call me in May"}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "Logged their reply." in body
    assert _current(lead.id) == []
    stopped = db.session.scalars(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == lead.id)).one()
    assert stopped.stop_reason == "replied"
    assert 'id="lead-sequences" aria-labelledby="sequences-h" class="card-panel" hx-swap-oob="true"' in body
    assert "Stopped: the prospect replied" in body


# --- the pool: the selected leads -------------------------------------------------------------------


def test_bulk_enrolment_of_the_selected_leads_says_how_many_were_passed_over(as_member, member, make_lead, running):
    leads = [make_lead(first_name=f"Pick{i}", email=f"pick{i}@example.com") for i in range(4)]
    sequences.enrol(leads[0].id, running.id, None)
    suppress("pick1@example.com", "admin")
    db.session.commit()
    page = as_member.get("/leads").get_data(as_text=True)
    assert f'<option value="{running.id}">Warm up</option>' in page and "Enrol all 4 matching" in page
    reply = as_member.post("/leads/bulk", {"lead_ids": [str(lead.id) for lead in leads], "action": "enrol",
                                           "sequence": str(running.id)}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and 'id="lead-table"' in body
    assert "Enrolled 2 leads in “Warm up”; passed over 2 already in it or whose address takes no email" in body
    assert [len(_current(lead.id)) for lead in leads] == [1, 0, 1, 1]
    assert db.session.scalar(select(SequenceEnrolment.enrolled_by_id).where(
        SequenceEnrolment.lead_id == leads[3].id)) == member.id
    draft = sequences.create_sequence("Draft")
    db.session.commit()
    refused = as_member.post("/leads/bulk", {"lead_ids": [str(leads[1].id)], "action": "enrol",
                                             "sequence": str(draft.id)}, htmx=True)
    assert refused.status_code == 400 and "not started yet" in refused.get_data(as_text=True)


# --- the pool: everything matching ----------------------------------------------------------------


def test_enrolling_all_matching_leads_runs_as_a_job_in_batches(as_member, member, make_lead, running, stages):
    qualified = [make_lead(stage="Qualified", first_name=f"Q{i}", email=f"q{i}@example.com") for i in range(5)]
    others = [make_lead(first_name="New", email="new@example.com")]
    sequences.enrol(qualified[2].id, running.id, None)
    db.session.commit()
    reply = as_member.post(f"/leads/sequence-runs?stage={stages['Qualified'].id}&sort=name",
                           {"sequence": str(running.id)}, htmx=True)
    assert reply.status_code == 204
    run = db.session.scalars(select(SequenceBulkRun)).one()
    assert reply.headers["HX-Redirect"] == f"/leads/sequence-runs/{run.id}"
    assert (run.state, run.query, run.actor_id) == ("queued", f"stage={stages['Qualified'].id}", member.id)
    waiting = as_member.get(f"/leads/sequence-runs/{run.id}", htmx=True).get_data(as_text=True)
    assert "<html" not in waiting and 'hx-trigger="every 1s"' in waiting and "Waiting for a worker" in waiting

    done = sequence_bulk.run(run.id, batch=2)
    assert (done.state, done.total, done.done, done.enrolled) == ("done", 5, 5, 4)
    assert [len(_current(lead.id)) for lead in qualified + others] == [1, 1, 1, 1, 1, 0]
    assert sequence_bulk.run(run.id) is None  # delivered again: nothing to do
    finished = as_member.get(f"/leads/sequence-runs/{run.id}", htmx=True).get_data(as_text=True)
    assert "hx-trigger" not in finished and 'value="100"' in finished
    assert re.search(r'id="run-enrolled">4<', finished) and re.search(r'id="run-passed">1<', finished)
    assert "Enrolled 4 of 5 leads." in finished
    page = as_member.get(f"/leads/sequence-runs/{run.id}").get_data(as_text=True)
    assert "<progress" in page and f'href="/leads?stage={stages["Qualified"].id}"' in page


def test_a_run_killed_halfway_resumes_after_its_last_batch_and_enrols_nobody_twice(member, make_lead, running):
    leads = [make_lead(first_name=f"L{i}", email=f"l{i}@example.com", owner=member) for i in range(5)]
    run = sequence_bulk.start_run(PoolFilters(owner="me"), running.id, member.id)
    assert run.query == f"owner={member.id}"  # "me" is the person who asked, whoever runs the job
    assert sequence_bulk.claim(run.id)
    assert sequence_bulk.run_batch(run.id, batch=2)  # ...and the worker dies after this batch
    db.session.expire_all()
    half = db.session.get(SequenceBulkRun, run.id)
    assert (half.state, half.done, half.enrolled, half.after_id) == ("running", 2, 2, leads[1].id)

    assert sequence_bulk.run(run.id, batch=2) is None  # its worker may still be alive: not taken over
    later = utcnow() + sequence_bulk.RUN_STALE + timedelta(seconds=1)
    assert sequence_bulk.requeue_lost_runs(later) == 1
    resumed = sequence_bulk.run(run.id, batch=2, now=later)
    assert (resumed.state, resumed.done, resumed.enrolled, resumed.total) == ("done", 5, 5, 5)
    per_lead = dict(db.session.execute(select(SequenceEnrolment.lead_id, func.count()).group_by(
        SequenceEnrolment.lead_id)).all())
    assert per_lead == {lead.id: 1 for lead in leads}
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.kind == "sequence_enrolled")) == 5


def test_enrolling_all_matching_refuses_a_draft_sequence_or_a_bad_filter(as_member, make_lead, running):
    make_lead()
    draft = sequences.create_sequence("Draft")
    db.session.commit()
    refused = as_member.post("/leads/sequence-runs", {"sequence": str(draft.id)}, htmx=True)
    assert refused.status_code == 400 and "not started yet" in refused.get_data(as_text=True)
    bad = as_member.post("/leads/sequence-runs?min_score=lots", {"sequence": str(running.id)}, htmx=True)
    assert bad.status_code == 400 and "min score" in bad.get_data(as_text=True)
    empty = as_member.post("/leads/sequence-runs", {"sequence": ""}, htmx=True)
    assert empty.status_code == 400 and "Choose the sequence" in empty.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(SequenceBulkRun)) == 0


def test_enrol_many_costs_the_same_few_statements_for_five_leads_or_sixty(make_lead, running, template,
                                                                          count_queries):
    other = sequences.create_sequence("Other")  # each lead is in it: enrolling stops that too, in bulk
    sequences.add_step(other.id, StepSettings(template_id=template.id))
    sequences.start(other.id)
    costs = []
    for size in (5, 60):
        ids = [make_lead(email=f"m{size}-{i}@example.com").id for i in range(size)]
        sequences.enrol_many(ids, other.id, None)
        db.session.commit()
        with count_queries() as counter:
            assert sequences.enrol_many(ids + [2147483000], running.id, None) == size
        costs.append(counter.count)
        db.session.commit()
    assert costs[0] == costs[1] <= 14  # with the lock on the sequence row and the erased addresses' key
    stopped = db.session.scalar(select(func.count()).select_from(SequenceEnrolment).where(
        SequenceEnrolment.stop_reason == "other_sequence"))
    assert stopped == 65
    with pytest.raises(ServiceError, match="at most 500"):
        sequences.enrol_many(list(range(1, 502)), running.id, None)
