"""Merging keeps the kept lead's values unless the member picks the other's (issue 9, section 6)."""
import re

from app.extensions import db
from app.models import Lead
from app.services import merge as merge_service


def checked_sides(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="keep_(\w+)" value="(\w+)"[^>]*\s+checked', page))


def merge_with_defaults(client, page: str):
    """Post the compare page's form as a browser would: hidden fields and the checked radios."""
    data = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    data.update({f"keep_{name}": side for name, side in checked_sides(page).items()})
    return client.post("/leads/merge", data=data)


def test_merging_a_misspelt_twin_keeps_the_kept_leads_name_email_and_phone(as_member, make_lead):
    kept = make_lead(first_name="Katherine", last_name="Johnson", email="katherine@northwind.example",
                     phone="+14155550123", company="Northwind")
    twin = make_lead(first_name="Katharine", last_name="Jonson", email="kjonson@northwind.example",
                     phone="+14155550999", company="Northwind", job_title="Buyer")
    twin.job_title = "Head buyer"  # the twin was edited last: that no longer makes its values win
    db.session.commit()
    twin_id = twin.id

    page = as_member.get(f"/leads/merge?a={kept.id}&b={twin.id}").get_data(as_text=True)

    assert checked_sides(page) == {"first_name": "survivor", "last_name": "survivor", "email": "survivor",
                                   "phone": "survivor", "job_title": "loser"}
    assert "Merge into one lead: <span data-merge-result>Katherine Johnson</span>" in page
    merge_with_defaults(as_member, page)
    survivor = db.session.get(Lead, kept.id, populate_existing=True)
    assert (survivor.first_name, survivor.last_name, survivor.email, survivor.phone, survivor.job_title) == \
        ("Katherine", "Johnson", "katherine@northwind.example", "+14155550123", "Head buyer")
    assert db.session.get(Lead, twin_id) is None


def test_the_button_names_the_lead_that_results_from_the_chosen_names(as_member, make_lead):
    kept = make_lead(first_name="Katharine", last_name="Johnson", email="k@northwind.example")
    twin = make_lead(first_name="Katherine", last_name="Johnson", email="kj@northwind.example")
    preview_url = f"/leads/merge?a={kept.id}&b={twin.id}"
    page = as_member.get(preview_url).get_data(as_text=True)
    assert "<span data-merge-result>Katharine Johnson</span>" in page

    preview = merge_service.merge_preview(kept.id, twin.id, kept.id)
    assert merge_service.result_name(preview, {"first_name": "loser"}) == "Katherine Johnson"
    assert 'data-value="Katherine"' in page  # app.js renames the button from the checked radio


def test_an_empty_field_of_the_kept_lead_is_filled_from_the_other_by_default(as_member, make_lead):
    kept = make_lead(first_name="Omar", last_name="Haddad", email="omar@example.com")
    twin = make_lead(first_name="Omar", last_name="Hadad", phone="+14155550177", company="Haddad & Co")
    page = as_member.get(f"/leads/merge?a={kept.id}&b={twin.id}").get_data(as_text=True)
    merge_with_defaults(as_member, page)
    survivor = db.session.get(Lead, kept.id, populate_existing=True)
    assert (survivor.last_name, survivor.email, survivor.phone, survivor.company) == \
        ("Haddad", "omar@example.com", "+14155550177", "Haddad & Co")
