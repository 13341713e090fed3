"""First-response SLA: settings, the clock on a lead (business time across DST and a holiday), the
badge, and the escalation sweep (once, even with two sweeps at once), with an injected clock."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BusinessHours, Holiday, Lead, Notification, SlaRule, TimelineEntry
from app.services import sla, team_settings
from app.services.leads import assign_lead, create_lead
from app.services.touches import touch
from app.services import atomic

# Monday 23 March 2026, 10:00 in Berlin (CET, +1); Berlin moves to CEST (+2) on Sunday 29 March.
MONDAY_10 = datetime(2026, 3, 23, 9, 0)
NINE_TO_FIVE = {d: "09:00-17:00" for d in range(5)}


@pytest.fixture
def berlin(app, stages):
    team_settings.save("Europe/Berlin", None)
    sla.save_calendar(NINE_TO_FIVE, "2026-03-30 Team day off")


def rule(match="any", value="", amount="1", unit="hours", business=True, on_breach="nothing"):
    return sla.add_rule(match=match, value=value, amount=amount, unit=unit, business_time=business, on_breach=on_breach)


def lead_at(now, stages, owner=None, **fields):
    fields.setdefault("first_name", "Lena")
    fields.setdefault("last_name", "Lead")
    return create_lead(fields, None, stage_id=stages["New"].id, owner_id=owner.id if owner else None, now=now)


def entries(lead_id, kind):
    return db.session.scalar(select(func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.lead_id == lead_id, TimelineEntry.kind == kind))


def notices(user_id):
    return list(db.session.scalars(select(Notification.message).where(Notification.user_id == user_id)))


# --- the clock -------------------------------------------------------------------------------------


def test_a_business_hour_target_skips_the_weekend_the_dst_change_and_a_holiday(berlin, stages, member):
    rule(amount="2", unit="hours")
    friday_4pm = datetime(2026, 3, 27, 15, 0)  # 16:00 CET
    lead = lead_at(friday_4pm, stages, owner=member)
    # One hour on Friday; Saturday, Sunday (the change) and the Monday holiday are closed;
    # one more hour on Tuesday: 10:00 CEST is 08:00 UTC.
    assert lead.sla_started_at == friday_4pm
    assert lead.sla_due_at == datetime(2026, 3, 31, 8, 0)
    assert lead.sla_next_at == datetime(2026, 3, 31, 7, 36)  # 80%: 1 h 36 min of business time


def test_a_clock_time_target_counts_every_hour(berlin, stages):
    rule(amount="90", unit="minutes", business=False)
    lead = lead_at(datetime(2026, 3, 28, 23, 0), stages)
    assert lead.sla_due_at == datetime(2026, 3, 29, 0, 30)


def test_the_first_matching_target_applies_and_everything_else_comes_last(berlin, stages):
    rule(match="any", amount="8", unit="hours")
    rule(match="source", value="Website", amount="5", unit="minutes", business=False)
    rule(match="band", value="Cold", amount="30", unit="minutes", business=False)
    ordered = [(r.match, r.target_minutes) for r in sla.rules()]
    assert ordered == [("source", 5), ("band", 30), ("any", 480)]
    web_lead = lead_at(MONDAY_10, stages, source="website")
    cold_lead = lead_at(MONDAY_10, stages, source="fair")
    assert web_lead.sla_due_at == MONDAY_10 + timedelta(minutes=5)
    assert cold_lead.sla_due_at == MONDAY_10 + timedelta(minutes=30)  # score 0: the Cold band


def test_no_target_means_no_clock(berlin, stages):
    lead = lead_at(MONDAY_10, stages)
    assert lead.sla_due_at is None and lead.sla_next_at is None and sla.badge(lead, MONDAY_10) is None


def test_the_first_response_stores_its_business_time_and_stops_the_clock(berlin, stages, member):
    rule(amount="1", unit="hours")
    lead = lead_at(datetime(2026, 3, 27, 15, 30), stages, owner=member)  # Friday 16:30 CET
    answered = datetime(2026, 3, 31, 7, 15)  # Tuesday 09:15 CEST
    with atomic():
        assert touch(lead, member.id, "call", answered)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.first_response_seconds == 45 * 60  # 30 min Friday + 15 min Tuesday
    assert lead.sla_next_at is None
    assert sla.escalate_due(answered + timedelta(days=3)) == (0, 0)


def test_giving_the_lead_to_someone_restarts_their_clock(berlin, stages, member, admin):
    rule(amount="1", unit="hours", business=False)
    lead = lead_at(MONDAY_10 - timedelta(hours=5), stages)
    assign_lead(lead.id, member.id, admin.id)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.sla_due_at > datetime.utcnow() + timedelta(minutes=50)


# --- the badge -------------------------------------------------------------------------------------


def test_the_badge_counts_down_then_warns_then_shows_the_breach(berlin, stages, member):
    rule(amount="10", unit="minutes", business=False)
    lead = lead_at(MONDAY_10, stages, owner=member)
    assert sla.badge(lead, MONDAY_10 + timedelta(minutes=1)).text == "9 min left to respond"
    assert sla.badge(lead, MONDAY_10 + timedelta(minutes=9)).state == "due_soon"
    late = sla.badge(lead, MONDAY_10 + timedelta(minutes=14))
    assert (late.state, late.text) == ("breached", "Response overdue by 4 min")


def test_the_badge_fragment_polls_while_the_clock_runs(berlin, stages, member, as_member):
    rule(amount="2", unit="hours", business=False)
    lead = lead_at(datetime.utcnow(), stages, owner=member)
    reply = as_member.get(f"/leads/{lead.id}/sla", htmx=True)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in html
    assert f'id="sla-{lead.id}"' in html and "left to respond" in html and 'hx-trigger="every 60s"' in html
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "left to respond" in page
    board = as_member.get("/board").get_data(as_text=True)
    assert f'id="sla-{lead.id}"' in board


def test_a_breached_badge_stops_polling(berlin, stages, member, as_member):
    rule(amount="5", unit="minutes", business=False)
    lead = lead_at(datetime.utcnow() - timedelta(hours=1), stages, owner=member)
    html = as_member.get(f"/leads/{lead.id}/sla", htmx=True).get_data(as_text=True)
    assert "Response overdue by" in html and "hx-trigger" not in html


# --- escalation ------------------------------------------------------------------------------------


def test_the_sweep_warns_at_80_percent_and_breaches_once(berlin, stages, member, admin):
    rule(amount="10", unit="minutes", business=False)
    lead = lead_at(MONDAY_10, stages, owner=member)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=7)) == (0, 0)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=8)) == (1, 0)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=9)) == (0, 0)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=10)) == (0, 1)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=30)) == (0, 0)
    assert entries(lead.id, "sla_warning") == 1 and entries(lead.id, "sla_breached") == 1
    assert notices(member.id) == ["Lena Lead is waiting for a first response: 2 min left.",
                                  "Lena Lead had no first response in time from Max Member."]
    assert notices(admin.id) == ["Lena Lead had no first response in time from Max Member."]
    lead = db.session.get(Lead, lead.id)
    assert lead.owner_id == member.id and lead.sla_breached_at == MONDAY_10 + timedelta(minutes=10)


def test_a_lead_found_past_due_skips_the_warning(berlin, stages, member):
    rule(amount="10", unit="minutes", business=False)
    lead = lead_at(MONDAY_10, stages, owner=member)
    assert sla.escalate_due(MONDAY_10 + timedelta(hours=1)) == (0, 1)
    assert entries(lead.id, "sla_warning") == 0


def test_a_breach_sends_the_lead_back_to_the_pool(berlin, stages, member):
    rule(amount="10", unit="minutes", business=False, on_breach="pool")
    lead = lead_at(MONDAY_10, stages, owner=member)
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=11)) == (0, 1)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.owner_id is None and lead.sla_next_at is None
    back = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                         TimelineEntry.kind == "assigned"))
    assert back.data["from"] == "Max Member" and back.data["to"] is None
    assert sla.escalate_due(MONDAY_10 + timedelta(hours=2)) == (0, 0)  # in the pool: nothing more


def test_two_sweeps_at_once_escalate_each_lead_once(app, berlin, stages, member, admin):
    rule(amount="10", unit="minutes", business=False)
    ids = [lead_at(MONDAY_10, stages, owner=member, first_name=f"Lead{n}").id for n in range(30)]
    at = MONDAY_10 + timedelta(minutes=8)
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        with app.app_context():
            barrier.wait()
            try:
                results.append(sla.escalate_due(at, batch=7))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(warned for warned, _ in results) == 30, results
    db.session.expire_all()
    counts = db.session.execute(select(TimelineEntry.lead_id, func.count()).where(
        TimelineEntry.kind == "sla_warning").group_by(TimelineEntry.lead_id)).all()
    assert sorted(counts) == sorted((lead_id, 1) for lead_id in ids)
    assert len(notices(member.id)) == 30


# --- settings --------------------------------------------------------------------------------------


def test_members_cannot_open_the_sla_settings(as_member):
    assert as_member.get("/settings/sla").status_code == 403


def test_admins_save_hours_and_holidays(app, stages, as_admin):
    reply = as_admin.post("/settings/sla/hours", {**{f"day{d}": "9-12, 13:00-17:30" for d in range(5)},
                                                  "holidays": "2026-12-24 Christmas Eve\n\n2026-12-31"})
    assert reply.status_code == 302
    assert sla.hours()[0] == ((540, 720), (780, 1050)) and 5 not in sla.hours()
    assert [(h.day, h.name) for h in sla.holidays()] == [(date(2026, 12, 24), "Christmas Eve"), (date(2026, 12, 31), "")]
    page = as_admin.get("/settings/sla").get_data(as_text=True)
    assert "09:00-12:00, 13:00-17:30" in page and "2026-12-24 Christmas Eve" in page


@pytest.mark.parametrize("field, typed, message", [
    ("day0", "17:00-09:00", "ends before it starts"),
    ("day1", "09:00-13:00, 12:00-17:00", "two ranges overlap"),
    ("day2", "9 to 5", "write hours as 09:00-17:00"),
    ("day3", "09:00-25:00", "not a time of day"),
    ("holidays", "2026-02-30 Nope", "Line 1"),
    ("holidays", "Christmas", "does not start with a date"),
    ("holidays", "2026-12-24 Eve\n2026-12-24 Again", "Line 2: 2026-12-24 is listed twice"),
    ("holidays", "9999-12-31 End", "between the years 2000 and 2100"),
])
def test_bad_hours_or_holidays_are_refused_beside_the_field_and_nothing_saved_is_lost(
        app, stages, as_admin, field, typed, message):
    sla.save_calendar(NINE_TO_FIVE, "2026-12-25 Christmas")
    form = {f"day{d}": "09:00-17:00" for d in range(5)} | {"holidays": "2026-12-25 Christmas", field: typed}
    reply = as_admin.post("/settings/sla/hours", form)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422 and message in html
    assert f'id="{field}-error"' in html and 'aria-invalid="true"' in html
    assert db.session.scalar(select(func.count()).select_from(BusinessHours)) == 5
    assert [h.day for h in db.session.scalars(select(Holiday))] == [date(2026, 12, 25)]


@pytest.mark.parametrize("amount, unit, message", [
    ("0", "minutes", "zero can never be met"),
    ("9000", "hours", "30 days"),
    ("9999999", "hours", "30 days"),
    ("five", "minutes", "whole number"),
    ("", "hours", "whole number"),
])
def test_a_target_of_zero_or_of_years_is_refused(app, stages, as_admin, amount, unit, message):
    reply = as_admin.post("/settings/sla/rules", {"match": "any", "amount": amount, "unit": unit,
                                                  "clock": "business", "on_breach": "nothing"})
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422 and message in html and 'id="amount-error"' in html
    assert db.session.scalar(select(func.count()).select_from(SlaRule)) == 0


def test_admins_add_reorder_and_delete_targets(app, stages, as_admin):
    assert as_admin.post("/settings/sla/rules", {"match": "any", "amount": "1", "unit": "hours", "clock": "business",
                                                 "on_breach": "pool"}).status_code == 302
    assert as_admin.post("/settings/sla/rules", {"match": "band", "band": "Hot", "amount": "5", "unit": "minutes",
                                                 "clock": "clock", "on_breach": "next"}).status_code == 302
    refused = as_admin.post("/settings/sla/rules", {"match": "source", "source": " ", "amount": "5", "unit": "minutes",
                                                    "clock": "clock", "on_breach": "nothing"})
    assert refused.status_code == 422 and "Name the source" in refused.get_data(as_text=True)
    page = as_admin.get("/settings/sla").get_data(as_text=True)
    assert page.index("Score band is “Hot”") < page.index("Everything else")
    assert "5 min in clock time" in page and "back to the pool" in page
    hot = db.session.scalar(select(SlaRule).where(SlaRule.match == "band"))
    # One target above "Everything else": it can move neither up (it is first) nor below the last.
    assert f'/settings/sla/rules/{hot.id}/move' not in page
    assert as_admin.post(f"/settings/sla/rules/{hot.id}/delete").status_code == 302
    assert [r.match for r in sla.rules()] == ["any"]


def test_admins_edit_a_target_in_place_and_bad_input_is_refused_beside_the_field(app, stages, as_admin):
    for fields in ({"match": "source", "source": "website", "amount": "2", "unit": "hours", "clock": "clock"},
                   {"match": "any", "amount": "1", "unit": "hours", "clock": "business"}):
        assert as_admin.post("/settings/sla/rules", {**fields, "on_breach": "nothing"}).status_code == 302
    web_rule, fallback = sla.rules()
    form = as_admin.get(f"/settings/sla/rules/{web_rule.id}/edit").get_data(as_text=True)
    assert 'value="website"' in form
    assert '<option selected value="hours">' in form and 'name="amount" type="text" value="2"' in form
    saved = as_admin.post(f"/settings/sla/rules/{web_rule.id}/edit", {
        "match": "band", "band": "Hot", "amount": "90", "unit": "minutes", "clock": "business", "on_breach": "pool"})
    assert saved.status_code == 302
    db.session.expire_all()
    changed = db.session.get(SlaRule, web_rule.id)
    assert (changed.match, changed.value, changed.target_minutes, changed.business_time, changed.on_breach) == (
        "band", "Hot", 90, True, "pool")
    assert [r.id for r in sla.rules()] == [web_rule.id, fallback.id]  # it kept its place
    second_fallback = as_admin.post(f"/settings/sla/rules/{web_rule.id}/edit", {
        "match": "any", "amount": "5", "unit": "minutes", "clock": "business", "on_breach": "nothing"})
    assert second_fallback.status_code == 422 and "already an “everything else”" in second_fallback.get_data(as_text=True)
    zero = as_admin.post(f"/settings/sla/rules/{fallback.id}/edit", {
        "match": "any", "amount": "0", "unit": "minutes", "clock": "business", "on_breach": "nothing"})
    assert zero.status_code == 422 and 'id="amount-error"' in zero.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SlaRule, fallback.id).target_minutes == 60  # nothing saved
    assert as_admin.get("/settings/sla/rules/999999/edit").status_code == 404


def test_a_breach_passes_the_lead_to_the_next_person_by_the_assignment_rules(berlin, stages, member, make_user):
    from app.services import assignment
    ben = make_user(name="Ben")
    group = assignment.save_group(None, name="Sales", members={member.id: 1, ben.id: 1})
    assignment.save_rule(None, name="Everyone", condition={}, target="round_robin", group_id=group.id)
    rule(amount="10", unit="minutes", business=False, on_breach="next")
    lead = lead_at(MONDAY_10, stages, owner=member)
    breach = MONDAY_10 + timedelta(minutes=12)
    assert sla.escalate_due(breach) == (0, 1)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    # Ben, not the late owner (whose turn it would have been), with a fresh clock.
    assert lead.owner_id == ben.id
    assert lead.sla_started_at == breach and lead.sla_due_at == breach + timedelta(minutes=10)
    assert lead.sla_breached_at is None and lead.sla_next_at == breach + timedelta(minutes=8)
    assert any("New lead for you" in m or "assigned" in m.lower() for m in notices(ben.id))


def test_a_lead_closed_before_its_first_response_escalates_no_more(berlin, stages, member, admin):
    from app.services.leads import move_lead
    rule(amount="10", unit="minutes", business=False)
    lead = lead_at(MONDAY_10, stages, owner=member)
    move_lead(lead.id, stages["Won"].id, None, None, admin.id)  # an admin: not the owner's touch
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.closed_on is not None and lead.first_response_at is None
    assert lead.sla_next_at is None and sla.badge(lead, MONDAY_10 + timedelta(hours=1)) is None
    assert sla.escalate_due(MONDAY_10 + timedelta(hours=1)) == (0, 0)


def test_the_pool_filters_leads_awaiting_a_first_response_and_those_overdue(berlin, stages, member, as_member):
    from tests.plans import plan
    rule(amount="1", unit="hours", business=False)
    now = datetime.utcnow()
    waiting = lead_at(now - timedelta(minutes=10), stages, owner=member, first_name="Waiting")
    late = lead_at(now - timedelta(days=3), stages, owner=member, first_name="Late")
    answered = lead_at(now - timedelta(days=3), stages, owner=member, first_name="Answered")
    with atomic():
        touch(db.session.get(Lead, answered.id), member.id, "call", now - timedelta(days=2))
    assert late.sla_due_at < now < waiting.sla_due_at and answered.first_response_at is not None

    def names(query: str) -> set[str]:
        body = as_member.get(f"/leads?{query}", htmx=True).get_data(as_text=True)
        return {name for name in ("Waiting", "Late", "Answered") if f">{name} " in body}

    assert names("response=waiting") == {"Waiting", "Late"}
    assert names("response=overdue") == {"Late"}
    assert names("") == {"Waiting", "Late", "Answered"}
    refused = as_member.get("/leads?response=soon")
    assert refused.status_code == 422 and 'id="f-response-error"' in refused.get_data(as_text=True)
    from app.services.lead_queries import response_filter
    found = plan(select(Lead.id).where(*response_filter("overdue", now)),
                 "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, updated_at, "
                 "stage_entered_at, score, sla_due_at, first_response_at) SELECT 'L', 'N' || g, :stage, g, 1, now(), "
                 "now(), now(), 0, now(), now() FROM generate_series(1, 20000) g", stage=stages["New"].id)
    assert "ix_leads_sla_unanswered" in found, found


def test_a_second_target_for_one_source_in_another_case_is_refused(app, stages, as_admin):
    assert as_admin.post("/settings/sla/rules", {"match": "source", "source": "website", "amount": "5",
                                                 "unit": "minutes", "clock": "clock", "on_breach": "nothing"}).status_code == 302
    again = as_admin.post("/settings/sla/rules", {"match": "source", "source": "WEBSITE", "amount": "9",
                                                  "unit": "minutes", "clock": "clock", "on_breach": "nothing"})
    assert again.status_code == 422 and "already a target for this" in again.get_data(as_text=True)
    assert [r.value for r in sla.rules()] == ["website"]


def test_deleting_a_target_lets_go_of_its_running_clocks_so_a_reused_id_cannot_act_on_them(berlin, stages, member):
    doomed = rule(match="source", value="fair", amount="10", unit="minutes", business=False, on_breach="pool")
    lead = lead_at(MONDAY_10, stages, owner=member, source="fair")
    assert lead.sla_rule_id == doomed.id
    sla.delete_rule(doomed.id)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).sla_rule_id is None
    assert sla.escalate_due(MONDAY_10 + timedelta(minutes=12)) == (0, 1)  # told, but nothing more
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).owner_id == member.id


def test_a_target_for_a_band_renamed_since_says_it_never_applies(app, stages, as_admin):
    hot = rule(match="band", value="Hot", amount="5", unit="minutes")
    hot.value = "Lukewarm"  # as if the band were renamed after
    db.session.commit()
    assert "no band has this name now" in as_admin.get("/settings/sla").get_data(as_text=True)
