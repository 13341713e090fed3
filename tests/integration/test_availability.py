"""Who can take a lead now (active, not away, inside working hours in their own timezone) and how
many open leads each person holds. The clock is frozen by passing `now`."""
from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest
from markupsafe import escape

from app.extensions import db
from app.models import User, WorkingHours
from app.services import ServiceError
from app.services.availability import available, open_lead_counts, set_availability, within_hours
from app.services.leads import assign_lead
from app.services.users import set_active

# Thursday 3 December 2026, 14:00 UTC.
THURSDAY_2PM_UTC = datetime(2026, 12, 3, 14, 0)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
NINE_TO_FIVE = {day: (time(9), time(17)) for day in (MON, TUE, WED, THU, FRI)}


def with_timezone(user: User, zone: str | None) -> User:
    user.timezone = zone
    db.session.commit()
    return user


def test_people_without_working_hours_or_absence_are_available(make_user):
    ada, bo = make_user(), make_user()
    assert available([ada.id, bo.id], THURSDAY_2PM_UTC) == {ada.id, bo.id}


def test_nobody_asked_for_means_nobody_and_no_query(count_queries):
    with count_queries() as counter:
        assert available([], THURSDAY_2PM_UTC) == set()
        assert open_lead_counts([]) == {}
    assert counter.count == 0


def test_deactivated_and_unknown_people_are_not_available(make_user):
    ada, bo = make_user(), make_user()
    set_active(bo.id, False)
    assert available([ada.id, bo.id, 999_999], THURSDAY_2PM_UTC) == {ada.id}


def test_away_lasts_through_the_last_day_in_the_persons_own_timezone(make_user):
    ada = with_timezone(make_user(), "Pacific/Auckland")  # UTC+13 in December
    set_availability(ada.id, date(2026, 12, 4), {}, now=THURSDAY_2PM_UTC)
    # Thursday 14:00 UTC is already Friday 03:00 in Auckland, still her last day away.
    assert available([ada.id], THURSDAY_2PM_UTC) == set()
    # Friday 11:00 UTC is Saturday 00:00 in Auckland: she is back.
    assert available([ada.id], datetime(2026, 12, 4, 11, 0)) == {ada.id}
    # In UTC the same Friday 11:00 would still be the last day away.
    bo = with_timezone(make_user(), "UTC")
    set_availability(bo.id, date(2026, 12, 4), {}, now=THURSDAY_2PM_UTC)
    assert available([bo.id], datetime(2026, 12, 4, 11, 0)) == set()
    assert available([bo.id], datetime(2026, 12, 5, 0, 0)) == {bo.id}


def test_working_hours_are_read_in_each_persons_timezone(make_user):
    berlin = with_timezone(make_user(), "Europe/Berlin")         # 14:00 UTC is 15:00 there
    new_york = with_timezone(make_user(), "America/New_York")    # 14:00 UTC is 09:00 there
    los_angeles = with_timezone(make_user(), "America/Los_Angeles")  # 06:00 there
    for user in (berlin, new_york, los_angeles):
        set_availability(user.id, None, NINE_TO_FIVE, now=THURSDAY_2PM_UTC)
    assert available([berlin.id, new_york.id, los_angeles.id], THURSDAY_2PM_UTC) == {berlin.id, new_york.id}


def test_a_person_without_a_timezone_works_in_the_teams(app, make_user):
    from app.services.team_settings import save
    ada = with_timezone(make_user(), None)
    set_availability(ada.id, None, NINE_TO_FIVE, now=THURSDAY_2PM_UTC)
    save("Asia/Tokyo", None)  # 14:00 UTC is 23:00 in Tokyo
    assert available([ada.id], THURSDAY_2PM_UTC) == set()
    save("Europe/London", None)
    assert available([ada.id], THURSDAY_2PM_UTC) == {ada.id}


def test_a_night_shift_runs_past_midnight_into_the_next_day(make_user):
    ada = with_timezone(make_user(), "Europe/Berlin")
    set_availability(ada.id, None, {MON: (time(22), time(6))}, now=THURSDAY_2PM_UTC)
    monday_2330_berlin = datetime(2026, 11, 30, 22, 30)  # UTC
    tuesday_0530_berlin = datetime(2026, 12, 1, 4, 30)
    tuesday_0600_berlin = datetime(2026, 12, 1, 5, 0)
    monday_2130_berlin = datetime(2026, 11, 30, 20, 30)
    sunday_2330_berlin = datetime(2026, 11, 29, 22, 30)
    assert available([ada.id], monday_2330_berlin) == {ada.id}
    assert available([ada.id], tuesday_0530_berlin) == {ada.id}
    assert available([ada.id], tuesday_0600_berlin) == set()
    assert available([ada.id], monday_2130_berlin) == set()
    assert available([ada.id], sunday_2330_berlin) == set()


def test_a_day_without_hours_is_a_day_off_for_someone_with_hours(make_user):
    ada = with_timezone(make_user(), "UTC")
    set_availability(ada.id, None, NINE_TO_FIVE, now=THURSDAY_2PM_UTC)
    assert available([ada.id], datetime(2026, 12, 5, 14, 0)) == set()  # Saturday


def test_an_aware_now_means_the_same_instant(make_user):
    from zoneinfo import ZoneInfo
    ada = with_timezone(make_user(), "UTC")
    set_availability(ada.id, None, {THU: (time(13), time(15))}, now=THURSDAY_2PM_UTC)
    assert available([ada.id], datetime(2026, 12, 3, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))) == {ada.id}


def test_within_hours_alone():
    thursday_noon = datetime(2026, 12, 3, 12, 0)
    assert within_hours({}, thursday_noon)
    assert within_hours({THU: (time(12), time(13))}, thursday_noon)
    assert not within_hours({THU: (time(9), time(12))}, thursday_noon)  # the end is not in the shift
    assert within_hours({WED: (time(20), time(12, 30))}, thursday_noon)
    assert within_hours({SUN: (time(23), time(1))}, datetime(2026, 12, 7, 0, 30))  # into Monday


def test_saving_availability_replaces_the_shifts_and_refuses_bad_input(make_user):
    ada = with_timezone(make_user(), "UTC")
    set_availability(ada.id, date(2026, 12, 10), NINE_TO_FIVE, now=THURSDAY_2PM_UTC)
    set_availability(ada.id, None, {SAT: (time(10), time(14))}, now=THURSDAY_2PM_UTC)
    db.session.expire_all()
    user = db.session.get(User, ada.id)
    assert user.away_until is None
    assert [(h.weekday, h.starts_at, h.ends_at) for h in user.working_hours] == [(SAT, time(10), time(14))]
    with pytest.raises(ServiceError) as same:
        set_availability(ada.id, None, {TUE: (time(9), time(9))}, now=THURSDAY_2PM_UTC)
    assert same.value.field == "day1_start" and "Tuesday" in same.value.message
    with pytest.raises(ServiceError) as past:
        set_availability(ada.id, date(2026, 12, 2), {}, now=THURSDAY_2PM_UTC)
    assert past.value.field == "away_until"
    db.session.expire_all()
    assert [h.weekday for h in db.session.get(User, ada.id).working_hours] == [SAT]  # nothing of it saved


def test_deleting_a_user_deletes_their_hours(make_user):
    ada = make_user()
    set_availability(ada.id, None, NINE_TO_FIVE, now=THURSDAY_2PM_UTC)
    db.session.delete(db.session.get(User, ada.id))
    db.session.commit()
    assert db.session.query(WorkingHours).count() == 0


def test_open_lead_counts_count_only_open_stages_per_owner_in_one_query(make_user, make_lead, stages,
                                                                        count_queries, admin):
    ada, bo, cy = make_user(), make_user(), make_user()
    make_lead(owner=ada)
    make_lead(owner=ada, stage="Contacted")
    make_lead(owner=ada, stage="Won")
    make_lead(owner=ada, stage="Lost")
    make_lead(owner=bo)
    make_lead()  # in the pool
    moved = make_lead(owner=cy)
    assign_lead(moved.id, bo.id, admin.id)
    ids = [ada.id, bo.id, cy.id]
    with count_queries() as counter:
        counts = open_lead_counts(ids)
    assert counts == {ada.id: 2, bo.id: 2, cy.id: 0}
    assert counter.count == 1


# --- the forms: a member's own on /account, an admin's for anyone on /settings/users -------------


def hours_form(**changes) -> dict:
    data = {"away_until": "", **{f"day{d}_{part}": "" for d in range(7) for part in ("start", "end")}}
    data.update(changes)
    return data


def test_a_member_sets_their_own_away_date_and_hours_on_the_account_page(as_member, member):
    page = as_member.get("/account").get_data(as_text=True)
    assert 'id="availability-h">Availability' in page
    assert re.search(r'<label for="day0_start"><span class="visually-hidden">Monday </span>from</label>', page)
    response = as_member.post("/account/availability", hours_form(away_until="2099-12-12", day0_start="09:00",
                                                                 day0_end="17:00", day4_start="22:00",
                                                                 day4_end="06:00"))
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    db.session.expire_all()
    user = db.session.get(User, member.id)
    assert user.away_until == date(2099, 12, 12)
    assert [(h.weekday, h.starts_at, h.ends_at) for h in user.working_hours] == [
        (MON, time(9), time(17)), (FRI, time(22), time(6))]
    again = as_member.get("/account").get_data(as_text=True)
    assert 'value="2099-12-12"' in again and re.search(r'id="day4_end"[^>]*value="06:00"', again)


@pytest.mark.parametrize("changes, field, message", [
    ({"day1_start": "09:00"}, "day1_start", "Give Tuesday both a start and an end time, or neither."),
    ({"day2_start": "09:00", "day2_end": "09:00"}, "day2_start", "Wednesday's hours start and end at the same time"),
    ({"day3_start": "nine", "day3_end": "17:00"}, "day3_start", "Enter a time as hours and minutes, e.g. 09:00"),
    ({"away_until": "next week"}, "away_until", "Enter a date such as 2026-12-24, or leave it empty."),
    ({"away_until": "2001-01-01"}, "away_until", "Pick today or a later day"),
])
def test_bad_availability_is_refused_beside_its_field(as_member, member, changes, field, message):
    response = as_member.post("/account/availability", hours_form(**changes), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert re.search(f'id="{field}-error">' + re.escape(str(escape(message))), body), body
    assert 'aria-invalid="true"' in body
    db.session.expire_all()
    assert db.session.get(User, member.id).working_hours == []


def test_availability_needs_the_csrf_token(as_member, member):
    response = as_member.post("/account/availability", hours_form(away_until="2099-12-12"), csrf=False)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, member.id).away_until is None


def test_an_admin_sets_a_teammates_availability_and_the_team_page_shows_away(as_admin, member):
    page = as_admin.get(f"/settings/users/{member.id}/availability").get_data(as_text=True)
    assert "Max Member's availability" in page
    response = as_admin.post(f"/settings/users/{member.id}/availability",
                             hours_form(away_until="2099-12-12", day0_start="08:00", day0_end="12:00"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, member.id).away_until == date(2099, 12, 12)
    team = as_admin.get("/settings/users").get_data(as_text=True)
    assert "Away until 12 Dec 2099" in team


def test_the_team_page_shows_only_people_away_now(as_admin, member, make_user):
    back = make_user(name="Back Again")
    set_availability(back.id, date(2026, 1, 1), {}, now=datetime(2025, 12, 1))  # long over
    set_availability(member.id, date.today().replace(year=date.today().year + 1), {})
    team = as_admin.get("/settings/users").get_data(as_text=True)
    assert team.count("Away until") == 1


def test_members_cannot_set_someone_elses_availability(as_member, admin):
    assert as_member.get(f"/settings/users/{admin.id}/availability").status_code == 403
    response = as_member.post(f"/settings/users/{admin.id}/availability", hours_form(away_until="2099-12-12"))
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, admin.id).away_until is None


def test_an_unknown_teammates_availability_is_not_found(as_admin):
    assert as_admin.get("/settings/users/999999/availability").status_code == 404
