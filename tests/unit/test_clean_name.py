"""The one rule for names admins give things (services.clean_name)."""
import pytest

from app.services import ServiceError, clean_name


@pytest.mark.parametrize("raw", ["\u200b", " \u200b ", "\u202eecnerefer", "a\u0000b", "\u2060"])
def test_invisible_or_control_characters_are_refused(raw):
    with pytest.raises(ServiceError) as caught:
        clean_name(raw, "reason", 60)
    assert caught.value.field == "name"


@pytest.mark.parametrize("raw, clean", [("  Price  ", "Price"), ("No   budget", "No budget"), ("École ✓", "École ✓"),
                                        ("Prix – élevé", "Prix – élevé")])
def test_visible_names_are_kept_with_spaces_collapsed(raw, clean):
    assert clean_name(raw, "reason", 60) == clean


@pytest.mark.parametrize("raw", ["20261201", "2026-W52-5", "2026-12-1", "２０２６-12-01", "2026-02-30", "", None])
def test_a_day_is_only_ever_yyyy_mm_dd(raw):
    from app.services import iso_day
    assert iso_day(raw) is None


def test_a_plain_day_reads():
    from datetime import date

    from app.services import iso_day
    assert iso_day(" 2026-12-01 ") == date(2026, 12, 1)
