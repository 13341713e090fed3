"""Tasks on leads and "My day": the service's rules, the pages, the pool, the board and the API."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, Notification, OutboxEmail, Task, TimelineEntry
from app.services import Forbidden, ServiceError, tasks
from app.services.leads import LeadNotFound

NOW = datetime(2026, 12, 3, 10, 0)  # a Thursday, 10:00 UTC


def _entries(lead_id: int, kind: str) -> list[TimelineEntry]:
    return list(db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id,
                                                               TimelineEntry.kind == kind)))


def _next_due(lead_id: int):
    db.session.expire_all()
    return db.session.get(Lead, lead_id).next_task_due_at


# --- the service ---------------------------------------------------------------------------------


def test_adding_tasks_keeps_the_leads_soonest_open_due_time_and_a_timeline_entry(member, make_lead):
    lead = make_lead(owner=member)
    later = tasks.create_task(lead.id, member.id, title="Send the quote", kind="email",
                              due_at=NOW + timedelta(days=2), now=NOW)
    sooner = tasks.create_task(lead.id, member.id, title="  Call   back ", kind="call",
                               due_at=NOW + timedelta(hours=3), now=NOW)
    assert sooner.title == "Call back" and sooner.owner_id == member.id
    assert _next_due(lead.id) == NOW + timedelta(hours=3)
    assert [e.data["title"] for e in _entries(lead.id, "task_added")] == ["Send the quote", "Call back"]

    tasks.complete_task(sooner.id, member.id, now=NOW)
    assert _next_due(lead.id) == NOW + timedelta(days=2)
    assert _entries(lead.id, "task_done")[0].data["task_id"] == sooner.id
    tasks.delete_task(later.id, member.id, now=NOW)
    assert _next_due(lead.id) is None
    assert db.session.get(Task, later.id) is None and len(_entries(lead.id, "task_deleted")) == 1


def test_snoozing_moves_the_due_time_in_the_owners_timezone(member, make_lead):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "America/New_York")  # 10:00 UTC is 05:00 there
    lead = make_lead(owner=member)
    task = tasks.create_task(lead.id, member.id, title="Call", due_at=NOW, now=NOW)
    assert tasks.snooze_task(task.id, member.id, "hour", now=NOW).due_at == NOW + timedelta(hours=1)
    # Tomorrow 9:00 in New York (EST, UTC-5) is 14:00 UTC on Friday.
    assert tasks.snooze_task(task.id, member.id, "tomorrow", now=NOW).due_at == datetime(2026, 12, 4, 14, 0)
    # Next week: Monday 7 December, 9:00 New York.
    task = tasks.snooze_task(task.id, member.id, "week", now=NOW)
    assert task.due_at == datetime(2026, 12, 7, 14, 0) and task.snoozed == 3
    assert _next_due(lead.id) == datetime(2026, 12, 7, 14, 0)
    assert [e.data["until"] for e in _entries(lead.id, "task_snoozed")] == ["1 hour", "Tomorrow 9:00", "Next week"]


def test_a_snooze_puts_a_task_due_later_off_from_its_due_time_never_earlier(member, make_lead):
    lead = make_lead(owner=member)
    later = NOW + timedelta(days=3, hours=7)
    task = tasks.create_task(lead.id, member.id, title="Demo", due_at=later, now=NOW)
    assert tasks.snooze_task(task.id, member.id, "hour", now=NOW).due_at == later + timedelta(hours=1)
    assert tasks.snooze_task(task.id, member.id, "tomorrow", now=NOW).due_at > later + timedelta(hours=1)


@pytest.mark.parametrize("title, due, field", [
    ("", NOW, "title"), ("   ", NOW, "title"), ("x" * 201, NOW, "title"),
    ("Call", NOW + timedelta(days=6 * 366), "due_at"), ("Call", NOW - timedelta(days=400), "due_at"),
])
def test_bad_input_is_refused_naming_the_field_and_saves_nothing(member, make_lead, title, due, field):
    lead = make_lead(owner=member)
    with pytest.raises(ServiceError) as refused:
        tasks.create_task(lead.id, member.id, title=title, due_at=due, now=NOW)
    assert refused.value.field == field
    assert db.session.scalar(select(Task.id)) is None and _next_due(lead.id) is None


def test_a_task_on_a_deleted_lead_is_a_not_found(member):
    with pytest.raises(LeadNotFound):
        tasks.create_task(987654, member.id, title="Call", due_at=NOW, now=NOW)


def test_a_member_cannot_change_another_members_task_on_a_lead_they_do_not_own(make_user, admin, make_lead):
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    lead = make_lead(owner=ann)
    task = tasks.create_task(lead.id, ann.id, title="Call", due_at=NOW + timedelta(hours=1), now=NOW)
    for change in (lambda: tasks.complete_task(task.id, bob.id, now=NOW),
                   lambda: tasks.snooze_task(task.id, bob.id, "hour", now=NOW),
                   lambda: tasks.delete_task(task.id, bob.id, now=NOW),
                   lambda: tasks.create_task(lead.id, bob.id, title="X", due_at=NOW, owner_id=ann.id, now=NOW)):
        with pytest.raises(Forbidden):
            change()
    db.session.expire_all()
    assert db.session.get(Task, task.id).done_at is None
    # Bob may give himself a task on Ann's lead; an admin may tick Ann's done.
    assert tasks.create_task(lead.id, bob.id, title="Mine", due_at=NOW, now=NOW).owner_id == bob.id
    assert tasks.complete_task(task.id, admin.id, now=NOW).done_by_id == admin.id


def test_my_day_splits_overdue_today_and_upcoming_and_pages_each_by_keyset(member, make_lead):
    lead = make_lead(owner=member)
    for hours in (-30, -1, 2, 5, 30, 50):
        tasks.create_task(lead.id, member.id, title=f"T{hours}", due_at=NOW + timedelta(hours=hours), now=NOW)
    overdue, today, upcoming = tasks.my_day(member.id, "UTC", NOW)
    assert [t.title for t in overdue.tasks] == ["T-30", "T-1"]
    assert [t.title for t in today.tasks] == ["T2", "T5"]
    assert [t.title for t in upcoming.tasks] == ["T30", "T50"]
    first = tasks.section(member.id, "upcoming", "UTC", NOW, limit=1)
    assert first.has_more and [t.title for t in first.tasks] == ["T30"]
    rest = tasks.section(member.id, "upcoming", "UTC", NOW, (first.tasks[0].due_at, first.tasks[0].id), limit=1)
    assert [t.title for t in rest.tasks] == ["T50"] and not rest.has_more


# --- reminders (the sweep, with an injected clock) -------------------------------------------------


def test_a_due_task_notifies_its_owner_once_and_a_moved_or_done_one_not_at_all(make_user, make_lead):
    ann = make_user(name="Ann")
    lead = make_lead(owner=ann, first_name="Ada", last_name="Lovelace")
    due = tasks.create_task(lead.id, ann.id, title="Call Ada", kind="call", due_at=NOW + timedelta(minutes=5), now=NOW)
    done = tasks.create_task(lead.id, ann.id, title="Done early", due_at=NOW + timedelta(minutes=5), now=NOW)
    moved = tasks.create_task(lead.id, ann.id, title="Moved", due_at=NOW + timedelta(minutes=5), now=NOW)
    tasks.complete_task(done.id, ann.id, now=NOW)
    tasks.snooze_task(moved.id, ann.id, "tomorrow", now=NOW)

    assert tasks.remind_due(NOW) == 0  # nothing due yet
    assert tasks.remind_due(NOW + timedelta(minutes=6)) == 1
    assert tasks.remind_due(NOW + timedelta(minutes=7)) == 0  # once
    messages = list(db.session.scalars(select(Notification.message).where(Notification.user_id == ann.id)))
    assert messages == ["Call due: Call Ada (Ada Lovelace)"]
    assert db.session.scalar(select(OutboxEmail.id)) is None  # Ann did not ask for email
    db.session.expire_all()
    assert db.session.get(Task, due.id).reminded_at == NOW + timedelta(minutes=6)


def test_moving_a_reminded_task_reminds_again_at_its_new_time_and_by_email_when_chosen(make_user, make_lead):
    from app.services.team_settings import save_account
    ann = make_user(name="Ann", email="ann@example.com")
    save_account(ann.id, None, {"task_due"})
    lead = make_lead(owner=ann)
    task = tasks.create_task(lead.id, ann.id, title="Call", due_at=NOW, now=NOW)
    assert tasks.remind_due(NOW) == 1
    tasks.snooze_task(task.id, ann.id, "hour", now=NOW)
    assert tasks.remind_due(NOW + timedelta(minutes=30)) == 0
    assert tasks.remind_due(NOW + timedelta(hours=1)) == 1
    emails = list(db.session.scalars(select(OutboxEmail)))
    assert [e.to_address for e in emails] == ["ann@example.com"] * 2
    assert emails[0].subject == "To-do due: Call (Lena Lead)" and f"/leads/{lead.id}" in emails[0].text_body


# --- the pages -------------------------------------------------------------------------------------


def test_adding_a_task_on_the_lead_page_swaps_the_panel_and_refuses_bad_input_beside_the_field(
        as_member, member, make_lead):
    lead = make_lead(owner=member)
    form = {"title": "", "kind": "call", "due_at": "10000-01-01", "due_time": "09:00", "owner_id": str(member.id),
            "where": "lead"}
    reply = as_member.post(f"/leads/{lead.id}/tasks", data=form, htmx=True)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 422 and "<html" not in html and 'id="lead-tasks"' in html
    assert "Give the task a title" in html and "between a year ago and five years" in html
    assert 'aria-invalid="true"' in html
    reply = as_member.post(f"/leads/{lead.id}/tasks", data={**form, "due_at": "tomorrow"}, htmx=True)
    assert reply.status_code == 422 and "YYYY-MM-DD" in reply.get_data(as_text=True)
    assert db.session.scalar(select(Task.id)) is None

    day = (datetime.utcnow() + timedelta(days=1)).date().isoformat()
    reply = as_member.post(f"/leads/{lead.id}/tasks", data={**form, "title": "Call back", "due_at": day}, htmx=True)
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "Call back" in html and "<html" not in html
    task = db.session.scalar(select(Task))
    assert (task.title, task.kind, task.owner_id) == ("Call back", "call", member.id)
    assert _next_due(lead.id) == task.due_at
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Call back" in page and "Add a task" in page
    assert "Added a task: Call back for Max Member." in page  # the timeline says what happened


def test_my_day_ticks_done_with_one_press_and_without_javascript_redirects_back(as_member, member, make_lead):
    lead = make_lead(owner=member, first_name="Grace", last_name="Hopper")
    now = datetime.utcnow()
    late = tasks.create_task(lead.id, member.id, title="Overdue call", due_at=now - timedelta(hours=2))
    soon = tasks.create_task(lead.id, member.id, title="Later email", kind="email", due_at=now + timedelta(days=3))
    page = as_member.get("/today").get_data(as_text=True)
    assert "Overdue · " in page and "Overdue call" in page and "Later email" in page and "Grace Hopper" in page

    reply = as_member.post(f"/tasks/{late.id}/done", data={"where": "today", "next": "/today"}, htmx=True)
    assert reply.status_code == 200 and "Done: Overdue call" in reply.get_data(as_text=True)
    reply = as_member.post(f"/tasks/{soon.id}/snooze", data={"until": "hour", "where": "today", "next": "/today"})
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/today")
    db.session.expire_all()
    assert db.session.get(Task, late.id).done_at is not None and db.session.get(Task, soon.id).snoozed == 1


def test_my_day_without_tasks_says_what_to_do_next_and_admins_can_pick_anyone(as_admin, member, make_lead):
    assert "Nothing to do yet" in as_admin.get("/today").get_data(as_text=True)
    lead = make_lead(owner=member)
    tasks.create_task(lead.id, member.id, title="Max's call", due_at=datetime.utcnow() + timedelta(hours=1))
    page = as_admin.get(f"/today?user={member.id}").get_data(as_text=True)
    assert "Max Member's day" in page and "Max&#39;s call" in page


def test_a_member_cannot_tick_another_members_task(web, make_user, make_lead):
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    lead = make_lead(owner=ann)
    task = tasks.create_task(lead.id, ann.id, title="Ann's", due_at=datetime.utcnow())
    web.login(bob)
    reply = web.post(f"/tasks/{task.id}/done", data={"where": "today"}, htmx=True)
    assert reply.status_code == 403 and "Only the task&#39;s owner" in reply.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Task, task.id).done_at is None


def test_completing_asks_for_the_next_task_when_the_team_chose_it(as_member, member, make_lead):
    from app.services import team_settings
    team_settings.save("UTC", None, ask_next_task=True)
    lead = make_lead(owner=member)
    task = tasks.create_task(lead.id, member.id, title="Call", kind="meeting", due_at=datetime.utcnow())
    html = as_member.post(f"/tasks/{task.id}/done", data={"where": "today"}, htmx=True).get_data(as_text=True)
    assert "What&#39;s the next step" in html and f'action="/leads/{lead.id}/tasks"' in html
    assert '<option selected value="meeting">' in html or 'value="meeting" selected' in html


def test_the_pool_filters_no_next_step_and_overdue_and_bulk_adds_one_task_to_each(as_member, member, make_lead):
    quiet = make_lead(owner=member, first_name="Quiet")
    late = make_lead(owner=member, first_name="Late")
    planned = make_lead(owner=member, first_name="Planned")
    tasks.create_task(late.id, member.id, title="Call", due_at=datetime.utcnow() - timedelta(hours=1))
    tasks.create_task(planned.id, member.id, title="Call", due_at=datetime.utcnow() + timedelta(days=1))
    none_page = as_member.get("/leads?next_step=none").get_data(as_text=True)
    assert "Quiet" in none_page and "Late Lead" not in none_page and "Planned" not in none_page
    overdue_page = as_member.get("/leads?next_step=overdue").get_data(as_text=True)
    assert "Late Lead" in overdue_page and "Quiet" not in overdue_page and "Planned" not in overdue_page
    bogus = as_member.get("/leads?next_step=bogus")  # the pool without it, the message beside the filter
    assert bogus.status_code == 422 and 'id="f-next-error"' in bogus.get_data(as_text=True)

    day = (datetime.utcnow() + timedelta(days=2)).date().isoformat()
    reply = as_member.post("/leads/bulk", data={"lead_ids": [str(quiet.id), str(late.id)], "action": "task",
                                                "task_title": "Follow up", "task_kind": "email",
                                                "task_due": day, "task_time": "10:00"}, htmx=True)
    assert reply.status_code == 200 and "Added the task to 2 leads" in reply.get_data(as_text=True)
    added = list(db.session.scalars(select(Task).where(Task.title == "Follow up").order_by(Task.lead_id)))
    assert [t.lead_id for t in added] == [quiet.id, late.id] and {t.kind for t in added} == {"email"}
    assert _next_due(quiet.id) == added[0].due_at
    assert len(_entries(quiet.id, "task_added")) == 1
    refused = as_member.post("/leads/bulk", data={"lead_ids": [str(quiet.id)], "action": "task", "task_title": "",
                                                  "task_due": day}, htmx=True)
    assert refused.status_code == 400 and "Give the task a title" in refused.get_data(as_text=True)


def test_the_board_card_shows_the_next_task_and_says_overdue_in_words(as_member, member, make_lead):
    lead = make_lead(owner=member, first_name="Card")
    tasks.create_task(lead.id, member.id, title="Call", due_at=datetime.utcnow() - timedelta(minutes=5))
    html = as_member.get("/board").get_data(as_text=True)
    assert 'class="card-task is-overdue"' in html and "Overdue · " in html
    menu = as_member.get(f"/board/cards/{lead.id}/move", htmx=True).get_data(as_text=True)
    assert "Add a task" in menu and f'action="/leads/{lead.id}/tasks"' in menu


def test_account_and_team_settings_save_the_reminder_email_and_next_task_choices(as_admin, admin):
    from app.services import team_settings
    from app.services.notifications import email_choices
    assert as_admin.post("/account", data={"timezone": "", "email_kinds": "task_due"}).status_code == 302
    assert email_choices(admin.id) == {"task_due"}
    reply = as_admin.post("/settings/team", data={"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": "",
                                                  "ask_next_task": "y"})
    assert reply.status_code == 302
    db.session.expire_all()
    assert team_settings._load().ask_next_task is True


# --- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def api(app, admin):
    from app.services.api_keys import create_key
    _, secret = create_key("Tasks", admin.id)
    client = app.test_client()
    return lambda method, url, **kw: client.open(url, method=method, headers={"Authorization": f"Bearer {secret}"}, **kw)


def test_the_api_adds_and_lists_a_leads_tasks(api, member, make_lead):
    lead = make_lead(owner=member)
    due = (datetime.utcnow() + timedelta(days=1)).replace(microsecond=0)
    reply = api("POST", f"/api/v1/leads/{lead.id}/tasks",
                json={"title": "Call", "kind": "call", "due_at": due.isoformat() + "+00:00"})
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert (body["title"], body["owner_id"], body["due_at"]) == ("Call", member.id, due.isoformat() + ".000000Z")
    listed = api("GET", f"/api/v1/leads/{lead.id}/tasks").get_json()
    assert [t["id"] for t in listed["data"]] == [body["id"]]
    assert _next_due(lead.id) == due


@pytest.mark.parametrize("payload, field", [
    ({"title": "", "due_at": "2026-12-08T09:00:00Z"}, "title"),
    ({"title": "Call", "due_at": "next tuesday"}, "due_at"),
    ({"title": "Call", "due_at": "10000-01-01T09:00:00Z"}, "due_at"),
    ({"title": "Call", "due_at": "2099-01-01T09:00:00Z"}, "due_at"),
])
def test_the_api_names_the_bad_field(api, member, make_lead, payload, field):
    lead = make_lead(owner=member)
    reply = api("POST", f"/api/v1/leads/{lead.id}/tasks", json=payload)
    assert reply.status_code == 422, reply.get_json()
    assert [e["field"] for e in reply.get_json()["errors"]] == [field]


def test_the_api_answers_404_for_a_deleted_lead_and_documents_tasks(api):
    assert api("POST", "/api/v1/leads/987654/tasks",
               json={"title": "Call", "due_at": "2026-12-08T09:00:00Z"}).status_code == 404
    document = api("GET", "/api/v1/openapi.json").get_json()
    assert {"get", "post"} <= set(document["paths"]["/leads/{lead_id}/tasks"])
    assert "TaskCreate" in document["components"]["schemas"]


def test_a_merge_moves_the_losers_tasks_to_the_survivor_and_undo_moves_them_back(member, make_lead):
    from app.services import merge
    keep = make_lead(owner=member, email="keep@example.com")
    gone = make_lead(owner=member, email="gone@example.com")
    task = tasks.create_task(gone.id, member.id, title="Call", due_at=NOW + timedelta(days=1), now=NOW)
    merged = merge.merge_leads(keep.id, gone.id, {}, member.id)
    db.session.expire_all()
    assert db.session.get(Task, task.id).lead_id == keep.id and _next_due(keep.id) == task.due_at
    merge.undo_merge(merged.id, member.id)
    db.session.expire_all()
    assert db.session.get(Task, task.id).lead_id == gone.id
    assert _next_due(gone.id) == task.due_at and _next_due(keep.id) is None


def test_moving_a_task_on_its_page_changes_the_due_time_and_refuses_a_bad_one_beside_the_field(
        as_member, member, make_lead):
    lead = make_lead(owner=member)
    task = tasks.create_task(lead.id, member.id, title="Call", due_at=datetime.utcnow() - timedelta(minutes=1))
    assert tasks.remind_due() == 1
    form = {"title": "Call", "kind": "call", "due_at": "2026-13-40", "due_time": "09:00",
            "owner_id": str(member.id), "next": f"/leads/{lead.id}"}
    refused = as_member.post(f"/tasks/{task.id}/edit", data=form)
    assert refused.status_code == 422 and "YYYY-MM-DD" in refused.get_data(as_text=True)
    day = (datetime.utcnow() + timedelta(days=2)).date()
    moved = as_member.post(f"/tasks/{task.id}/edit", data={**form, "due_at": day.isoformat(), "due_time": "15:30"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith(f"/leads/{lead.id}")
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    assert task.due_at == datetime.combine(day, datetime.min.time()).replace(hour=15, minute=30)
    assert task.reminded_at is None and _next_due(lead.id) == task.due_at
    assert "due" in _entries(lead.id, "task_changed")[0].data["changes"]


def test_the_api_needs_an_owner_for_a_task_on_a_pool_lead(api, make_lead):
    lead = make_lead()
    reply = api("POST", f"/api/v1/leads/{lead.id}/tasks", json={"title": "Call", "due_at": "2026-12-08T09:00:00Z"})
    assert reply.status_code == 422 and reply.get_json()["errors"][0]["field"] == "owner_id"


def test_a_member_cannot_open_another_members_task_for_editing(web, make_user, make_lead):
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    task = tasks.create_task(make_lead(owner=ann).id, ann.id, title="Ann's", due_at=datetime.utcnow())
    web.login(bob)
    reply = web.get(f"/tasks/{task.id}/edit")
    assert reply.status_code == 403 and "Ann&#39;s" not in reply.get_data(as_text=True)


@pytest.mark.parametrize("owner", ["abc", "99999999999999999999", "-1"])
def test_an_owner_that_is_not_someone_from_the_list_is_refused_beside_the_field(as_member, member, make_lead, owner):
    lead = make_lead(owner=member)
    day = (datetime.utcnow() + timedelta(days=1)).date().isoformat()
    reply = as_member.post(f"/leads/{lead.id}/tasks", data={"title": "Call", "kind": "call", "due_at": day,
                                                            "due_time": "09:00", "owner_id": owner, "where": "lead"},
                           htmx=True)
    assert reply.status_code == 422 and "owner" in reply.get_data(as_text=True).lower()
    assert db.session.scalar(select(Task.id)) is None
