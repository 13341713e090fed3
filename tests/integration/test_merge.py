"""Likely duplicates, merging two leads and undoing the merge, on SQLite and PostgreSQL."""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, Lead, LeadMerge, Note, Notification, OutboxEmail, TimelineEntry
from app.services import appointments as appointment_service
from app.services.appointment_emails import link_token
from app.services import leads as lead_service
from app.services import duplicates as duplicate_service
from app.services import merge as merge_service
from app.services import utcnow


@dataclass(frozen=True)
class Ref:
    """A lead by id (and the version a page would have drawn), safe to use after its row is deleted."""
    id: int
    version: int


def columns(ref) -> dict:
    lead = db.session.get(Lead, ref.id, populate_existing=True)
    return {c.key: getattr(lead, c.key) for c in Lead.__table__.columns}


def entries(lead_id: int) -> list[tuple[str, dict]]:
    return [(e.kind, e.data) for e in db.session.scalars(
        select(TimelineEntry).where(TimelineEntry.lead_id == lead_id).order_by(TimelineEntry.id))]


def note_bodies(lead_id: int) -> list[str]:
    return sorted(db.session.scalars(select(Note.body).where(Note.lead_id == lead_id)))


def lead_of(model) -> dict[int, int | None]:
    """Each row of an appointments, notifications or outbox_emails table: id -> lead id."""
    return dict(db.session.execute(select(model.id, model.lead_id).execution_options(populate_existing=True)).all())


def badge(lead_id: int) -> tuple[str | None, datetime | None]:
    lead = db.session.get(Lead, lead_id, populate_existing=True)
    return lead.appointment_status, lead.appointment_starts_at


def book(lead_id: int, actor, hours: int = 48, **options) -> Appointment:
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=hours)
    return appointment_service.book_appointment(lead_id, actor.id, starts_at=starts, duration_minutes=30, **options)


def pair_names(page) -> list[tuple[str, str]]:
    return [(p.a.full_name, p.b.full_name) for p in page.pairs]


@pytest.fixture
def twins(make_lead, member, admin):
    """Jon Smith (older, Acme Inc, in New, pooled) and John Smith (ACME, Qualified, Ada's), a note each."""
    jon = make_lead(first_name="Jon", last_name="Smith", company="Acme Inc", email="jon@acme.example",
                    phone="+14155550100", job_title="", value="100")
    john = make_lead(first_name="John", last_name="Smith", company="ACME", email="john.smith@acme.example",
                     job_title="CTO", value="2500", stage="Qualified", owner=admin)
    lead_service.add_note(jon.id, "Met Jon at the fair.", member.id)
    lead_service.add_note(john.id, "John asked for a quote.", admin.id)
    return (Ref(jon.id, db.session.get(Lead, jon.id).version), Ref(john.id, db.session.get(Lead, john.id).version))


def merge_twins(jon, john, member, **choices):
    return merge_service.merge_leads(jon.id, john.id, choices, member.id)


# --- the list ---------------------------------------------------------------------------------


def test_the_list_pairs_similar_names_at_the_same_company_and_not_unrelated_people(as_member, make_lead):
    make_lead(first_name="Jon", last_name="Smith", company="Acme Inc")
    make_lead(first_name="John", last_name="Smith", company="ACME")
    make_lead(first_name="Jane", last_name="Doe", company="Acme, Inc.")  # same company, another person
    make_lead(first_name="John", last_name="Smith", company="Globex")  # same name, another company
    make_lead(first_name="John", last_name="Smith", company=None)  # no company to go on
    make_lead(first_name="Ada", last_name="Lovelace", company="Globex")

    assert pair_names(duplicate_service.likely_duplicates()) == [("Jon Smith", "John Smith")]
    page = as_member.get("/leads/duplicates").get_data(as_text=True)
    row = re.search(r'<tr id="dup-\d+-\d+">.*?</tr>', page, re.S).group(0)
    assert "Jon Smith" in row and "John Smith" in row and "86%" in row and "Jane Doe" not in page
    fragment = as_member.get("/leads/duplicates", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and 'id="dup-list"' in fragment


def test_spellings_of_one_company_are_compared_together(app, make_lead):
    for company in ("Acme Inc", "ACME", "  Acme, Inc. ", "Acme LLC", "Acme Industries"):
        make_lead(first_name="Grace", last_name="Hopper", company=company)
    pairs = duplicate_service.likely_duplicates().pairs
    assert len(pairs) == 6  # the four spellings of Acme pair up; Acme Industries is another company
    assert all(p.a.company != "Acme Industries" and p.b.company != "Acme Industries" for p in pairs)


def test_the_list_pages_through_whole_companies_and_merged_pairs_disappear(as_member, make_lead, member):
    for company in ("Initech", "Globex", "Hooli"):
        make_lead(first_name="Peter", last_name="Gibbons", company=company)
        make_lead(first_name="Petr", last_name="Gibbons", company=company)
    first = duplicate_service.likely_duplicates(limit=1)
    second = duplicate_service.likely_duplicates(limit=1, after=first.next_after)
    third = duplicate_service.likely_duplicates(limit=1, after=second.next_after)
    assert [p.a.company for p in first.pairs + second.pairs + third.pairs] == ["Globex", "Hooli", "Initech"]
    assert third.next_after is None

    hooli = second.pairs[0]
    merge_service.merge_leads(hooli.a.id, hooli.b.id, {}, member.id)
    assert [p.a.company for p in duplicate_service.likely_duplicates().pairs] == ["Globex", "Initech"]
    page = as_member.get(f"/leads/duplicates?after={first.next_after}").get_data(as_text=True)
    assert "Initech" in page and "Globex" not in page and "First page" in page


def test_an_empty_list_says_what_to_do_next(as_member, stages):
    page = as_member.get("/leads/duplicates").get_data(as_text=True)
    assert "No likely duplicates right now" in page


# --- comparing and merging --------------------------------------------------------------------


def test_the_compare_page_keeps_the_older_lead_and_its_values_filling_only_its_empty_fields(as_member, twins):
    jon, john = twins
    page = as_member.get(f"/leads/merge?a={john.id}&b={jon.id}").get_data(as_text=True)
    assert "Keep Jon Smith, merge in John Smith" in page
    checked = dict(re.findall(r'name="keep_(\w+)" value="(\w+)"[^>]*\s+checked', page))
    # Jon's own values stay, though John was edited last; John's fill Jon's empty job title and owner.
    assert checked == {"first_name": "survivor", "email": "survivor", "phone": "survivor", "company": "survivor",
                       "job_title": "loser", "value": "survivor", "stage_id": "survivor", "owner_id": "loser"}
    assert "Smith <span class=\"sub\">(the same on both)" in page
    swapped = as_member.get(f"/leads/merge?a={john.id}&b={jon.id}&survivor={john.id}").get_data(as_text=True)
    assert "Keep John Smith, merge in Jon Smith" in swapped


def test_merging_keeps_both_timelines_and_notes_on_the_survivor_with_the_chosen_values(as_member, twins, member,
                                                                                       stages, admin):
    jon, john = twins
    jon_entries, john_entries = entries(jon.id), entries(john.id)
    response = as_member.post("/leads/merge", {
        "survivor": jon.id, "loser": john.id, "survivor_version": jon.version, "loser_version": john.version,
        "keep_first_name": "loser", "keep_email": "loser", "keep_phone": "survivor", "keep_job_title": "loser",
        "keep_value": "survivor", "keep_stage_id": "loser", "keep_owner_id": "loser"})
    assert response.status_code == 302 and response.headers["Location"] == f"/leads/{jon.id}"

    assert db.session.get(Lead, john.id) is None
    lead = db.session.get(Lead, jon.id)
    assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.company, lead.job_title, lead.value) == \
        ("John", "Smith", "john.smith@acme.example", "+14155550100", "Acme Inc", "CTO", Decimal("100.00"))
    assert (lead.stage_id, lead.owner_id) == (stages["Qualified"].id, admin.id)
    assert note_bodies(jon.id) == ["John asked for a quote.", "Met Jon at the fair."]
    merge = db.session.scalars(select(LeadMerge)).one()
    assert sorted(map(repr, entries(jon.id)[:-1])) == sorted(map(repr, jon_entries + john_entries))
    # The entry names what of John's was not kept (Jon's own dropped values are not "theirs").
    assert entries(jon.id)[-1] == ("merged", {"other": "John Smith", "merge_id": merge.id, "undone": False,
                                              "not_kept": [["Company", "ACME"], ["Deal value", "$2,500"]]})
    assert (merge.survivor_id, merge.loser_id, merge.merged_by_id) == (jon.id, john.id, member.id)
    assert len(merge.moved_timeline_ids) == len(john_entries) and len(merge.moved_note_ids) == 1
    assert merge.loser_snapshot["email"] == "john.smith@acme.example" and merge.loser_snapshot["value"] == "2500.00"
    assert merge.survivor_before["email"] == "jon@acme.example"
    page = as_member.get(f"/leads/{jon.id}").get_data(as_text=True)
    assert "Merged John Smith into this lead" in page and "John asked for a quote." in page


def test_the_survivor_keeps_its_own_values_and_stage_unless_told_otherwise(twins, member, stages):
    jon, john = twins
    merge_twins(jon, john, member)
    lead = db.session.get(Lead, jon.id)
    assert (lead.first_name, lead.email, lead.value, lead.stage_id, lead.owner_id) == \
        ("Jon", "jon@acme.example", Decimal("100.00"), stages["New"].id, None)


def test_merging_a_lead_with_itself_is_refused(as_member, twins):
    jon, _ = twins
    response = as_member.post("/leads/merge", {"survivor": jon.id, "loser": jon.id})
    assert response.status_code == 400 and "cannot be merged with itself" in response.get_data(as_text=True)
    assert as_member.get(f"/leads/merge?a={jon.id}&b={jon.id}").status_code == 400
    assert db.session.scalars(select(LeadMerge)).first() is None


def test_merging_an_unknown_lead_is_refused_and_changes_nothing(as_member, twins):
    jon, _ = twins
    before = columns(jon)
    response = as_member.post("/leads/merge", {"survivor": jon.id, "loser": 999_999, "keep_email": "loser"})
    assert response.status_code == 404 and "does not exist" in response.get_data(as_text=True)
    assert columns(jon) == before and db.session.scalars(select(LeadMerge)).first() is None


def test_merging_a_lead_that_was_already_merged_is_refused(as_member, twins, make_lead, member):
    jon, john = twins
    other = make_lead(first_name="Johnny", last_name="Smith", company="Acme")
    merge_twins(jon, john, member)
    response = as_member.post("/leads/merge", {"survivor": other.id, "loser": john.id})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "John Smith was already merged into Jon Smith" in body
    assert db.session.get(Lead, other.id) is not None and len(db.session.scalars(select(LeadMerge)).all()) == 1


def test_a_merged_leads_old_address_leads_to_the_lead_it_became_even_after_a_second_merge(as_member, twins, make_lead,
                                                                                         member):
    jon, john = twins
    later = make_lead(first_name="Jonathan", last_name="Smith", company="Acme")  # before SQLite could reuse an id
    merge_twins(jon, john, member)
    opened = as_member.get(f"/leads/{john.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == f"/leads/{jon.id}"
    assert "John Smith was merged into Jon Smith" in as_member.get(opened.headers["Location"]).get_data(as_text=True)
    merge_service.merge_leads(later.id, jon.id, {}, member.id)  # the survivor is merged away in turn
    again = as_member.get(f"/leads/{john.id}")
    assert again.status_code == 302 and again.headers["Location"] == f"/leads/{later.id}", again.status_code
    assert as_member.get("/leads/987654").status_code == 404  # never a lead: still not found


def test_a_lead_given_a_merged_away_leads_id_says_whom_an_older_link_meant(as_member, twins, make_lead, member):
    jon, john = twins
    merge_twins(jon, john, member)
    newcomer = make_lead(first_name="Quinn", last_name="Fastlane")
    page = as_member.get(f"/leads/{john.id}")
    body = page.get_data(as_text=True)
    reused = newcomer.id == john.id
    assert reused == (db.engine.dialect.name == "sqlite")  # SQLite gives the highest id again; PostgreSQL never
    if reused:
        assert page.status_code == 200 and "Quinn Fastlane" in body
        assert f'If you followed an older link to John Smith: that lead was merged into <a href="/leads/{jon.id}">' in body
    else:
        assert page.status_code == 302 and page.headers["Location"] == f"/leads/{jon.id}"
    assert "If you followed an older link" not in as_member.get(f"/leads/{jon.id}").get_data(as_text=True)


def test_a_merge_from_a_stale_compare_page_is_refused_and_shows_the_new_values(as_member, twins, member):
    jon, john = twins
    stale_version = john.version
    lead_service.update_lead(john.id, {"email": "js@acme.example"}, member.id)
    response = as_member.post("/leads/merge", {"survivor": jon.id, "loser": john.id, "survivor_version": jon.version,
                                               "loser_version": stale_version, "keep_email": "loser"})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "John Smith changed since you compared" in body
    assert "js@acme.example" in body
    assert db.session.get(Lead, john.id) is not None and db.session.get(Lead, jon.id).email == "jon@acme.example"


def test_choosing_an_owner_who_left_is_refused_beside_the_owner_field(as_member, twins, admin, member):
    jon, john = twins
    admin.active = False
    db.session.commit()
    response = as_member.post("/leads/merge", {"survivor": jon.id, "loser": john.id, "keep_owner_id": "loser"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<p class="error" id="keep_owner_id-error">[^<]*no longer an active user', body)
    assert db.session.get(Lead, john.id) is not None


# --- undoing a merge --------------------------------------------------------------------------


def test_undo_restores_both_leads_exactly_and_keeps_what_happened_to_the_survivor_since(twins, member, admin, stages):
    jon, john = twins
    jon_before, john_before = columns(jon), columns(john)
    jon_notes, john_notes = note_bodies(jon.id), note_bodies(john.id)
    john_entries = entries(john.id)
    merge = merge_twins(jon, john, member, email="loser", company="loser", job_title="loser", value="loser",
                        stage_id="loser", owner_id="loser")
    lead_service.add_note(jon.id, "Called after the merge.", member.id)
    lead_service.update_lead(jon.id, {"company": "Acme Corporation"}, member.id)  # edited after the merge

    merge_service.undo_merge(merge.id, member.id)

    assert columns(john) == john_before
    restored = columns(jon)
    for name in ("first_name", "email", "job_title", "value", "stage_id", "owner_id", "position",
                 "stage_entered_at", "first_response_at"):
        assert restored[name] == jon_before[name], name
    assert restored["company"] == "Acme Corporation"  # the newer edit wins over the merge's value
    assert note_bodies(john.id) == john_notes
    assert note_bodies(jon.id) == sorted(jon_notes + ["Called after the merge."])
    assert entries(john.id) == john_entries + [("merge_undone", {"other": "Jon Smith"})]
    jon_kinds = entries(jon.id)
    assert ("merged", {"other": "John Smith", "merge_id": merge.id, "undone": True,
                       "not_kept": [["First name", "John"]]}) in jon_kinds
    assert jon_kinds[-1] == ("merge_undone", {"other": "John Smith"})
    assert ("note", {"body": "Called after the merge."}) in jon_kinds
    assert db.session.get(LeadMerge, merge.id).undone_at is not None


def test_undo_after_thirty_days_is_refused_and_changes_nothing(twins, member):
    jon, john = twins
    merge = merge_twins(jon, john, member, email="loser")
    with pytest.raises(merge_service.MergeExpired, match="more than 30 days old"):
        merge_service.undo_merge(merge.id, member.id, now=merge.merged_at + timedelta(days=30))
    assert db.session.get(Lead, john.id) is None and db.session.get(Lead, jon.id).email == "john.smith@acme.example"
    assert db.session.get(LeadMerge, merge.id).undone_at is None
    merge_service.undo_merge(merge.id, member.id, now=merge.merged_at + timedelta(days=29, hours=23))
    assert db.session.get(Lead, john.id) is not None


def test_undoing_a_merge_twice_is_refused(as_member, twins, member):
    jon, john = twins
    merge = merge_twins(jon, john, member)
    assert as_member.post(f"/leads/merges/{merge.id}/undo").status_code == 302
    again = as_member.post(f"/leads/merges/{merge.id}/undo")
    assert again.status_code == 409 and "already undone" in again.get_data(as_text=True)
    assert len(db.session.scalars(select(Lead).where(Lead.id == john.id)).all()) == 1
    assert [k for k, _ in entries(john.id)].count("merge_undone") == 1
    assert as_member.post("/leads/merges/999999/undo").status_code == 404


def test_the_lead_page_offers_undo_and_posting_it_brings_the_loser_back(as_member, twins, member):
    jon, john = twins
    merge = merge_twins(jon, john, member)
    page = as_member.get(f"/leads/{jon.id}").get_data(as_text=True)
    form = re.search(rf'<form method="post" action="(/leads/merges/{merge.id}/undo)".*?</form>', page, re.S)
    assert form and "Undo merge" in form.group(0)

    response = as_member.post(form.group(1))
    assert response.status_code == 302 and response.headers["Location"] == f"/leads/{jon.id}"
    page = as_member.get(f"/leads/{jon.id}").get_data(as_text=True)
    assert "John Smith is its own lead again" in page and "(Undone.)" in page
    assert "Undid the merge with John Smith" in page and f"/leads/merges/{merge.id}/undo" not in page
    assert db.session.get(Lead, john.id).email == "john.smith@acme.example"
    assert note_bodies(john.id) == ["John asked for a quote."]


@pytest.mark.parametrize("undo_order", ["newest first", "oldest first"])
def test_a_chain_of_merges_can_be_undone_in_any_order_and_loses_nothing(twins, make_lead, member, undo_order):
    jon, john = twins
    johnny = make_lead(first_name="Johnny", last_name="Smith", company="Acme")
    johnny = Ref(johnny.id, johnny.version)
    lead_service.add_note(johnny.id, "Johnny prefers email.", member.id)
    appointment_id = book(john.id, member).id  # it travels John -> Jon -> Johnny and back, badge and all
    before = {lead.id: (columns(lead), note_bodies(lead.id), entries(lead.id)) for lead in (jon, john, johnny)}
    first = merge_twins(jon, john, member, email="loser")  # John into Jon
    second = merge_service.merge_leads(johnny.id, jon.id, {"first_name": "loser"}, member.id)  # Jon into Johnny
    assert note_bodies(johnny.id) == ["John asked for a quote.", "Johnny prefers email.", "Met Jon at the fair."]
    assert db.session.get(LeadMerge, first.id).survivor_id == johnny.id  # it followed its timeline

    order = [second, first] if undo_order == "newest first" else [first, second]
    for merge in order:
        merge_service.undo_merge(merge.id, member.id)
    for lead_id, (cols, notes, timeline) in before.items():
        assert note_bodies(lead_id) == notes
        assert [e for e in entries(lead_id) if e[0] not in ("merged", "merge_undone")] == timeline
        restored = columns(Ref(lead_id, 0))
        if lead_id != john.id:  # the survivors were touched by the undo itself
            for name in ("version", "updated_at"):
                restored.pop(name), cols.pop(name)
        assert restored == cols
    assert lead_of(Appointment) == {appointment_id: john.id}


# --- appointments, their emails and notifications -----------------------------------------------


def test_appointments_emails_and_notifications_move_with_the_loser_and_undo_moves_them_back(
        as_member, twins, member, admin):
    jon, john = twins
    appointment = book(john.id, member)
    appointment_id, starts_at = appointment.id, appointment.starts_at
    appointment_service.answer(link_token(appointment, "confirm"), "confirm")
    johns_emails = sorted(lead_of(OutboxEmail))  # the invitation, and the notice to his owner Ada
    notification_id = db.session.scalars(select(Notification.id)).one()  # Ada's "John Smith confirmed"
    assert set(lead_of(OutboxEmail).values()) == {john.id} and lead_of(Notification) == {notification_id: john.id}
    john_before = columns(john)
    assert badge(john.id) == ("confirmed", starts_at) and badge(jon.id) == (None, None)

    merge = merge_twins(jon, john, member)

    assert lead_of(Appointment) == {appointment_id: jon.id}
    assert lead_of(OutboxEmail) == {email_id: jon.id for email_id in johns_emails}
    assert lead_of(Notification) == {notification_id: jon.id}
    assert db.session.get(LeadMerge, merge.id).moved_ids == {
        "activities": [], "appointments": [appointment_id], "notifications": [notification_id], "outbox_emails": johns_emails,
        "tasks": [], "suppressed_addresses": [], "sequence_enrolments": [], "sequence_sends": [], "import_rows": []}
    assert badge(jon.id) == ("confirmed", starts_at)  # Jon had none, so his card shows John's
    board = as_member.get("/board").get_data(as_text=True)
    card = re.search(rf'<li class="card" id="card-{jon.id}".*?</li>', board, re.S).group(0)
    assert "appt-confirmed" in card and "Confirmed" in card
    assert f'id="card-{john.id}"' not in board

    later = book(jon.id, member, hours=72)  # booked on the merged lead: it stays with Jon
    later_id, later_starts_at = later.id, later.starts_at
    later_invite = db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.appointment_id == later_id)).one()

    merge_service.undo_merge(merge.id, member.id)

    assert lead_of(Appointment) == {appointment_id: john.id, later_id: jon.id}
    assert lead_of(OutboxEmail) == {**{email_id: john.id for email_id in johns_emails}, later_invite: jon.id}
    assert lead_of(Notification) == {notification_id: john.id}
    assert columns(john) == john_before
    assert badge(jon.id) == ("awaiting", later_starts_at)
    board = as_member.get("/board").get_data(as_text=True)
    card = re.search(rf'<li class="card" id="card-{john.id}".*?</li>', board, re.S).group(0)
    assert "appt-confirmed" in card


def test_the_badge_shows_the_appointment_that_changed_last_and_follows_an_answer_through_undo(twins, member):
    jon, john = twins
    booked = utcnow()
    johns = book(john.id, member, hours=72, now=booked)
    jons = book(jon.id, member, hours=48, now=booked + timedelta(minutes=1))
    johns_id, johns_starts_at, jons_starts_at = johns.id, johns.starts_at, jons.starts_at
    confirm = link_token(johns, "confirm")

    merge = merge_twins(jon, john, member)
    assert lead_of(Appointment) == {johns_id: jon.id, jons.id: jon.id}
    assert badge(jon.id) == ("awaiting", jons_starts_at)  # Jon's was booked last, so his card keeps it

    # John's prospect confirms from the invitation sent before the merge: it lands on the merged lead.
    appointment_service.answer(confirm, "confirm", now=booked + timedelta(minutes=2))
    assert badge(jon.id) == ("confirmed", johns_starts_at)

    merge_service.undo_merge(merge.id, member.id)
    assert lead_of(Appointment) == {johns_id: john.id, jons.id: jon.id}
    assert badge(john.id) == ("confirmed", johns_starts_at)  # the answer, not the "awaiting" of the snapshot
    assert badge(jon.id) == ("awaiting", jons_starts_at)


def test_merge_with_finds_the_other_lead_to_compare(as_member, twins, make_lead):
    jon, john = twins
    make_lead(first_name="Ada", last_name="Lovelace")
    page = as_member.get(f"/leads/merge?a={jon.id}").get_data(as_text=True)
    assert "Merge Jon Smith with…" in page and "Compare with" not in page
    fragment = as_member.get(f"/leads/merge?a={jon.id}&q=smith", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment
    assert re.findall(r'href="/leads/merge\?a=(\d+)&amp;b=(\d+)">Compare with ([^<]+)</a>', fragment) == \
        [(str(jon.id), str(john.id), "John Smith")]
    assert as_member.get("/leads/merge?a=abc").status_code == 400


def test_the_compare_page_names_countries_as_the_lead_page_does(as_member, make_lead):
    a = make_lead(first_name="Kim", last_name="Berg", email="kim@berg.example", country="DE")
    b = make_lead(first_name="Kim", last_name="Berg", email="kim.berg@mail.example", country="DE")
    page = as_member.get(f"/leads/merge?a={a.id}&b={b.id}").get_data(as_text=True)
    assert "Germany <span class=\"sub\">(the same on both)</span>" in page


def test_a_merge_offers_keeps_names_and_undoes_the_expected_close_date(as_member, make_lead, member):
    from datetime import date
    older = make_lead(first_name="Jon", last_name="Smith", company="Acme Inc")
    newer = make_lead(first_name="John", last_name="Smith", company="ACME", expected_close_on="2031-06-30")
    third = make_lead(first_name="Jo", last_name="Smith", company="Acme", expected_close_on="2031-01-15")
    page = as_member.get(f"/leads/merge?a={older.id}&b={newer.id}").get_data(as_text=True)
    checked = dict(re.findall(r'name="keep_(\w+)" value="(\w+)"[^>]*\s+checked', page))
    assert checked["expected_close_on"] == "loser"  # the older lead has none: the other's fills it
    assert "Expected close date" in page and "2031-06-30" in page
    merge_service.merge_leads(older.id, newer.id, {"expected_close_on": "loser"}, member.id)
    assert columns(Ref(older.id, 0))["expected_close_on"] == date(2031, 6, 30)
    assert db.session.scalars(select(LeadMerge)).one().loser_snapshot["expected_close_on"] == "2031-06-30"
    # Keeping its own date, the survivor names the other's on the "merged" entry, shown as a day.
    second = merge_service.merge_leads(older.id, third.id, {}, member.id)
    assert columns(Ref(older.id, 0))["expected_close_on"] == date(2031, 6, 30)
    assert ["Expected close date", "2031-01-15"] in entries(older.id)[-1][1]["not_kept"]
    lead_page = as_member.get(f"/leads/{older.id}").get_data(as_text=True)
    assert "Expected close date <q>15 Jan 2031</q>" in lead_page
    merge_service.undo_merge(second.id, member.id)
    assert columns(Ref(third.id, 0))["expected_close_on"] == date(2031, 1, 15)
    merge_service.undo_merge(db.session.scalars(select(LeadMerge).order_by(LeadMerge.id)).first().id, member.id)
    assert columns(Ref(older.id, 0))["expected_close_on"] is None
    assert columns(Ref(newer.id, 0))["expected_close_on"] == date(2031, 6, 30)
