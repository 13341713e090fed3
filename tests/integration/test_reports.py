"""Reports (/reports): each report's numbers from a known set of leads on both databases, a member
seeing only their own, the CSV, and bad filters refused with a message beside them and a 400."""
from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Activity, Appointment, Lead, Note, Sequence, SequenceEnrolment, Stage, Task
from app.services import closing, reports
from app.services.reports import Filters

NOVEMBER = Filters(date(2026, 11, 1), date(2026, 11, 30))
RANGE = "start=2026-11-01&end=2026-11-30"
NOW = datetime(2026, 12, 5, 12, 0)


@pytest.fixture
def mia(make_user):
    return make_user("member", name="Mia Member", email="mia@example.com")


@pytest.fixture
def world(app, stages, admin, member, mia, make_lead):
    """Five leads captured in November 2026 (and one long before), answered, closed, aged and worked
    on as the tests below expect."""
    max_ = member
    price = closing.add_reason("Budget cut")
    form = None

    def lead(name, *, source, owner, stage, created, value=None, answered=None, by=None, sla_minutes=None, **extra):
        row = make_lead(owner=owner, first_name=name, source=source)
        values = {"stage_id": stages[stage].id, "created_at": created, "stage_entered_at": created,
                  "value": value, **extra}
        if answered is not None:
            values.update(first_response_seconds=answered, first_response_by_id=by.id,
                          first_response_at=created + timedelta(seconds=answered))
        if sla_minutes is not None:
            values["sla_due_at"] = created + timedelta(minutes=sla_minutes)
        db.session.execute(update(Lead).where(Lead.id == row.id).values(**values))
        return row.id

    ids = {
        "l1": lead("One", source="web", owner=max_, stage="Won", created=datetime(2026, 11, 2, 10), value=Decimal(1000),
                   answered=120, by=max_, sla_minutes=60, utm_campaign="fall", closed_on=date(2026, 11, 25)),
        "l2": lead("Two", source="web", owner=max_, stage="Lost", created=datetime(2026, 11, 3, 10), value=Decimal(500),
                   answered=600, by=max_, sla_minutes=5, closed_on=date(2026, 11, 20), lost_reason_id=price.id,
                   reached_stage_id=stages["Qualified"].id),  # lost from Qualified
        "l3": lead("Three", source="web", owner=mia, stage="Qualified", created=datetime(2026, 11, 4, 10),
                   value=Decimal(300), answered=60, by=mia, expected_close_on=date(2026, 12, 15),
                   stage_entered_at=NOW - timedelta(days=10)),
        "l4": lead("Four", source="ads", owner=mia, stage="New", created=datetime(2026, 11, 5, 10),
                   stage_entered_at=NOW - timedelta(days=5)),
        "l5": lead("Five", source="ads", owner=max_, stage="Contacted", created=datetime(2026, 11, 6, 10),
                   value=Decimal(200), answered=1800, by=max_, expected_close_on=date(2026, 12, 20),
                   stage_entered_at=NOW - timedelta(days=2)),
        "l6": lead("Six", source="web", owner=max_, stage="New", created=datetime(2025, 1, 1, 10)),
    }
    db.session.execute(update(Stage).where(Stage.id == stages["Qualified"].id).values(probability=50))
    db.session.execute(update(Stage).where(Stage.id == stages["Contacted"].id).values(probability=20))
    monday = datetime(2026, 11, 2, 9)
    db.session.add_all([
        Activity(lead_id=ids["l1"], user_id=max_.id, kind="call", note="", created_at=monday),
        Activity(lead_id=ids["l2"], user_id=max_.id, kind="email", note="", created_at=monday + timedelta(days=6)),
        Note(lead_id=ids["l1"], author_id=max_.id, body="hi", created_at=monday + timedelta(days=1)),
        Activity(lead_id=ids["l1"], user_id=max_.id, kind="call", note="", created_at=datetime(2026, 10, 30)),  # before
        Task(lead_id=ids["l3"], title="Call", due_at=monday, owner_id=mia.id, done_at=datetime(2026, 11, 10, 15),
             done_by_id=mia.id, created_at=monday),
        Appointment(lead_id=ids["l5"], booked_by_id=max_.id, uid="a1@test", starts_at=datetime(2026, 11, 20, 10),
                    duration_minutes=30, timezone="UTC", status="confirmed", created_at=datetime(2026, 11, 11, 9),
                    updated_at=datetime(2026, 11, 11, 9)),
    ])
    sequence = Sequence(name="Welcome", status="active", created_at=monday, updated_at=monday)
    db.session.add(sequence)
    db.session.flush()
    for key, status, sent in (("l1", "finished", 2), ("l2", "stopped", 1), ("l3", "active", 0)):
        db.session.add(SequenceEnrolment(sequence_id=sequence.id, lead_id=ids[key], status=status, sent=sent,
                                         how="hand", enrolled_at=datetime(2026, 11, 10, 8)))
    db.session.commit()
    return {"ids": ids, "max": max_, "mia": mia, "stages": stages}


def test_the_funnel_counts_leads_reaching_each_stage_and_the_win_rate(world):
    rows = {r["stage"]: r for r in reports.funnel(NOVEMBER)}
    assert [(s, rows[s]["leads"], rows[s]["reached"], rows[s]["conversion"]) for s in rows] == [
        ("New", 1, 5, None), ("Contacted", 1, 4, 80.0), ("Qualified", 1, 3, 75.0), ("Appointment set", 0, 1, 33.3),
        ("Won", 1, 1, 100.0), ("Lost", 1, 1, None)]  # Two, lost from Qualified, counts up to there
    assert rows["Won"]["win_rate"] == 50.0 and rows["Won"]["value"] == Decimal("1000.00")


def test_the_funnel_page_counts_a_lost_lead_where_it_got_to_and_says_what_reached_means(world, as_admin):
    body = as_admin.get(f"/reports/funnel?{RANGE}").get_data(as_text=True)
    cells = {m.group(1): re.findall(r'<td class="num">([^<]*)</td>', m.group(2))
             for m in re.finditer(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', body)}
    assert [cells[s][:3] for s in ("New", "Contacted", "Qualified", "Appointment set")] == [
        ["1", "5", "—"], ["1", "4", "80.0%"], ["1", "3", "75.0%"], ["0", "1", "33.3%"]]
    assert "Reached: got this far at some time (this stage or a later open one, or won), even if lost or moved " \
           "back since." in html.unescape(body)


def test_conversion_by_source_and_campaign_counts_won_lost_and_won_value(world):
    assert reports.conversion_by_source(NOVEMBER) == [
        {"name": "web", "leads": 3, "won": 1, "lost": 1, "conversion": 33.3, "win_rate": 50.0,
         "won_value": Decimal("1000.00")},
        {"name": "ads", "leads": 2, "won": 0, "lost": 0, "conversion": 0.0, "win_rate": None,
         "won_value": Decimal("0.00")}]
    campaigns = {r["name"]: r for r in reports.conversion_by_campaign(NOVEMBER)}
    assert campaigns["fall"]["won"] == 1 and campaigns["No campaign"]["leads"] == 4
    forms = reports.conversion_by_form(NOVEMBER)
    assert [(r["name"], r["leads"]) for r in forms] == [("No form (typed, imported or API)", 5)]


def test_speed_to_lead_has_median_90th_percentile_and_shares_within_five_minutes_and_the_target(world):
    assert reports.speed_by_member(NOVEMBER) == [
        {"name": "Max Member", "answered": 3, "median_minutes": 10.0, "p90_minutes": 30.0,
         "within_5_minutes": 33.3, "within_sla": 50.0},
        {"name": "Mia Member", "answered": 1, "median_minutes": 1.0, "p90_minutes": 1.0,
         "within_5_minutes": 100.0, "within_sla": None}]
    overall = reports.speed_overall(NOVEMBER)
    assert (overall["answered"], overall["median_minutes"], overall["p90_minutes"], overall["waiting"]) == (4, 2.0, 30.0, 1)
    assert {r["name"]: r["answered"] for r in reports.speed_by_source(NOVEMBER)} == {"web": 3, "ads": 1}


def test_stage_ageing_averages_time_in_each_open_stage_and_lists_the_leads_stuck_longest(world):
    rows = {r["stage"]: r for r in reports.stage_ageing(NOVEMBER, now=NOW)}
    assert (rows["Qualified"]["leads"], rows["Qualified"]["average_days"], rows["Qualified"]["longest_days"]) == (1, 10.0, 10.0)
    assert rows["New"]["average_days"] == 5.0 and rows["Appointment set"] == {
        "stage": "Appointment set", "leads": 0, "average_days": None, "longest_days": None}
    assert [(s["name"], s["days"]) for s in reports.stuck_leads(NOVEMBER, now=NOW)] == [
        ("Three Lead", 10.0), ("Four Lead", 5.0), ("Five Lead", 2.0)]


def test_team_activity_counts_each_members_touches_tasks_and_bookings_per_week(world):
    assert reports.team_activity(NOVEMBER) == [
        {"member": "Max Member", "week": date(2026, 11, 2), "touches": 3, "tasks_done": 0, "booked": 0, "confirmed": 0},
        {"member": "Max Member", "week": date(2026, 11, 9), "touches": 0, "tasks_done": 0, "booked": 1, "confirmed": 1},
        {"member": "Mia Member", "week": date(2026, 11, 9), "touches": 0, "tasks_done": 1, "booked": 0, "confirmed": 0}]
    only_ads = reports.team_activity(Filters(NOVEMBER.start, NOVEMBER.end, source="ads"))
    assert [(r["member"], r["booked"]) for r in only_ads] == [("Max Member", 1)]


def test_lost_reasons_sequences_and_the_weighted_forecast(world):
    assert reports.lost_reasons(NOVEMBER) == [{"reason": "Budget cut", "leads": 1, "share": 100.0, "value": Decimal("500.00")}]
    assert reports.sequence_results(NOVEMBER) == [
        {"sequence": "Welcome", "enrolled": 3, "running": 1, "finished": 1, "stopped": 1, "sent": 3, "won": 1,
         "won_share": 33.3}]
    assert reports.forecast(Filters(date(2026, 12, 1), date(2027, 5, 31))) == [
        {"month": "2026-12", "leads": 2, "value": Decimal("500.00"), "weighted": Decimal("190.00")},
        {"month": None, "leads": 2, "value": Decimal("0.00"), "weighted": Decimal("0.00")}]


def test_an_admin_sees_everyone_and_can_filter_by_owner(world, as_admin):
    page = as_admin.get(f"/reports/speed-member?{RANGE}").get_data(as_text=True)
    assert "Max Member" in page and "Mia Member" in page and "<svg" in page and "<table" in page
    page = as_admin.get(f"/reports/speed-member?{RANGE}&owner={world['mia'].id}").get_data(as_text=True)
    assert "Mia Member" in page and "Max Member</th>" not in page


def test_a_member_sees_only_their_own_numbers_whatever_the_url_says(world, as_member):
    page = as_member.get(f"/reports/speed-member?{RANGE}&owner={world['mia'].id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Max Member" in body and "Mia Member" not in body
    assert 'name="owner"' not in body  # no owner picker for a member
    csv = as_member.get(f"/reports/funnel/csv?{RANGE}").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").splitlines()
    # Max's November leads: one contacted, one won, one lost from Qualified.
    assert lines[1:] == ["New,0,3,,0.00,", "Contacted,1,3,100.0,200.00,", "Qualified,0,2,66.7,0.00,",
                         "Appointment set,0,1,50.0,0.00,", "Won,1,1,100.0,1000.00,50.0", "Lost,1,1,,500.00,50.0"]


def test_the_csv_has_the_tables_columns_and_plain_numbers(world, as_admin):
    response = as_admin.get(f"/reports/conversion-source/csv?{RANGE}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="conversion-source-2026-11-01-to-2026-11-30.csv"' in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True).lstrip("\ufeff").splitlines() == [
        "Source,Leads,Won,Lost,Conversion (%),Win rate (%),Won value (USD)", "web,3,1,1,33.3,50.0,1000.00",
        "ads,2,0,0,0.0,,0.00"]
    forecast = as_admin.get("/reports/forecast/csv?start=2026-12-01&end=2027-05-31").get_data(as_text=True)
    assert forecast.lstrip("\ufeff").splitlines()[1:] == ["2026-12,2,500.00,190.00", "No close date,2,0.00,0.00"]


def test_every_report_page_renders_with_a_chart_and_a_table(world, as_admin):
    from app.reports.routes import REPORTS
    for slug in REPORTS:
        dates = "start=2026-12-01&end=2027-05-31" if slug == "forecast" else RANGE  # it looks ahead
        response = as_admin.get(f"/reports/{slug}?{dates}")
        body = response.get_data(as_text=True)
        assert response.status_code == 200, slug
        assert 'role="img"' in body and "<caption" in body and f"/reports/{slug}/csv?" in body, slug
        assert "style=" not in body, slug
    index = as_admin.get("/reports").get_data(as_text=True)
    assert all(r.title in index for r in REPORTS.values())


def test_an_empty_report_says_what_to_do(world, as_admin):
    body = as_admin.get("/reports/lost-reasons?start=2020-01-01&end=2020-02-01").get_data(as_text=True)
    assert "Nothing in this range. Widen the dates or clear a filter." in body and 'class="bar-chart"' not in body
    body = as_admin.get("/reports/speed-member?start=2020-01-01&end=2020-02-01").get_data(as_text=True)
    assert "<dt>Answered</dt><dd>0</dd>" in body and "<dt>Median</dt>" not in body
    assert reports.speed_overall(Filters(date(2020, 1, 1), date(2020, 2, 1))) == {"answered": 0, "waiting": 0}


@pytest.mark.parametrize("query, field, message", [
    ("start=2026-11-30&end=2026-11-01", "end", "The range ends before it starts."),
    ("start=2000-01-01&end=2026-11-01", "end", "Pick a range of five years or less."),
    ("start=someday", "start", "Give a date like 2026-01-31."),
    ("start=9999-12-30&end=9999-12-31", "start", "Pick a date from 1970 to 2999."),
    ("owner=999999", "owner", "There is no such person on the team."),
    ("owner=abc", "owner", "There is no such person on the team."),
    ("source=nowhere", "source", "No lead has the source “nowhere”."),
])
def test_bad_filters_are_a_400_with_the_message_beside_the_filter(world, as_admin, query, field, message):
    for url in (f"/reports/funnel?{query}", f"/reports/funnel/csv?{query}"):
        response = as_admin.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert f'<p class="error" id="report-{field}-error">{message}' in body, url
        assert f'id="report-{field}"' in body and 'aria-invalid="true"' in body


def test_an_unknown_report_is_404(world, as_admin):
    assert as_admin.get("/reports/nonsense").status_code == 404


def test_an_admin_sets_a_stage_probability_in_the_stage_editor(world, as_admin):
    stage = world["stages"]["Appointment set"]
    data = {"name": stage.name, "colour": stage.colour, "kind": "open", "stale_days": "", "probability": "70"}
    response = as_admin.post(f"/settings/stages/{stage.id}", data=data)
    assert response.status_code in (302, 204)
    assert db.session.get(Stage, stage.id).probability == 70
    response = as_admin.post(f"/settings/stages/{stage.id}", data={**data, "probability": "170"})
    assert response.status_code == 422 and "Give a whole percentage from 0 to 100" in response.get_data(as_text=True)
    assert db.session.get(Stage, stage.id).probability == 70
    won = world["stages"]["Won"]  # a won or lost lead is decided: its stage keeps no probability
    as_admin.post(f"/settings/stages/{won.id}", data={"name": won.name, "colour": won.colour, "kind": "won",
                                                      "stale_days": "", "probability": "100"})
    assert db.session.get(Stage, won.id, populate_existing=True).probability is None


def test_a_lead_in_the_trash_counts_in_no_report(world, admin):
    from app.services import trash
    before = {r["name"]: r["leads"] for r in reports.conversion_by_source(NOVEMBER)}
    trash.trash(world["ids"]["l1"], admin.id)  # web's won lead
    after = {r["name"]: r for r in reports.conversion_by_source(NOVEMBER)}
    assert before["web"] == 3 and after["web"]["leads"] == 2 and after["web"]["won"] == 0
    assert {r["stage"]: r["leads"] for r in reports.funnel(NOVEMBER)}["Won"] == 0


def test_response_times_read_as_durations():
    from app.reports.routes import duration
    assert [duration(m) for m in (0.5, 2.0, 12.54, 200, 16256.0, None)] == [
        "30 s", "2 min", "12.5 min", "3 h 20 min", "11 d 6 h", "—"]


def test_the_other_reports_open_on_their_own_range_unless_the_url_chose_one(world, as_admin):
    page = as_admin.get("/reports/forecast").get_data(as_text=True)
    funnel_link = re.search(r'<a href="(/reports/funnel[^"]*)"', page).group(1)
    assert "start=" not in funnel_link  # the forecast's months ahead are not the funnel's range
    page = as_admin.get("/reports/funnel?start=2026-11-01&end=2026-11-30&source=web").get_data(as_text=True)
    links = dict(re.findall(r'<a href="/reports/([a-z-]+)(\?[^"]*)?"', page))
    assert "start=2026-11-01" in html.unescape(links["conversion-source"]) and "source=web" in links["conversion-source"]
    assert "start=" not in links["forecast"] and "source=web" in links["forecast"]


def test_expected_close_dates_set_on_the_lead_form_and_the_api_put_open_leads_in_the_forecast(
        app, stages, member, as_member, make_lead):
    """Nothing set the column before it was a lead field: the forecast had only its "No close date" row."""
    from app.services import leads as lead_service
    db.session.execute(update(Stage).where(Stage.id == stages["Qualified"].id).values(probability=50))
    db.session.execute(update(Stage).where(Stage.id == stages["Contacted"].id).values(probability=20))
    db.session.commit()
    ada = make_lead(first_name="Ada", stage="Qualified", value="1000", owner=member)
    bob = make_lead(first_name="Bob", stage="Contacted", value="400", owner=member)
    make_lead(first_name="Cy", stage="New", value="50", owner=member)
    span = Filters(date(2031, 1, 1), date(2031, 12, 31))
    assert reports.forecast(span) == [{"month": None, "leads": 3, "value": Decimal("1450.00"),
                                       "weighted": Decimal("580.00")}]
    response = as_member.post(f"/leads/{ada.id}/edit", {"first_name": "Ada", "last_name": "Lead", "value": "1000",
                                                        "expected_close_on": "2031-03-10", "version": str(ada.version)})
    assert response.status_code == 302
    lead_service.update_lead(bob.id, {"expected_close_on": "2031-05-31"}, member.id)
    assert reports.forecast(span) == [
        {"month": "2031-03", "leads": 1, "value": Decimal("1000.00"), "weighted": Decimal("500.00")},
        {"month": "2031-05", "leads": 1, "value": Decimal("400.00"), "weighted": Decimal("80.00")},
        {"month": None, "leads": 1, "value": Decimal("50.00"), "weighted": Decimal("0.00")}]
    stored = dict(db.session.execute(select(Lead.id, Lead.expected_close_on)
                                     .where(Lead.expected_close_on.is_not(None))).all())
    assert stored == {ada.id: date(2031, 3, 10), bob.id: date(2031, 5, 31)}


# --- the team's days ------------------------------------------------------------------------------


def set_team_zone(zone: str) -> None:
    from app.services import team_settings
    team_settings.save(zone, None)


def test_a_lead_captured_at_half_past_eleven_at_night_counts_on_that_local_day(app, stages, make_lead, as_admin):
    """23:30 on 30 November in New York is 04:30 on 1 December in UTC: the team's report puts it on the 30th."""
    lead = make_lead(first_name="Late", source="night")
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=datetime(2026, 12, 1, 4, 30)))
    db.session.commit()
    new_york = "America/New_York"

    def counted(start, end, zone):
        return {r["name"]: r["leads"] for r in reports.conversion_by_source(Filters(start, end, zone=zone))}

    assert counted(date(2026, 11, 30), date(2026, 11, 30), new_york) == {"night": 1}
    assert counted(date(2026, 12, 1), date(2026, 12, 1), new_york) == {}
    assert counted(date(2026, 12, 1), date(2026, 12, 1), "UTC") == {"night": 1}  # what UTC days said
    set_team_zone(new_york)
    body = as_admin.get("/reports/conversion-source?start=2026-11-30&end=2026-11-30").get_data(as_text=True)
    assert '<th scope="row">night</th>' in body
    assert ('<p class="sub report-zone">Days run from midnight to midnight in the team\'s time zone, '
            'Eastern Time (New York).</p>') in body
    body = as_admin.get("/reports/conversion-source?start=2026-12-01&end=2026-12-01").get_data(as_text=True)
    assert '<th scope="row">night</th>' not in body and "Nothing in this range." in body


def test_a_range_runs_from_local_midnight_to_local_midnight_across_a_daylight_saving_change():
    """Berlin leaves summer time on Sunday 25 October 2026: that week began at 22:00 UTC and ends at 23:00."""
    week = Filters(date(2026, 10, 19), date(2026, 10, 25), zone="Europe/Berlin")
    assert (week.since, week.until) == (datetime(2026, 10, 18, 22), datetime(2026, 10, 25, 23))
    spring = Filters(date(2026, 3, 29), date(2026, 3, 29), zone="Europe/Berlin")  # a 23-hour day
    assert (spring.since, spring.until) == (datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22))
    utc = Filters(date(2026, 10, 19), date(2026, 10, 25))
    assert (utc.since, utc.until) == (datetime(2026, 10, 19), datetime(2026, 10, 26))


def test_team_activity_weeks_start_on_the_teams_local_monday_through_a_daylight_saving_week(
        app, stages, member, make_lead):
    lead = make_lead(first_name="Busy", owner=member)
    at = {"sun_late_summer": datetime(2026, 10, 18, 21, 30),  # Sun 18 Oct 23:30 CEST: the week of 12 Oct
          "mon_early": datetime(2026, 10, 18, 22, 30),  # Mon 19 Oct 00:30 CEST
          "sun_late_winter": datetime(2026, 10, 25, 22, 30),  # Sun 25 Oct 23:30 CET (after the change)
          "next_mon_early": datetime(2026, 10, 25, 23, 30)}  # Mon 26 Oct 00:30 CET
    db.session.add_all([Activity(lead_id=lead.id, user_id=member.id, kind="call", note=name, created_at=when)
                        for name, when in at.items()])
    db.session.commit()

    def weeks(start, end, zone):
        return [(r["week"], r["touches"]) for r in reports.team_activity(Filters(start, end, zone=zone))]

    october = (date(2026, 10, 1), date(2026, 10, 31))
    assert weeks(*october, "Europe/Berlin") == [(date(2026, 10, 12), 1), (date(2026, 10, 19), 2), (date(2026, 10, 26), 1)]
    assert weeks(*october, "UTC") == [(date(2026, 10, 12), 2), (date(2026, 10, 19), 2)]
    assert weeks(date(2026, 10, 19), date(2026, 10, 25), "Europe/Berlin") == [(date(2026, 10, 19), 2)]
    # The spring change too, in a zone west of UTC: New York's summer time began on Sunday 8 March 2026.
    db.session.add_all([Activity(lead_id=lead.id, user_id=member.id, kind="call", note="", created_at=when)
                        for when in (datetime(2026, 3, 9, 3, 30),  # Sun 8 Mar 23:30 EDT
                                     datetime(2026, 3, 9, 4, 30),  # Mon 9 Mar 00:30 EDT
                                     datetime(2026, 3, 2, 4, 30))])  # Sun 1 Mar 23:30 EST
    db.session.commit()
    assert weeks(date(2026, 3, 1), date(2026, 3, 15), "America/New_York") == [
        (date(2026, 2, 23), 1), (date(2026, 3, 2), 1), (date(2026, 3, 9), 1)]


def test_default_ranges_end_on_the_teams_local_today(app, admin):
    assert reports.local_today("Pacific/Auckland", datetime(2026, 12, 5, 12, 0)) == date(2026, 12, 6)
    assert reports.local_today("America/Los_Angeles", datetime(2026, 12, 5, 3, 0)) == date(2026, 12, 4)
    set_team_zone("Pacific/Kiritimati")  # UTC+14: its today is tomorrow in UTC for 14 hours a day
    f = reports.clean_filters({}, report="funnel", viewer_id=admin.id, see_everyone=True)
    assert f.zone == "Pacific/Kiritimati" and f.end == reports.local_today("Pacific/Kiritimati")
    assert f.start == f.end - timedelta(days=reports.DEFAULT_DAYS - 1)
    ahead = reports.clean_filters({}, report="forecast", viewer_id=admin.id, see_everyone=True)
    assert ahead.start == f.end.replace(day=1)


def test_demo_leads_that_were_worked_have_a_whole_first_response_for_speed_to_lead(app, stages, admin, member):
    """The demo's worked leads were answered by their owner, with the seconds and who: speed to lead
    counts them (it had read only the time, so it showed a handful answered of hundreds)."""
    from app.services.demo import bulk_leads
    bulk_leads(200, [admin.id, member.id], list(stages.values()), notes=False)
    db.session.commit()
    answered = list(db.session.execute(select(Lead.first_response_at, Lead.first_response_seconds,
                                              Lead.first_response_by_id, Lead.created_at, Lead.owner_id)
                                       .where(Lead.first_response_at.is_not(None))))
    assert len(answered) > 50
    for at, seconds, by, created, owner in answered:
        assert seconds > 0 and by == owner and abs((at - created).total_seconds() - seconds) < 1
    today = datetime.utcnow().date()
    overall = reports.speed_overall(reports.Filters(today - timedelta(days=100), today))
    assert overall["answered"] == len(answered)


# --- what a new user read (issue 16) --------------------------------------------------------------


def test_every_bad_filter_is_reported_at_once_and_what_was_typed_stays_in_the_form(world, as_admin):
    query = "start=someday&end=2026-13-45&source=nowhere"
    for url in (f"/reports/funnel?{query}", f"/reports/funnel/csv?{query}"):
        response = as_admin.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert '<p class="error" id="report-start-error">Give a date like 2026-01-31.' in body
        assert '<p class="error" id="report-end-error">Give a date like 2026-01-31.' in body
        assert '<p class="error" id="report-source-error">No lead has the source “nowhere”.' in body
        # A date input would blank what is not a date: the typed text comes back as text.
        start = re.search(r'<input id="report-start"[^>]*>', body).group(0)
        end = re.search(r'<input id="report-end"[^>]*>', body).group(0)
        assert 'type="text"' in start and 'value="someday"' in start and 'aria-invalid="true"' in start
        assert 'type="text"' in end and 'value="2026-13-45"' in end and 'aria-describedby="report-end-error"' in end
        assert "Fix the 3 filters marked above to see this report." in body
    body = as_admin.get("/reports/funnel?start=2026-11-30&end=2026-11-01").get_data(as_text=True)
    end = re.search(r'<input id="report-end"[^>]*>', body).group(0)
    assert 'type="date"' in end and 'value="2026-11-01"' in end  # a real date keeps its date picker
    assert "Fix the filter marked above to see this report." in body


def test_clean_filters_names_every_wrong_field(world, admin):
    with pytest.raises(reports.FilterError) as refused:
        reports.clean_filters({"start": "x", "end": "2026-02-30", "owner": "abc"}, report="funnel",
                              viewer_id=admin.id, see_everyone=True)
    assert refused.value.errors == {"start": "Give a date like 2026-01-31.", "end": "Give a date like 2026-01-31.",
                                    "owner": "There is no such person on the team. Pick one from the list."}
    assert (refused.value.field, refused.value.message) == ("start", "Give a date like 2026-01-31.")


def test_csv_headers_carry_their_units(world, as_admin):
    def header(slug, query=RANGE):
        return as_admin.get(f"/reports/{slug}/csv?{query}").get_data(as_text=True).lstrip("\ufeff").splitlines()[0]

    assert header("speed-member") == ("Member,Answered,Median (minutes),90th percentile (minutes),"
                                      "Within 5 minutes (%),Within target (%)")
    assert header("ageing") == "Stage,Open leads,Average time here (days),Longest (days)"
    assert header("forecast", "start=2026-12-01&end=2027-05-31") == (
        "Expected close,Open leads,Open value (USD),Weighted value (USD)")


def test_the_speed_chart_title_and_its_bars_read_as_durations(world, as_admin):
    body = as_admin.get(f"/reports/speed-member?{RANGE}").get_data(as_text=True)
    title = re.search(r'<figcaption id="chart-title">([^<]*)', body).group(1)
    assert title == "Median time to first response, by member" and "minutes" not in title
    values = re.findall(r'<span class="bar-value">([^<]*)</span>', body)
    assert values and all(re.fullmatch(r"[0-9.,]+ (s|min|h( [0-9]+ min)?|d( [0-9]+ h)?)", v) for v in values), values


def test_a_forecast_with_nothing_to_weigh_says_what_to_do_next(world, as_admin, as_member):
    # Only open leads without a close date (and so one $0 bar before): no chart, the steps instead.
    body = as_admin.get("/reports/forecast?start=2030-01-01&end=2030-06-30").get_data(as_text=True)
    assert 'class="bar-chart"' not in body and 'id="forecast-empty"' in body
    assert "Nothing to forecast yet." in body and '<a href="/settings/stages">' in body
    assert "No open stage has a probability yet." not in body  # Qualified and Contacted have one
    assert '<th scope="row">No close date</th>' in body  # the table still says how many are undated
    db.session.execute(update(Stage).values(probability=None))
    db.session.commit()
    body = as_admin.get("/reports/forecast?start=2026-12-01&end=2027-05-31").get_data(as_text=True)
    assert "No open stage has a probability yet." in body and 'class="bar-chart"' not in body
    db.session.execute(update(Stage).where(Stage.id == world["stages"]["Qualified"].id).values(probability=50))
    db.session.commit()
    body = as_admin.get("/reports/forecast?start=2026-12-01&end=2027-05-31").get_data(as_text=True)
    assert 'class="bar-chart"' in body and 'id="forecast-empty"' not in body  # December: $300 at 50%


def test_a_members_empty_forecast_asks_them_to_ask_an_admin(world, as_member):
    body = as_member.get("/reports/forecast?start=2030-01-01&end=2030-06-30").get_data(as_text=True)
    assert "Nothing to forecast yet." in body and "Ask an admin to set each open stage" in body
    assert 'href="/settings/stages"' not in body and '<a href="/leads">Leads</a>' in body


def test_a_member_who_asks_for_someone_elses_figures_is_told_they_see_their_own(world, as_member, member):
    body = as_member.get(f"/reports/funnel?{RANGE}&owner={world['mia'].id}").get_data(as_text=True)
    assert "You see your own figures: reports show each member their own leads and work only" in body
    for query in (RANGE, f"{RANGE}&owner={member.id}"):
        body = as_member.get(f"/reports/funnel?{query}").get_data(as_text=True)
        assert "You see your own figures" not in body and "Your own leads and work only." in body


def test_the_zone_line_reads_cleanly_in_utc(world, as_admin):
    body = as_admin.get(f"/reports/funnel?{RANGE}").get_data(as_text=True)
    assert '<p class="sub report-zone">Days run from midnight to midnight UTC.</p>' in body
    assert "local midnight" not in body
