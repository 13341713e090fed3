"""Business time across weekends, a daylight-saving change and holidays (pure: no database, no clock)."""
from datetime import date, datetime, timedelta

from app.services.business_time import Calendar, elapsed, reach

NINE_TO_FIVE = {day: ((9 * 60, 17 * 60),) for day in range(5)}
BERLIN = Calendar("Europe/Berlin", NINE_TO_FIVE)


def test_a_weekend_does_not_count():
    friday_4pm = datetime(2026, 1, 9, 15, 0)  # 16:00 CET
    monday_10am = datetime(2026, 1, 12, 9, 0)  # 10:00 CET
    assert elapsed(BERLIN, friday_4pm, monday_10am) == 2 * 3600
    assert reach(BERLIN, friday_4pm, 2 * 3600) == monday_10am


def test_business_time_across_the_spring_change_follows_the_wall_clock():
    # Berlin moves from CET (+1) to CEST (+2) on Sunday 29 March 2026.
    friday_4pm = datetime(2026, 3, 27, 15, 0)  # 16:00 CET
    monday_10am = datetime(2026, 3, 30, 8, 0)  # 10:00 CEST
    assert elapsed(BERLIN, friday_4pm, monday_10am) == 2 * 3600
    assert reach(BERLIN, friday_4pm, 2 * 3600) == monday_10am
    assert elapsed(None, friday_4pm, monday_10am) == 65 * 3600  # clock time counts the weekend


def test_business_time_across_the_autumn_change_follows_the_wall_clock():
    friday_4pm = datetime(2026, 10, 23, 14, 0)  # 16:00 CEST
    monday_10am = datetime(2026, 10, 26, 9, 0)  # 10:00 CET
    assert elapsed(BERLIN, friday_4pm, monday_10am) == 2 * 3600
    assert reach(BERLIN, friday_4pm, 2 * 3600) == monday_10am


def test_a_day_the_change_shortens_or_lengthens_counts_the_hours_that_passed():
    night = Calendar("Europe/Berlin", {6: ((60, 4 * 60),)})  # Sundays 01:00-04:00
    spring, autumn = datetime(2026, 3, 28, 0, 0), datetime(2026, 10, 24, 0, 0)
    assert elapsed(night, spring, spring + timedelta(days=2)) == 2 * 3600  # 02:00-03:00 never happens
    assert elapsed(night, autumn, autumn + timedelta(days=2)) == 4 * 3600  # 02:00-03:00 happens twice


def test_hours_that_start_in_the_skipped_hour_open_at_the_change():
    new_york = Calendar("America/New_York", {6: ((2 * 60 + 30, 5 * 60),)})  # Sundays 02:30-05:00
    saturday = datetime(2026, 3, 7, 12, 0)
    assert reach(new_york, saturday, 1) == datetime(2026, 3, 8, 7, 0, 1)  # 03:00 EDT, the change
    assert elapsed(new_york, saturday, saturday + timedelta(days=2)) == 2 * 3600


def test_a_holiday_is_skipped():
    with_holiday = Calendar("Europe/Berlin", NINE_TO_FIVE, frozenset({date(2026, 3, 30)}))
    friday_4pm = datetime(2026, 3, 27, 15, 0)
    tuesday_10am = datetime(2026, 3, 31, 8, 0)
    assert reach(with_holiday, friday_4pm, 2 * 3600) == tuesday_10am
    assert elapsed(with_holiday, friday_4pm, tuesday_10am) == 2 * 3600


def test_a_start_outside_hours_waits_for_the_next_opening():
    saturday = datetime(2026, 1, 10, 12, 0)
    assert reach(BERLIN, saturday, 5 * 60) == datetime(2026, 1, 12, 8, 5)  # Monday 09:05 CET
    assert elapsed(BERLIN, saturday, datetime(2026, 1, 11, 20, 0)) == 0


def test_split_days_count_both_ranges():
    split = Calendar("UTC", {0: ((9 * 60, 12 * 60), (13 * 60, 17 * 60))})
    monday = datetime(2026, 1, 12, 11, 0)
    assert reach(split, monday, 2 * 3600) == datetime(2026, 1, 12, 14, 0)
    assert elapsed(split, monday, datetime(2026, 1, 12, 14, 0)) == 2 * 3600


def test_no_hours_means_every_hour_counts_except_holidays():
    always = Calendar("Europe/Berlin", {}, frozenset({date(2027, 1, 1)}))
    new_year_eve = datetime(2026, 12, 31, 22, 0)  # 23:00 CET
    # One hour on the 31st, none on the holiday, one from midnight on the 2nd.
    assert elapsed(always, new_year_eve, datetime(2027, 1, 2, 0, 0)) == 2 * 3600
    assert reach(Calendar("UTC"), new_year_eve, 90) == new_year_eve + timedelta(seconds=90)


def test_reach_and_elapsed_agree():
    start = datetime(2026, 3, 26, 7, 13, 5)
    for seconds in (1, 59, 3600, 8 * 3600, 8 * 3600 + 1, 40 * 3600, 123_457):
        due = reach(BERLIN, start, seconds)
        assert elapsed(BERLIN, start, due) == seconds


def test_a_calendar_that_never_opens_has_no_due_time():
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(130))
    only_mondays = Calendar("UTC", {0: ((9 * 60, 17 * 60),)}, mondays)
    assert reach(only_mondays, datetime(2026, 1, 1), 60) is None


def test_hours_typed_with_en_or_em_dashes_read_as_ranges():
    """Word processors and phones turn "9-12" into "9–12": the same hours, not a 422."""
    from app.services.sla import parse_ranges
    assert parse_ranges("9–12, 13:00—17:30", 0) == ((540, 720), (780, 1050))
