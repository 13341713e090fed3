"""Who can take a lead now (active, not away, inside working hours in their own timezone) and how
many open leads each person holds. The clock is frozen by passing `now`."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

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
    assert same.value.field == "day1" and "Tuesday" in same.value.message
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
