"""Phone numbers read as people dial them: national format in the team's country (DEFAULT_PHONE_REGION),
with the country code when foreign, on the pool, the lead page, search results and the timeline. The
tel: link keeps the full E.164 number."""
from __future__ import annotations

from app.filters import phone


def test_a_home_number_is_national_and_a_foreign_one_keeps_its_country_code(app):
    with app.app_context():
        assert app.config["DEFAULT_PHONE_REGION"] == "US"
        assert phone("+14155550123") == "(415) 555-0123"
        assert phone("+442079460958") == "+44 20 7946 0958"
        assert phone("not a number") == "not a number" and phone(None) == ""
        app.config["DEFAULT_PHONE_REGION"] = "GB"
        try:
            assert phone("+442079460958") == "020 7946 0958" and phone("+14155550123") == "+1 415-555-0123"
        finally:
            app.config["DEFAULT_PHONE_REGION"] = "US"


def test_the_pool_lead_page_and_search_show_phones_in_national_or_international_format(as_member, member,
                                                                                     make_lead):
    home = make_lead(first_name="Hana", phone="+14155550123", owner=member)
    abroad = make_lead(first_name="Gus", phone="+442079460958", owner=member)
    pool = as_member.get("/leads").get_data(as_text=True)
    assert "(415) 555-0123" in pool and "+44 20 7946 0958" in pool and "+14155550123" not in pool
    page = as_member.get(f"/leads/{home.id}").get_data(as_text=True)
    assert 'href="tel:+14155550123"' in page and ">(415) 555-0123</a>" in page
    page = as_member.get(f"/leads/{abroad.id}").get_data(as_text=True)
    assert ">+44 20 7946 0958</a>" in page
    found = as_member.get("/search?q=Gus").get_data(as_text=True)
    assert "+44 20 7946 0958" in found


def test_a_phone_change_on_the_timeline_reads_as_dialled(as_member, member, make_lead):
    from app.services.leads import update_lead
    lead = make_lead(first_name="Hana", phone="+14155550123", owner=member)
    update_lead(lead.id, {"phone": "+442079460958"}, member.id)
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "<del>(415) 555-0123</del> → <ins>+44 20 7946 0958</ins>" in page
