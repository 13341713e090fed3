from datetime import date, datetime
from decimal import Decimal

import pytest

from app.filters import age, money
from app.services import ServiceError
from app.services.auth import WeakPassword, check_password_strength, hasher
from app.services.leads import clean_fields, json_value, normalize_email, normalize_phone, normalize_value


def test_emails_are_trimmed_and_lowercased():
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("bad", ["ada", "ada@", "@example.com", "ada@@example.com", "a b@example.com"])
def test_an_invalid_email_is_refused_with_a_message_for_the_email_field(bad):
    with pytest.raises(ServiceError) as err:
        normalize_email(bad)
    assert err.value.field == "email" and "valid email" in err.value.message


@pytest.mark.parametrize("raw, e164", [("(415) 555-0123", "+14155550123"), ("+44 20 7946 0958", "+442079460958"),
                                       ("415.555.0123", "+14155550123")])
def test_phones_are_stored_as_e164(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("bad", ["12", "call me", "+999 1", "555"])
def test_a_phone_that_cannot_be_a_number_is_refused(bad):
    with pytest.raises(ServiceError) as err:
        normalize_phone(bad)
    assert err.value.field == "phone"


def test_deal_values_are_money_with_two_decimals():
    assert normalize_value("2,500.5") == Decimal("2500.50")
    assert normalize_value("") is None


@pytest.mark.parametrize("bad, words", [("-5", "negative"), ("ten", "number"), ("1e20", "too large"), ("NaN", "negative"),
                                        ("999999999999.995", "too large")])
def test_bad_deal_values_are_refused_with_a_reason(bad, words):
    with pytest.raises(ServiceError) as err:
        normalize_value(bad)
    assert words in err.value.message and err.value.field == "value"


def test_a_lead_needs_a_name_a_company_an_email_or_a_phone():
    with pytest.raises(ServiceError) as err:
        clean_fields({"first_name": " ", "last_name": "", "email": "", "company": " ", "phone": ""})
    assert err.value.message == "Give the lead a name, a company, an email address or a phone number."
    assert clean_fields({"first_name": "", "last_name": "", "email": "", "company": " Acme "})["company"] == "Acme"
    assert clean_fields({"first_name": "", "email": "", "phone": "+1 415 555 0123"})["phone"] == "+14155550123"


@pytest.mark.parametrize("typed, kept", [
    ("acme.com", "https://acme.com"), (" www.acme.com/about ", "https://www.acme.com/about"),
    ("http://acme.com", "http://acme.com"), ("HTTPS://Acme.com/X", "HTTPS://Acme.com/X"), ("", None)])
def test_a_website_is_kept_as_a_web_address(typed, kept):
    assert clean_fields({"website": typed})["website"] == kept


@pytest.mark.parametrize("typed", ["acme", "ftp://acme.com", "mailto:ada@acme.com", "acme .com", "https://"])
def test_a_website_that_is_not_a_web_address_is_refused_naming_the_field(typed):
    with pytest.raises(ServiceError) as err:
        clean_fields({"website": typed})
    assert err.value.field == "website" and "web address" in err.value.message


@pytest.mark.parametrize("typed, kept", [
    (" 2031-03-15 ", date(2031, 3, 15)), (date(2031, 3, 15), date(2031, 3, 15)),
    (datetime(2031, 3, 15, 9, 30), date(2031, 3, 15)), ("2000-01-01", date(2000, 1, 1)),
    ("2100-12-31", date(2100, 12, 31)), ("", None), (None, None)])
def test_an_expected_close_date_is_kept_as_a_day(typed, kept):
    assert clean_fields({"expected_close_on": typed})["expected_close_on"] == kept


@pytest.mark.parametrize("typed, words", [
    ("2031-02-29", "YYYY-MM-DD"), ("15/03/2031", "YYYY-MM-DD"), ("20310315", "YYYY-MM-DD"), ("soon", "YYYY-MM-DD"),
    ("2031-03-15T10:00", "YYYY-MM-DD"), ("1999-12-31", "between 2000 and 2100"),
    ("2101-01-01", "between 2000 and 2100"), (date(1970, 1, 1), "between 2000 and 2100")])
def test_a_bad_expected_close_date_is_refused_naming_the_field(typed, words):
    with pytest.raises(ServiceError) as err:
        clean_fields({"expected_close_on": typed})
    assert err.value.field == "expected_close_on" and words in err.value.message


def test_a_timeline_entry_keeps_a_day_as_iso_text():
    assert json_value(date(2031, 3, 15)) == "2031-03-15" and json_value(Decimal("2.50")) == "2.50"


def test_a_description_keeps_its_line_breaks_as_given():
    assert clean_fields({"description": "  One\r\nTwo\n\n  indented\n"})["description"] == "One\r\nTwo\n\n  indented"


def test_over_long_text_fields_are_refused_naming_the_field():
    with pytest.raises(ServiceError) as err:
        clean_fields({"first_name": "x", "company": "c" * 201})
    assert err.value.field == "company" and "200" in err.value.message


@pytest.mark.parametrize("password, reason", [
    ("short", "12 characters"),
    ("password1234", "too common"),
    ("aaaaaaaaaaaaaaaa", "too common"),
    ("ada.lovelace", "email"),
    ("eleven char", "12 characters"),
    ("ada.lovelace@example.com", "email"),
])
def test_weak_passwords_are_refused(password, reason):
    with pytest.raises(WeakPassword) as err:
        check_password_strength(password, "ada.lovelace@example.com")
    assert reason in err.value.message


def test_a_long_uncommon_password_is_accepted():
    check_password_strength("violet tractor mountain 42", "ada@example.com")


def test_passwords_are_hashed_with_argon2id_at_owasp_strength():
    encoded = hasher.hash("violet tractor mountain 42")
    assert encoded.startswith("$argon2id$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_money_and_age_read_like_a_person_would_write_them():
    from datetime import datetime, timedelta
    now = datetime(2026, 1, 10, 12)
    assert money(Decimal("1234"), "USD") == "$1,234" and money(Decimal("99.5"), "USD") == "$99.50"
    assert money(Decimal("1234.5"), "EUR") == "€1,234.50" and money(Decimal("1234"), "JPY") == "¥1,234"
    assert age(now - timedelta(days=3, hours=2), now) == "3d"
    assert age(now - timedelta(minutes=5), now) == "5m"
