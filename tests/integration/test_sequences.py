"""Nurture sequences: timing (delays, working days, send windows in the lead's timezone, across a
daylight-saving change), the tick (once per step, whatever runs twice), every stop condition, and
enrolment rules."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboxEmail, SequenceEnrolment, SequenceSend, Task, TimelineEntry
from app.services import ServiceError, activities, closing, email_templates, sequences
from app.services.appointments import book_appointment
from app.services.bounces import record_hard_bounce
from app.services import atomic
from app.services.leads import bulk_move
from app.services.sequences import StepSettings
from app.services.suppression import LinkPayload, unsubscribe

MONDAY = datetime(2026, 12, 7, 8, 0)  # 08:00 UTC = 09:00 in Paris


def _entries(lead, kind):
    return [e.data for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead.id, TimelineEntry.kind == kind).order_by(TimelineEntry.id))]


def _enrolment(lead):
    return db.session.scalars(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == lead.id)
                              .order_by(SequenceEnrolment.id.desc())).first()


def test_a_whole_sequence_runs_once_per_step_in_its_windows(app, make_sequence, template, make_lead, member):
    sequence = make_sequence(template,
                         StepSettings(template_id=template.id),
                         StepSettings(kind="task", task_title="Call them", delay_days=2, business_days=True),
                         StepSettings(template_id=template.id, delay_days=3, window_days="01234",
                                      window_start=9 * 60, window_end=11 * 60))
    lead = make_lead(first_name="Lou", email="lou@example.fr", country="FR", owner=member)
    friday = datetime(2026, 12, 4, 15, 0)
    sequences.enrol(lead.id, sequence.id, member.id, now=friday)
    assert _enrolment(lead).next_at == friday

    tick = sequences.run_due(friday)
    again = sequences.run_due(friday)  # the same instant twice: nothing more
    assert (tick.sent, again.sent) == (1, 0)
    [email] = db.session.scalars(select(OutboxEmail).where(OutboxEmail.lead_id == lead.id)).all()
    assert email.kind == "sequence_email" and email.subject == "Still thinking, Lou?"
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.reply_to == "max@example.com"

    # Two working days after Friday 16:00 Paris: Tuesday 16:00 Paris (the weekend does not count).
    enrolment = _enrolment(lead)
    assert enrolment.next_at == datetime(2026, 12, 8, 15, 0)
    assert sequences.run_due(datetime(2026, 12, 8, 14, 59)).tasks == 0
    assert sequences.run_due(datetime(2026, 12, 8, 15, 0)).tasks == 1
    [task] = db.session.scalars(select(Task).where(Task.lead_id == lead.id)).all()
    assert (task.title, task.owner_id) == ("Call them", member.id)

    # Three days after Tuesday 16:00 is Friday 16:00 Paris: past 11:00, so Monday 09:00 Paris.
    enrolment = _enrolment(lead)
    assert enrolment.next_at == datetime(2026, 12, 14, 8, 0)
    assert sequences.run_due(datetime(2026, 12, 14, 8, 0)).sent == 1
    enrolment = _enrolment(lead)
    assert (enrolment.status, enrolment.sent, enrolment.next_at) == ("finished", 2, None)
    assert [d["step"] for d in _entries(lead, "sequence_sent")] == [1, 3]
    assert _entries(lead, "sequence_finished") == [{"sequence": "Warm up"}]
    figures = sequences.figures(sequence.id)
    assert (figures.enrolled, figures.finished, [sent for _, sent, _ in figures.per_step]) == (1, 1, [1, 1, 1])


def test_a_step_due_while_the_worker_was_down_waits_for_the_next_window(app, make_sequence, template, make_lead):
    sequence = make_sequence(template, StepSettings(template_id=template.id, window_days="01234",
                                                window_start=9 * 60, window_end=11 * 60))
    lead = make_lead(email="ana@example.de", country="DE")
    sequences.enrol(lead.id, sequence.id, None, now=MONDAY)
    assert _enrolment(lead).next_at == MONDAY  # 09:00 Berlin
    late = MONDAY + timedelta(hours=5)  # back at 14:00 Berlin: the window has passed
    tick = sequences.run_due(late)
    assert (tick.sent, tick.waiting) == (0, 1)
    assert _enrolment(lead).next_at == MONDAY + timedelta(days=1)
    inside = MONDAY + timedelta(days=1, hours=1)  # back on Tuesday at 10:00: inside, so it goes now
    assert sequences.run_due(inside).sent == 1


def test_send_windows_follow_the_lead_across_a_daylight_saving_change(app, make_sequence, template, make_lead):
    step = StepSettings(template_id=template.id, delay_days=1, window_start=9 * 60, window_end=10 * 60)
    sequence = make_sequence(template, StepSettings(template_id=template.id), step)
    lead = make_lead(email="kim@example.de", country="DE")
    saturday = datetime(2027, 3, 27, 8, 30)  # 09:30 CET; Berlin moves to CEST that night
    sequences.enrol(lead.id, sequence.id, None, now=saturday)
    sequences.run_due(saturday)
    # A day later at 09:30 Berlin is 07:30 UTC (CEST), inside 09:00-10:00: not 08:30 UTC.
    assert _enrolment(lead).next_at == datetime(2027, 3, 28, 7, 30)


def test_two_ticks_at_once_send_each_step_once(app, make_sequence, template, make_lead):
    sequence = make_sequence(template)
    leads = [make_lead(email=f"p{i}@example.com") for i in range(5)]
    assert sequences.enrol_many([lead.id for lead in leads], sequence.id, None, now=MONDAY) == 5
    first = sequences.run_batch(MONDAY, batch=3)
    second = sequences.run_batch(MONDAY, batch=3)
    assert (first.sent, second.sent) == (3, 2)
    assert db.session.scalar(select(func.count()).select_from(SequenceSend)) == 5
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 5


@pytest.mark.parametrize("event", ["booked", "won", "lost", "unsubscribed", "bounced", "replied", "manual",
                                   "other_sequence"])
def test_every_stop_condition_ends_the_enrolment_with_its_reason(app, make_sequence, template, make_lead, stages, member, event):
    sequence = make_sequence(template, StepSettings(template_id=template.id, delay_days=2))
    other = make_sequence(template, name="Other")
    lead = make_lead(email="stop@example.com", owner=member)
    sequences.enrol(lead.id, sequence.id, member.id, now=MONDAY)
    now = MONDAY + timedelta(hours=1)
    if event == "booked":
        book_appointment(lead.id, member.id, starts_at=now + timedelta(days=3), duration_minutes=30, now=now)
    elif event in ("won", "lost"):
        stage = next(s for s in stages.values() if s.kind == event)
        reason = closing.add_reason("Budget") if event == "lost" else None
        bulk_move([lead.id], stage.id, member.id, closing.Closing(lost_reason_id=reason.id if reason else None))
    elif event == "unsubscribed":
        unsubscribe(LinkPayload("STOP@example.com", None), now)
    elif event == "bounced":
        with atomic():
            record_hard_bounce(lead.id, "stop@example.com", "550 5.1.1 no such user", now)
    elif event == "replied":
        activities.log_activity(lead.id, member.id, "reply", note="Not now, maybe in spring", now=now)
    elif event == "manual":
        sequences.stop_enrolment(_enrolment(lead).id, member.id, now)
    else:
        sequences.enrol(lead.id, other.id, member.id, now=now)
    stopped = db.session.scalar(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == lead.id,
                                                                SequenceEnrolment.sequence_id == sequence.id))
    assert (stopped.status, stopped.stop_reason, stopped.next_at) == ("stopped", event, None)
    assert _entries(lead, "sequence_stopped")[-1] == {"sequence": "Warm up", "reason": event}
    assert sequences.run_due(MONDAY + timedelta(days=3)).sent == (1 if event == "other_sequence" else 0)


def test_rules_enrol_on_capture_lost_reason_and_band(app, make_sequence, template, make_lead, stages, member):
    from app.services.capture import capture_lead
    from app.services.scoring import save_bands, save_rule
    webinar = make_sequence(template, name="Webinar follow-up")
    sequences.add_rule(webinar.id, "source", "Webinar")
    later = make_sequence(template, name="Not now", stop_on_other=False)
    not_now = closing.add_reason("Not now")
    sequences.add_rule(later.id, "lost_reason", not_now.id)
    hot = make_sequence(template, name="Hot")
    save_bands([("Cold", None, "#0000ff"), ("Hot", "50", "#ff0000")])
    save_rule(None, label="Has a phone", condition={"field": "phone", "op": "is_not_empty"}, points=60)
    sequences.add_rule(hot.id, "band", "Hot")
    db.session.commit()

    captured = capture_lead({"first_name": "Web", "email": "web@example.com", "source": "webinar"}, via="API")
    assert [e["sequence"] for e in _entries(captured.lead, "sequence_enrolled")] == ["Webinar follow-up"]
    lost = next(s for s in stages.values() if s.kind == "lost")
    bulk_move([captured.lead.id], lost.id, member.id, closing.Closing(lost_reason_id=not_now.id))
    assert _entries(captured.lead, "sequence_stopped") == [{"sequence": "Webinar follow-up", "reason": "lost"}]
    assert _entries(captured.lead, "sequence_enrolled")[-1]["sequence"] == "Not now"

    phoned = capture_lead({"first_name": "Hot", "phone": "+44 20 7946 0958", "email": "hot@example.com"}, via="API")
    assert [e["sequence"] for e in _entries(phoned.lead, "sequence_enrolled")] == ["Hot"]


def test_a_rescore_carrying_many_leads_into_a_band_enrols_them_in_a_few_statements(app, make_sequence, template, make_lead,
                                                                                     count_queries):
    from app.services.scoring import _transaction_ruleset, rescore, save_bands, save_rule
    hot = make_sequence(template, name="Hot")
    save_bands([("Cold", None, "#0000ff"), ("Hot", "50", "#ff0000")])
    sequences.add_rule(hot.id, "band", "Hot")
    db.session.commit()

    def crossing(n):
        leads = [make_lead(email=f"hot{n}-{i}@example.com", company=f"Batch {n}") for i in range(n)]
        # The rule arrives after the leads: a rescore then carries every one of them into "Hot".
        save_rule(None, label=f"Batch {n}", condition={"field": "company", "op": "equals", "value": f"Batch {n}"},
                  points=60)
        db.session.commit()
        _transaction_ruleset()  # the ruleset's own reads are not the enrolment's cost
        ids = [lead.id for lead in leads]
        with count_queries() as counted:
            with atomic():
                rescore(ids)
        enrolled = db.session.scalar(select(func.count()).select_from(SequenceEnrolment).where(
            SequenceEnrolment.sequence_id == hot.id, SequenceEnrolment.lead_id.in_(ids)))
        return enrolled, counted.count

    few, few_statements = crossing(3)
    many, many_statements = crossing(40)
    assert (few, many) == (3, 40)
    assert many_statements == few_statements, "enrolling on a band crossing costs statements per lead"


def test_bad_settings_are_refused_naming_the_field(app, make_sequence, template, make_lead):
    draft = sequences.create_sequence("Empty")
    with pytest.raises(ServiceError) as refused:
        sequences.start(draft.id)
    assert refused.value.field == "steps"
    lead = make_lead(email="x@example.com")
    with pytest.raises(ServiceError, match="not started"):
        sequences.enrol(lead.id, draft.id, None)
    cases = [(StepSettings(template_id=None), "template_id"),
             (StepSettings(template_id=template.id, delay_days=-1), "delay_days"),
             (StepSettings(template_id=template.id, delay_days=366), "delay_days"),
             (StepSettings(template_id=template.id, delay_days="two"), "delay_days"),
             (StepSettings(template_id=template.id, window_start=11 * 60, window_end=9 * 60), "window_end"),
             (StepSettings(template_id=template.id, window_start=9 * 60), "window_end"),
             (StepSettings(template_id=template.id, window_days="78"), "window_days"),
             (StepSettings(kind="task", task_title="  "), "task_title")]
    for settings, field in cases:
        with pytest.raises(ServiceError) as refused:
            sequences.add_step(draft.id, settings)
        assert refused.value.field == field, settings
    with pytest.raises(ServiceError) as refused:
        sequences.create_sequence("empty")
    assert refused.value.field == "name"


def test_editing_a_step_changes_only_later_sends_and_removing_one_moves_leads_on(app, make_sequence, template, make_lead):
    other = email_templates.create_template(email_templates.TemplateSettings(
        name="Second", subject="Second note", body_html="<p>Two</p>"))
    sequence = make_sequence(template, StepSettings(template_id=template.id),
                         StepSettings(template_id=template.id, delay_days=1),
                         StepSettings(template_id=other.id, delay_days=1))
    lead = make_lead(first_name="Eve", email="eve@example.com")
    sequences.enrol(lead.id, sequence.id, None, now=MONDAY)
    sequences.run_due(MONDAY)
    first, second, third = sequences.steps(sequence.id)
    sequences.update_step(first.id, StepSettings(template_id=other.id))
    sequences.remove_step(second.id)
    assert _enrolment(lead).step_id == third.id
    sequences.run_due(MONDAY + timedelta(days=1))
    subjects = [row.subject for row in db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id))]
    assert subjects == ["Still thinking, Eve?", "Second note"]


def test_pausing_holds_sends_and_resuming_sends_in_the_next_window(app, make_sequence, template, make_lead):
    sequence = make_sequence(template)
    lead = make_lead(email="p@example.com")
    sequences.enrol(lead.id, sequence.id, None, now=MONDAY)
    sequences.pause(sequence.id)
    assert sequences.run_due(MONDAY + timedelta(hours=1)).sent == 0
    sequences.start(sequence.id)
    assert sequences.run_due(MONDAY + timedelta(hours=2)).sent == 1


def test_a_suppressed_or_addressless_lead(app, make_sequence, template, make_lead, member):
    sequence = make_sequence(template, StepSettings(template_id=template.id),
                         StepSettings(kind="task", task_title="Call"))
    unsubscribe(LinkPayload("gone@example.com", None), MONDAY)
    gone = make_lead(email="gone@example.com")
    with pytest.raises(ServiceError, match="does not take our emails"):
        sequences.enrol(gone.id, sequence.id, member.id)
    nobody = make_lead(email=None, phone="+44 20 7946 0000", owner=member)
    emails_only = make_sequence(template, name="Emails only")
    with pytest.raises(ServiceError, match="no email address"):
        sequences.enrol(nobody.id, emails_only.id, member.id)
    sequences.enrol(nobody.id, sequence.id, member.id, now=MONDAY)
    tick = sequences.run_due(MONDAY)
    assert (tick.sent, tick.skipped, tick.tasks) == (0, 1, 1)
    assert _entries(nobody, "sequence_skipped")[0]["reason"] == "no_email"
    assert _enrolment(nobody).status == "finished"


def test_bulk_enrolment_passes_over_a_lead_who_replied_and_one_an_all_email_sequence_cannot_reach(make_sequence, 
        app, template, make_lead, member):
    sequence = make_sequence(template)
    replied = make_lead(email="replied@example.com", owner=member)
    addressless = make_lead(email=None, phone="+44 20 7946 0001", owner=member)
    fresh = make_lead(email="fresh@example.com", owner=member)
    sequences.enrol(replied.id, sequence.id, member.id, now=MONDAY)
    activities.log_activity(replied.id, member.id, "reply", note="Call me", now=MONDAY + timedelta(hours=1))
    assert _enrolment(replied).stop_reason == "replied"

    enrolled = sequences.enrol_many([replied.id, addressless.id, fresh.id], sequence.id, member.id,
                                    now=MONDAY + timedelta(hours=2))
    assert enrolled == 1
    assert [e.lead_id for e in db.session.scalars(select(SequenceEnrolment).where(
        SequenceEnrolment.sequence_id == sequence.id, SequenceEnrolment.ended_at.is_(None)))] == [fresh.id]
    # By hand, for the one lead, a rep still may.
    sequences.enrol(replied.id, sequence.id, member.id, now=MONDAY + timedelta(hours=3))
    assert _enrolment(replied).ended_at is None


def test_merging_stops_the_losers_sequences_and_undo_brings_their_history_back(app, make_sequence, template, make_lead, member):
    from app.services.merge import merge_leads, undo_merge
    sequence = make_sequence(template, StepSettings(template_id=template.id, delay_days=3))
    survivor = make_lead(first_name="Sam", email="sam@example.com")
    loser = make_lead(first_name="Sam", last_name="Dup", email="sam@example.com")
    sequences.enrol(loser.id, sequence.id, member.id, now=MONDAY)
    sequences.enrol(survivor.id, sequence.id, member.id, now=MONDAY)
    merge = merge_leads(survivor.id, loser.id, {}, member.id, now=MONDAY + timedelta(hours=1))
    rows = list(db.session.scalars(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == survivor.id)
                                   .order_by(SequenceEnrolment.id)))
    assert [(row.status, row.stop_reason) for row in rows] == [("stopped", "merged"), ("active", None)]
    assert sequences.run_due(MONDAY + timedelta(days=3)).sent == 1  # the survivor's one enrolment
    undo_merge(merge.id, member.id, now=MONDAY + timedelta(days=3, hours=1))
    assert _enrolment(loser).stop_reason == "merged"


def test_moving_a_step_above_one_already_sent_never_sends_it_again(app, make_sequence, template, make_lead):
    second = email_templates.create_template(email_templates.TemplateSettings(
        name="Second", subject="Second note", body_html="<p>Two</p>"))
    sequence = make_sequence(template, StepSettings(template_id=template.id),
                         StepSettings(template_id=second.id, delay_days=1),
                         StepSettings(template_id=template.id, delay_days=1))
    lead, other = make_lead(email="a@example.com"), make_lead(email="b@example.com")
    sequences.enrol(lead.id, sequence.id, None, now=MONDAY)
    assert sequences.run_due(MONDAY).sent == 1
    first, waiting, _ = sequences.steps(sequence.id)
    sequences.move_step(waiting.id, -1)  # "Second" now comes before the step already sent
    sequences.enrol(other.id, sequence.id, None, now=MONDAY + timedelta(days=1))
    assert sequences.run_due(MONDAY + timedelta(days=1)).sent == 1  # the lead's "Second" (the other's waits a day)
    for day in (2, 3, 4):
        sequences.run_due(MONDAY + timedelta(days=day))
    per_lead = dict(db.session.execute(select(OutboxEmail.lead_id, func.count()).group_by(OutboxEmail.lead_id)).all())
    assert per_lead == {lead.id: 3, other.id: 3}  # every step once each, the one already sent not again
    sends = db.session.execute(select(SequenceSend.enrolment_id, SequenceSend.step_id)).all()
    assert len(sends) == len(set(sends)) == 6


def test_two_enrolments_of_one_lead_at_once_are_one_enrolment_and_the_rest_refused(app, make_sequence, template, make_lead,
                                                                                   database_url):
    from tests.integration.test_races import together
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time")
    sequence = make_sequence(template)
    lead = make_lead(email="twice@example.com")
    db.session.commit()
    lead_id, sequence_id = lead.id, sequence.id
    results = together(app, *[lambda: sequences.enrol(lead_id, sequence_id, None).id] * 4)
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(refused) == 3 and {r.status for r in refused} == {409}, results
    assert db.session.scalar(select(func.count()).select_from(SequenceEnrolment)) == 1


def test_a_rule_naming_an_odd_number_is_refused_and_a_renamed_field_key_follows_into_templates(app, make_sequence, make_lead):
    from app.services import custom_fields
    from app.services.custom_fields import FieldSettings
    sequence = sequences.create_sequence("Rules")
    for kind in ("form", "lost_reason"):
        with pytest.raises(ServiceError) as refused:
            sequences.add_rule(sequence.id, kind, "²")
        assert refused.value.field == "value"
    field = custom_fields.create_field(FieldSettings("Plan", key="plan"))
    made = email_templates.create_template(email_templates.TemplateSettings(
        name="Plan", subject="Your {{ lead.custom.plan }}", body_html="<p>{{ lead.custom['plan'] }} plans</p>"))
    custom_fields.update_field(field.id, FieldSettings("Plan", key="tier"), None)
    db.session.refresh(made)
    assert (made.subject, made.body_html) == ("Your {{ lead.custom.tier }}",
                                              "<p>{{ lead.custom['tier'] }} plans</p>")


def test_deleting_a_stage_into_won_stops_its_leads_sequences_and_emails_carry_an_unsubscribe_link(make_sequence, 
        app, template, make_lead, stages, member):
    from app.services.stages import add_stage, delete_stage
    sequence = make_sequence(template, StepSettings(template_id=template.id), StepSettings(template_id=template.id, delay_days=1))
    doomed = add_stage("Doomed", "#123456")
    lead = make_lead(email="w@example.com")
    bulk_move([lead.id], doomed.id, member.id)
    sequences.enrol(lead.id, sequence.id, None, now=MONDAY)
    sequences.run_due(MONDAY)
    [email] = db.session.scalars(select(OutboxEmail)).all()
    link = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert f'<a href="{link}">Unsubscribe</a>' in email.html_body and f"Unsubscribe: {link}" in email.text_body
    won = next(s for s in stages.values() if s.kind == "won")
    delete_stage(doomed.id, won.id, member.id)
    assert (_enrolment(lead).status, _enrolment(lead).stop_reason) == ("stopped", "won")
