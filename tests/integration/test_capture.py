from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services.capture import OnDuplicate, capture_lead


def count_leads() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


def entries(lead, kind):
    return db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                          TimelineEntry.kind == kind)).all()


def test_a_new_person_is_captured_with_source_origin_and_a_created_entry(stages):
    captured = capture_lead({"first_name": "Ada", "email": " Ada@Example.COM "}, via="web form Demo",
                            source="Website", origin={"utm_source": "google", "utm_campaign": "spring",
                                                      "referrer": "https://example.org/pricing"})
    lead = captured.lead
    assert captured.created and lead.email == "ada@example.com" and lead.source == "Website"
    assert (lead.utm_source, lead.utm_campaign, lead.referrer) == ("google", "spring", "https://example.org/pricing")
    assert entries(lead, "created")[0].data["via"] == "web form Demo"


def test_someone_already_known_by_email_gets_no_twin_but_a_resubmitted_entry(stages, make_lead):
    existing = make_lead(first_name="Ada", email="ada@example.com", company=None)
    captured = capture_lead({"first_name": "Ada", "email": "ADA@example.com", "company": "Analytical Engines",
                             "job_title": "Countess"}, via="API")
    assert not captured.created and captured.lead.id == existing.id and captured.matched_on == "email"
    assert count_leads() == 1
    db.session.refresh(existing)
    assert existing.company == "Analytical Engines" and existing.job_title == "Countess"
    entry = entries(existing, "resubmitted")[0]
    assert entry.data["via"] == "API" and entry.data["changes"]["company"] == [None, "Analytical Engines"]


def test_a_known_phone_matches_whatever_format_it_was_typed_in(stages, make_lead):
    existing = make_lead(first_name="Bo", phone="+1 415 555 0123")
    captured = capture_lead({"first_name": "Bo", "phone": "(415) 555-0123"}, via="web form")
    assert captured.lead.id == existing.id and captured.matched_on == "phone"


def test_filling_never_overwrites_what_a_lead_already_has(stages, make_lead):
    existing = make_lead(first_name="Ada", email="ada@example.com", company="Original Co")
    capture_lead({"first_name": "Someone else", "email": "ada@example.com", "company": "Other Co"}, via="API")
    db.session.refresh(existing)
    assert (existing.first_name, existing.company) == ("Ada", "Original Co")


def test_the_duplicate_modes_skip_update_and_keep(stages, make_lead):
    existing = make_lead(first_name="Ada", email="ada@example.com", company="Old Co")
    capture_lead({"email": "ada@example.com", "company": "Skip Co"}, via="CSV import", on_duplicate=OnDuplicate.skip)
    db.session.refresh(existing)
    assert existing.company == "Old Co" and entries(existing, "resubmitted")[0].data["ignored"] is True
    capture_lead({"email": "ada@example.com", "company": "New Co"}, via="CSV import", on_duplicate=OnDuplicate.update)
    db.session.refresh(existing)
    assert existing.company == "New Co"
    kept = capture_lead({"email": "ada@example.com", "company": "Twin Co"}, via="CSV import",
                        on_duplicate=OnDuplicate.keep)
    assert kept.created and count_leads() == 2


def test_manual_entry_of_a_known_email_leads_to_the_existing_lead(as_member, make_lead):
    existing = make_lead(first_name="Ada", email="ada@example.com")
    response = as_member.post("/leads/new", {"first_name": "Ada", "email": "ada@example.com", "company": "Filled"})
    assert response.headers["Location"] == f"/leads/{existing.id}" and count_leads() == 1
    page = as_member.get(response.headers["Location"]).get_data(as_text=True)
    assert "already a lead (same email)" in page and "Submitted again via manual entry" in page


# --- a lead added by hand that matches a teammate's lead its adder may not see -----------------------


def _hidden_setup(make_lead, make_user, member):
    from app.services import team_settings
    other = make_user("member", name="Olga Other", email="olga@example.com")
    theirs = make_lead(first_name="Theo", last_name="", email="theo@example.com", company=None, owner=other)
    team_settings.save("UTC", None, member_permissions={"see_all_leads": False})
    db.session.commit()
    db.session.refresh(theirs)
    return theirs, _state(theirs)


def _state(lead) -> tuple:
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    kinds = sorted(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead.id)))
    return (lead.first_name, lead.last_name, lead.company, lead.job_title, lead.phone, lead.version,
            lead.updated_at, lead.owner_id, kinds)


def test_a_restricted_member_s_capture_leaves_a_teammate_s_lead_it_matches_untouched(
        stages, make_lead, make_user, member):
    theirs, before = _hidden_setup(make_lead, make_user, member)
    captured = capture_lead({"first_name": "Theodore", "last_name": "Hidden", "email": "THEO@example.com",
                             "company": "Secret Co", "job_title": "Buyer"}, via="manual entry", actor_id=member.id)
    db.session.commit()
    assert captured.hidden and not captured.created and captured.matched_on == "email" and not captured.changed
    assert _state(theirs) == before and count_leads() == 1
    # Someone who sees every lead still fills the empty fields, as before.
    captured = capture_lead({"first_name": "Theo", "email": "theo@example.com", "company": "Known Co"},
                            via="manual entry", actor_id=None)
    db.session.commit()
    assert not captured.hidden and db.session.get(Lead, theirs.id).company == "Known Co"


def test_adding_by_hand_a_lead_a_teammate_owns_changes_nothing_of_theirs(
        stages, make_lead, make_user, member, as_member):
    theirs, before = _hidden_setup(make_lead, make_user, member)
    reply = as_member.post("/leads/new", {"first_name": "Theodore", "last_name": "Hidden", "email": "theo@example.com",
                                          "company": "Secret Co", "job_title": "Buyer", "owner": str(member.id)})
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/leads")
    page = as_member.get("/leads").get_data(as_text=True)
    assert "already a lead a teammate owns (same email)" in page and "left as it is" in page
    assert "on its timeline" not in page and "Theo" not in page
    assert _state(theirs) == before and count_leads() == 1


def test_a_board_quick_add_matching_a_teammate_s_lead_changes_nothing_and_names_nothing(
        stages, make_lead, make_user, member, as_member):
    theirs, before = _hidden_setup(make_lead, make_user, member)
    url = f"/board/columns/{stages['New'].id}/new"
    reply = as_member.post(url, {"name": "Theodore Hidden", "company": "Secret Co", "email": "theo@example.com",
                                 "owner": "me"}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "A teammate already has this lead (same email)" in body
    assert "Theo" not in body and "Secret Co" not in body and "<html" not in body
    plain = as_member.post(url, {"name": "Theodore Hidden", "company": "Secret Co", "email": "theo@example.com",
                                 "owner": "me"})
    assert plain.status_code == 302
    assert _state(theirs) == before and count_leads() == 1
