"""Notices for a lead assigned to me and a mention in a note, the bell's live count, and the
per-kind email choices at /account (issue 12, section 4)."""
import html
import re

from sqlalchemy import select

from app.extensions import db
from app.models import Notification, OutboxEmail
from app.services import leads as lead_service
from app.services.notifications import email_choices, set_email_choices, unread_count


def notices(user):
    return [(n.kind, n.message, n.url) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))]


# --- a lead assigned to me ------------------------------------------------------------------------


def test_an_admin_assigning_a_lead_tells_the_new_owner_and_emails_them_when_chosen(admin, member, make_lead):
    set_email_choices(member.id, {"assigned"})
    lead = make_lead(first_name="Nora", last_name="Quinn")
    lead_service.assign_lead(lead.id, member.id, admin.id)
    assert notices(member) == [("assigned", "Ada Admin assigned Nora Quinn to you.", f"/leads/{lead.id}")]
    [email] = db.session.scalars(select(OutboxEmail)).all()
    assert email.to_address == member.email and email.subject == "Ada Admin assigned Nora Quinn to you."
    assert notices(admin) == []


def test_a_bulk_assign_is_one_notice_and_taking_leads_yourself_is_none(admin, member, make_lead):
    leads = [make_lead(first_name=f"L{n}") for n in range(3)]
    assert lead_service.bulk_assign([lead.id for lead in leads], member.id, admin.id) == 3
    assert notices(member) == [("assigned", "Ada Admin assigned 3 leads to you.", "/leads?owner=me")]
    lead_service.claim_lead(make_lead().id, member.id)
    lead_service.assign_lead(make_lead().id, member.id, member.id)
    lead_service.bulk_assign([make_lead().id], admin.id, admin.id)
    assert len(notices(member)) == 1 and notices(admin) == []


def test_a_lead_given_by_an_assignment_rule_tells_its_owner(admin, member, stages):
    from app.services import assignment, capture
    assignment.save_rule(None, name="Everything to Max", condition={}, target="person", user_id=member.id)
    lead = capture.capture_lead({"first_name": "Rita", "email": "rita@example.com"}, via="api").lead
    assert notices(member) == [("assigned", "New lead for you: Rita (rule “Everything to Max”).", f"/leads/{lead.id}")]


def test_a_lead_entered_with_a_teammate_as_owner_tells_them_once_and_not_the_one_entering_it(admin, member, stages):
    from app.services import capture
    lead = capture.capture_lead({"first_name": "Sam", "email": "sam@example.com"}, via="manual entry",
                                actor_id=admin.id, owner_id=member.id).lead
    assert notices(member) == [("assigned", f"{admin.name} assigned Sam to you.", f"/leads/{lead.id}")]
    capture.capture_lead({"first_name": "Own", "email": "own@example.com"}, via="manual entry",
                         actor_id=member.id, owner_id=member.id)
    assert len(notices(member)) == 1


# --- mentions ---------------------------------------------------------------------------------------


def test_a_mention_by_first_name_or_email_tells_those_teammates_and_not_the_writer(admin, make_user, make_lead):
    ann = make_user(name="Ann Smith", email="ann.s@example.com")
    bo = make_user(name="Bo Lee", email="robert@example.com")
    cy = make_user(name="Cy Young", email="cy@example.com")
    set_email_choices(bo.id, {"mention"})
    lead = make_lead(first_name="Nora", last_name="Quinn")
    note = lead_service.add_note(lead.id, "Over to @ANN and @robert, (cc @Ada) - mail cy@example.com", admin.id)
    assert notices(ann) == [("mention", "Ada Admin mentioned you in a note on Nora Quinn: “Over to @ANN and "
                                        "@robert, (cc @Ada) - mail cy@example.com”", f"/leads/{lead.id}#note-{note.id}")]
    assert [k for k, _, _ in notices(bo)] == ["mention"]
    assert notices(cy) == [] and notices(admin) == []
    assert [e.to_address for e in db.session.scalars(select(OutboxEmail))] == ["robert@example.com"]


def test_a_note_without_a_matching_name_mentions_nobody(admin, member, make_lead):
    lead_service.add_note(make_lead().id, "Email @nobody about the 50% @ discount; max@example.com", admin.id)
    assert db.session.scalar(select(Notification.id)) is None


def test_many_at_words_before_a_name_still_mention_that_teammate(admin, make_user, make_lead):
    """The cap is on people told, not on @words read: prose full of @s must not hide a real mention."""
    ann = make_user(name="Ann Smith", email="ann.s@example.com")
    words = " ".join(f"@word{n}" for n in range(30))
    lead_service.add_note(make_lead().id, f"{words} and then @ann", admin.id)
    assert [k for k, _, _ in notices(ann)] == ["mention"]


# --- the bell -------------------------------------------------------------------------------------


def test_every_page_has_the_bell_with_its_count_in_a_polite_live_region(as_member, member, admin, make_lead):
    lead_service.assign_lead(make_lead().id, member.id, admin.id)
    page = as_member.get("/board").get_data(as_text=True)
    bell = re.search(r'<a class="bell" href="/notifications"[^>]*>.*?</a>', page, re.S).group(0)
    assert 'id="bell-count" aria-live="polite"' in bell and 'hx-get="/notifications/bell"' in bell
    assert '<span class="nav-count" data-unread="1">1<span class="visually-hidden"> unread</span>' in bell


def test_the_bell_fragment_answers_the_count_and_204_while_the_page_shows_it(as_member, member, admin, make_lead,
                                                                          count_queries):
    empty = as_member.get("/notifications/bell?shown=", htmx=True)
    assert empty.status_code == 200 and "nav-count" not in empty.get_data(as_text=True)
    for _ in range(2):
        lead_service.assign_lead(make_lead().id, member.id, admin.id)
    fragment = as_member.get("/notifications/bell?shown=0", htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'data-unread="2">2<' in body
    assert fragment.headers["Cache-Control"] == "no-store"
    with count_queries() as counted:
        same = as_member.get("/notifications/bell?shown=2", htmx=True)
    assert same.status_code == 204 and same.get_data() == b""
    assert counted.count <= 2  # the sign-in check and one indexed count
    as_member.post("/notifications/read")
    assert "nav-count" not in as_member.get("/notifications/bell?shown=2", htmx=True).get_data(as_text=True)
    assert as_member.get("/notifications/bell").headers["Location"].endswith("/notifications")


def test_mark_all_as_read_from_htmx_redraws_the_list_in_place_with_the_bell_and_a_notice(as_member, member, admin,
                                                                                          make_lead):
    for name in ("Nora", "Otto"):
        lead_service.assign_lead(make_lead(first_name=name).id, member.id, admin.id)
    page = as_member.get("/notifications").get_data(as_text=True)
    assert 'hx-post="/notifications/read?upto=' in page and 'hx-target="#notification-list"' in page
    reply = as_member.post("/notifications/read", htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in body
    assert unread_count(member.id) == 0
    listed = re.search(r'<ul id="notification-list".*?</ul>', body, re.S).group(0)
    assert "assigned Nora" in listed and "assigned Otto" in listed and "Unread:" not in listed
    assert 'data-focus="notification-list"' in body  # focus lands on the list just redrawn
    assert re.search(r'<div class="actions" id="notification-actions" hx-swap-oob="true"></div>', body)  # no button left
    assert re.search(r'<span id="bell-count" hx-swap-oob="innerHTML">\s*</span>', body)  # no count left
    assert "Marked 2 notifications as read." in re.search(r'<div id="flash".*?</div>', body, re.S).group(0)
    # Without JavaScript: the page again, the notice flashed on it.
    plain = as_member.post("/notifications/read")
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/notifications")
    assert "Nothing was unread." in as_member.get("/notifications").get_data(as_text=True)


def test_the_bell_of_someone_signed_out_sends_them_to_sign_in(web):
    response = web.get("/notifications/bell", htmx=True)
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]


# --- /account ---------------------------------------------------------------------------------------


def test_account_lists_a_checkbox_per_kind_and_saves_the_choices(as_member, member):
    page = as_member.get("/account").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="email_kinds" id="email-kind-(\w+)" value="\w+"( checked)?>', page)
    assert boxes == [("assigned", ""), ("sla_warning", ""), ("sla_breach", " checked"), ("task_due", ""),
                     ("appointment", " checked"), ("mention", ""), ("automation", ""),
                     ("daily_digest", "")]  # no admin-only kinds
    assert '<label for="email-kind-mention">When someone mentions me in a note</label>' in page
    reply = as_member.post("/account", data={"timezone": "", "email_kinds": ["mention", "task_due"]})
    assert reply.status_code == 302
    assert email_choices(member.id) == {"mention", "task_due"}
    as_member.post("/account", data={"timezone": ""})
    assert email_choices(member.id) == set()


def test_account_refuses_an_unknown_or_admin_only_kind_with_422_beside_the_choices(as_member, member):
    before = email_choices(member.id)
    for bad in ("gossip", "held_submission", "x" * 10_000):
        reply = as_member.post("/account", data={"timezone": "", "email_kinds": ["mention", bad]})
        page = reply.get_data(as_text=True)
        assert reply.status_code == 422
        assert 'id="email-kinds-error"' in page and "Tick only the kinds of notice listed here." in page
        assert "x" * 100 not in page and "gossip" not in page
    assert email_choices(member.id) == before


def test_account_without_a_csrf_token_changes_nothing(as_member, member):
    reply = as_member.post("/account", data={"timezone": "", "email_kinds": ["mention"]}, csrf=False)
    assert reply.status_code == 400 and email_choices(member.id) == {"appointment", "sla_breach"}


def test_an_admin_can_choose_the_admin_kinds(as_admin, admin):
    assert as_admin.post("/account", data={"timezone": "", "email_kinds": ["held_submission"]}).status_code == 302
    assert email_choices(admin.id) == {"held_submission"}
    assert unread_count(admin.id) == 0


def test_the_notifications_page_links_each_notice_to_its_place(as_member, member, admin, make_lead):
    lead = make_lead(first_name="Nora", last_name="Quinn")
    lead_service.assign_lead(lead.id, member.id, admin.id)
    note = lead_service.add_note(lead.id, "@max can you call her?", admin.id)
    page = as_member.get("/notifications").get_data(as_text=True)
    # Unread, each opens through a small form that marks it read on the way to its place.
    assert f'name="next" value="/leads/{lead.id}#note-{note.id}">' in page
    assert '<button type="submit" class="text-link">Ada Admin mentioned you in a note on Nora Quinn' in page
    assert f'name="next" value="/leads/{lead.id}">' in page
    assert '<button type="submit" class="text-link">Ada Admin assigned Nora Quinn to you.</button>' in page


def test_opening_an_unread_notice_marks_it_read_and_goes_to_its_lead(as_member, member, admin, make_lead):
    from app.services.notifications import notify
    lead = make_lead(first_name="Opal")
    notify([member.id], "assigned", "Opal is yours.", lead_id=lead.id)
    notify([admin.id], "assigned", "Not yours.", lead_id=lead.id)
    db.session.commit()
    mine = db.session.scalar(select(Notification).where(Notification.user_id == member.id))
    theirs = db.session.scalar(select(Notification).where(Notification.user_id == admin.id))
    page = as_member.get("/notifications").get_data(as_text=True)
    assert f'action="/notifications/{mine.id}/open"' in page and f'value="/leads/{lead.id}"' in page
    reply = as_member.post(f"/notifications/{mine.id}/open", data={"next": f"/leads/{lead.id}"})
    assert reply.status_code == 302 and reply.headers["Location"] == f"/leads/{lead.id}"
    reply = as_member.post(f"/notifications/{theirs.id}/open", data={"next": "https://evil.example/"})
    assert reply.status_code == 302 and "evil" not in reply.headers["Location"]
    assert as_member.post("/notifications/99999999999999999999/open", data={}).status_code in (302, 404)
    db.session.expire_all()
    assert db.session.get(Notification, mine.id).read_at is not None
    assert db.session.get(Notification, theirs.id).read_at is None
    page = as_member.get("/notifications").get_data(as_text=True)
    assert f'action="/notifications/{mine.id}/open"' not in page and f'href="/leads/{lead.id}' in page


def test_mark_all_as_read_leaves_a_notification_that_arrived_after_the_page_unread(as_member, member, admin,
                                                                                   make_lead):
    lead_service.assign_lead(make_lead(first_name="Nora").id, member.id, admin.id)
    page = as_member.get("/notifications").get_data(as_text=True)
    newest = db.session.scalar(select(Notification.id).where(Notification.user_id == member.id))
    action = html.unescape(re.search(r'<form method="post" action="(/notifications/read[^"]*)"', page).group(1))
    assert action == f"/notifications/read?upto={newest}" and f'hx-post="/notifications/read?upto={newest}"' in page
    lead_service.assign_lead(make_lead(first_name="Otto").id, member.id, admin.id)  # arrives meanwhile
    reply = as_member.post(action, htmx=True)
    assert "Marked 1 notification as read." in reply.get_data(as_text=True)
    assert unread_count(member.id) == 1
