"""Walks every route in the URL map, so a new route is covered the day it is added: admin pages refuse
members, state-changing requests need a CSRF token, and hostile input (a NUL byte, an integer past
the database's range) is a clear 4xx, never a 500."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from flask import url_for
from sqlalchemy import select, text

from app.extensions import csrf, db
from app.models import OutboxEmail

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Blueprints without CSRF, each with its own protection: the API authenticates with bearer keys (no
# cookies); the public pages are capture forms posted from other sites (honeypot, fill time, rate
# limit: no session to protect), one-click appointment links (a signed token per action) and the
# unsubscribe link (a signed token; RFC 8058's one-click POST comes from mail clients, with no session).
CSRF_EXEMPT_BLUEPRINTS = {"api", "public"}
# The import upload checks the token itself, once it knows the body is within its larger limit.
CSRF_EXEMPT_VIEWS = {"app.leads.imports.import_upload"}
ADMIN_BLUEPRINTS = {"settings", "outbox"}


@pytest.fixture
def world(app, admin, member, stages):
    """One of everything a route can name, so each URL in the map can be built with real ids."""
    return build_world(admin, member, stages)


def build_world(admin, member, stages) -> dict:
    """Create one of everything a route can name and commit it; call inside an app context.

    admin and member are users, stages the default pipeline by name. Returns {"ids": {argument: id},
    "strings": {argument: value}, "api_key": secret}, what `build` needs to fill any rule's arguments.
    The browser's accessibility walk reuses it, so a route added here is checked there too."""
    from app.services import api_keys, assignment, capture_forms, custom_fields, held_submissions, imports, merge
    from app.services.appointments import book_appointment
    from app.services.leads import create_lead

    def make_lead(owner=None, **fields):
        return create_lead(fields, None, stage_id=stages["New"].id, owner_id=owner.id if owner else None)

    lead = make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", owner=member)
    twin = make_lead(first_name="Lena", last_name="Lindqvist", email="lena.l@example.com")
    appointment = book_appointment(lead.id, member.id, starts_at=datetime.now(timezone.utc) + timedelta(days=2),
                                   duration_minutes=30, location="Office")
    merged = merge.merge_leads(lead.id, twin.id, {}, admin.id)
    form = capture_forms.create_form(capture_forms.FormSettings(name="Contact us", fields={"email": "required"}))
    held = held_submissions.hold(form.id, {"email": "held@example.com"})
    key, secret = api_keys.create_key("Walker", admin.id)
    imp = imports.create_import(io.BytesIO(b"Email,First name\nx@example.com,X\n"), "walk.csv", admin.id)
    email = db.session.scalars(select(OutboxEmail).limit(1)).first()
    group = assignment.save_group(None, name="Walkers", members={member.id: 1})
    rule = assignment.save_rule(None, name="Walk", condition={}, target="round_robin", group_id=group.id)
    from app.services import scoring
    custom = custom_fields.create_field(custom_fields.FieldSettings(label="Budget", kind="number"))
    scoring_rule = scoring.save_rule(None, label="has email", condition={"field": "email", "op": "is_not_empty"},
                                     points=5)
    from app.services.tags import add_tags, find_tag
    add_tags(lead.id, "vip", admin.id)
    from app.services import closing
    lost_reason = closing.add_reason("Walked away")
    from app.services.tasks import create_task
    task = create_task(lead.id, member.id, title="Call Lena", due_at=datetime.utcnow() + timedelta(days=1))
    from app.services.saved_views import save_view
    view = save_view(admin.id, "Walked views", "pool", f"stage={stages['New'].id}", shared=True)
    from app.models import Notification
    from app.services.notifications import notify
    notify([admin.id], "assigned", "Lena is yours.", lead_id=lead.id)
    from app.services import email_templates
    template = email_templates.create_template(email_templates.TemplateSettings(
        name="Walk", subject="Hi {{ lead.first_name }}", body_html="<p>Hello</p>"))
    from app.services.suppression import suppress
    suppressed, _ = suppress("gone@example.com", "admin", actor_id=admin.id)
    from app.services import sequence_bulk, sequences
    from app.services.lead_queries import PoolFilters
    sequence = sequences.create_sequence("Walk sequence")
    step = sequences.add_step(sequence.id, sequences.StepSettings(template_id=template.id))
    sequence_rule = sequences.add_rule(sequence.id, "source", "walk")
    walked = sequences.create_sequence("Walk on")
    sequences.add_step(walked.id, sequences.StepSettings(template_id=template.id))
    sequences.start(walked.id)
    enrolment = sequences.enrol(lead.id, walked.id, member.id)
    sequence_run = sequence_bulk.start_run(PoolFilters(), walked.id, admin.id)
    from app.services.accounts import invite
    invitation = invite("walker@example.com", "member", "", admin.id)
    from app.services import webhooks
    endpoint = webhooks.create_endpoint(webhooks.EndpointInput("https://93.184.215.14/hooks", ["lead.created"]),
                                        admin.id)
    delivery = webhooks.send_test(endpoint.id)
    from app.services import automations
    automation = automations.save(None, automations.AutomationInput(
        name="Walk automation", trigger="stage_entered", trigger_options={"stage_id": stages["Won"].id},
        actions=[{"kind": "notify", "people": "owner", "message": "Won"}]), admin.id)
    # The trash page (settings.trash) lists one; /leads/<lead_id>/delete, /erase and
    # /personal-data.json and /settings/trash/<lead_id>/restore are walked with the lead above.
    from app.services import trash
    trash.trash(make_lead(first_name="Tom", last_name="Trashed", email="tom@example.com").id, admin.id)
    db.session.commit()
    notice = db.session.scalars(select(Notification).order_by(Notification.id.desc()).limit(1)).first()
    return {
        "ids": {"lead_id": lead.id, "appointment_id": appointment.id, "merge_id": merged.id,
                "stage_id": stages["Contacted"].id, "user_id": member.id, "form_id": form.id, "held_id": held.id, "key_id": key.id,
                "import_id": imp.id, "outbox_id": email.id if email else 1, "index": 0,
                "group_id": group.id, "assignment_rule_id": rule.id, "field_id": custom.id, "rule_id": scoring_rule.id,
                "tag_id": find_tag("vip").id, "reason_id": lost_reason.id, "task_id": task.id,
                "view_id": view.id, "notification_id": notice.id, "template_id": template.id,
                "entry_id": suppressed.id, "sequence_id": sequence.id, "step_id": step.id,
                "sequence_rule_id": sequence_rule.id, "enrolment_id": enrolment.id, "sequence_run_id": sequence_run.id,
                "invitation_id": invitation.id, "endpoint_id": endpoint.id, "delivery_id": delivery.id,
                "automation_id": automation.id},
        "strings": {"slug": form.slug, "report": "funnel", "token": "not-a-real-token", "action": "up", "digest": "0123456789abcdef"},
        "api_key": secret,
    }


def routes(app):
    """(rule, methods) for every route of ours (static files excepted), logout last: it ends the session."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    rules.sort(key=lambda r: (r.endpoint == "auth.logout", r.rule))
    return [(r, sorted(r.methods - {"HEAD", "OPTIONS"})) for r in rules]


def build(app, rule, world, **override) -> str:
    values = {}
    for name in rule.arguments:
        if name in override:
            values[name] = override[name]
        elif name in world["ids"]:
            values[name] = world["ids"][name]
        else:
            values[name] = world["strings"][name]
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def snapshot() -> dict:
    """Every row of every table (but sessions and throttles, which signing in changes)."""
    db.session.expire_all()
    return {t.name: sorted(map(repr, db.session.execute(select(t)).all())) for t in db.metadata.sorted_tables
            if t.name not in ("user_sessions", "login_throttles", "known_sign_in_addresses")}


def send(client, method: str, url: str, *, data=None, token: str | None = None, api_key: str | None = None,
         json=None):
    headers = {}
    if token:
        headers["X-CSRFToken"] = token
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return client._send(method.lower(), url, data=data, json=json, headers=headers)


# --- admin pages refuse members -----------------------------------------------------------------


def test_every_admin_endpoint_refuses_a_member_and_changes_nothing(app, world, as_member):
    before = snapshot()
    walked = []
    for rule, methods in routes(app):
        if rule.endpoint.split(".")[0] not in ADMIN_BLUEPRINTS:
            continue
        for method in methods:
            url = build(app, rule, world)
            response = send(as_member, method, url, data={"role": "member", "name": "Taken over"},
                            token=as_member.token())
            walked.append(rule.endpoint)
            assert response.status_code == 403, (method, url, response.status_code)
            assert re.search(r" (is|are) for admins[.:] ", response.get_data(as_text=True)), url
    assert {"settings.change_role", "settings.create_api_key", "outbox.retry", "settings.delete_stage",
            "settings.lift_suppression", "settings.invite", "settings.resend_invitation", "settings.revoke_invitation",
            "settings.confirm_deactivate"} <= set(walked)
    assert snapshot() == before


# --- what the team's switches refuse members (services/permissions.py) -------------------------------

# Each endpoint a team switch governs, by the switch; a new import, export or merge route must be listed.
SWITCHED_ENDPOINTS = {
    "import": {"leads.import_upload", "leads.import_preview", "leads.import_header", "leads.import_progress",
               "leads.import_undo", "leads.import_discard", "leads.import_rejected", "leads.import_report"},
    "export": {"leads.export_csv"},
    "merge": {"leads.duplicates", "leads.merge", "leads.merge_post", "leads.undo_merge"},
}


def test_every_import_export_and_merge_route_is_governed_by_its_switch(app):
    for rule, _ in routes(app):
        if rule.endpoint.startswith("leads.") and re.search(r"/(import|export|merge|duplicates)", rule.rule):
            assert any(rule.endpoint in endpoints for endpoints in SWITCHED_ENDPOINTS.values()), rule.rule


def test_with_every_switch_off_each_governed_route_refuses_a_member_and_changes_nothing(app, world, as_member):
    from app.services import permissions, team_settings
    team_settings.save("UTC", None, member_permissions={action: False for action in permissions.ACTIONS})
    db.session.commit()
    before = snapshot()
    walked = set()
    for rule, methods in routes(app):
        action = next((a for a, endpoints in SWITCHED_ENDPOINTS.items() if rule.endpoint in endpoints), None)
        if action is None:
            continue
        for method in methods:
            url = build(app, rule, world)
            response = send(as_member, method, url, data={"survivor": "1", "loser": "2"}, token=as_member.token())
            body = response.get_data(as_text=True)
            assert response.status_code == 403, (method, url, response.status_code)
            assert f"Members may not {permissions.ACTIONS[action][2]} in this team." in body, url
            assert "An admin can allow it on the Team settings page." in body
            walked.add(rule.endpoint)
    assert walked == set().union(*SWITCHED_ENDPOINTS.values())
    assert snapshot() == before


def test_every_route_naming_a_lead_refuses_a_member_who_may_not_see_it(app, world, admin, as_member, stages):
    from app.services import permissions, team_settings
    from app.services.leads import create_lead
    hidden = create_lead({"first_name": "Hidden", "last_name": "Lead"}, None, stage_id=stages["New"].id,
                         owner_id=admin.id)
    team_settings.save("UTC", None, member_permissions={"see_all_leads": False})
    db.session.commit()
    before = snapshot()
    walked = 0
    for rule, methods in routes(app):
        if "lead_id" not in rule.arguments or rule.endpoint.startswith("api."):
            continue
        for method in methods:
            url = build(app, rule, world, lead_id=hidden.id)
            response = send(as_member, method, url, data={"body": "x", "owner": "", "title": "x"},
                            token=as_member.token())
            assert response.status_code == 403, (method, url, response.status_code)
            assert permissions.refusal("see_all_leads") in response.get_data(as_text=True), url
            walked += 1
    assert walked > 20
    assert snapshot() == before


# --- CSRF -----------------------------------------------------------------------------------------


def test_only_the_api_and_public_pages_are_exempt_from_csrf():
    assert {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints} == CSRF_EXEMPT_BLUEPRINTS
    assert csrf._exempt_views == CSRF_EXEMPT_VIEWS


def test_every_state_changing_endpoint_refuses_a_request_without_a_csrf_token(app, world, as_admin):
    assert app.config["WTF_CSRF_ENABLED"] is not False  # the tests' apps check tokens, as production does
    before = snapshot()
    walked = []
    for rule, methods in routes(app):
        if rule.endpoint.split(".")[0] in CSRF_EXEMPT_BLUEPRINTS:
            continue
        for method in STATE_CHANGING & set(methods):
            url = build(app, rule, world)
            for token in (None, "forged-token"):
                response = send(as_admin, method, url, data={"name": "Forged", "role": "member", "body": "x",
                                                             "csrf_token": token or ""})
                assert response.status_code == 400, (method, url, response.status_code)
                assert "This form expired or came from somewhere else" in response.get_data(as_text=True)
            walked.append(rule.endpoint)
    assert {"leads.edit", "board.move", "settings.invite", "leads.import_upload", "auth.logout",
            "auth.forgot_password", "auth.reset_password", "auth.accept_invitation", "main.change_password"} <= set(walked)
    assert snapshot() == before
    assert as_admin.get("/board").status_code == 200  # still signed in: the logout was refused too


# --- hostile input ------------------------------------------------------------------------------


FORM_FIELDS = ("first_name", "last_name", "email", "phone", "company", "name", "q", "body", "owner", "stage",
               "source", "message", "location", "note", "slug", "password", "role", "lead_ids", "move_to")
INT_FIELDS = ("lead_id", "stage_id", "after_id", "version", "from_stage_id", "shown", "survivor", "loser", "a", "b",
              "move_to", "owner", "stage", "page", "lead_ids", "duration_minutes", "default_stage_id", "before",
              "offset", "after", "limit", "user_id", "index")
HUGE = (2**31, 2**63, 10**30)


def _is_clear_refusal(response) -> bool:
    body = response.get_data(as_text=True)
    return 400 <= response.status_code < 500 and "Something went wrong on our side" not in body


def test_a_nul_byte_anywhere_is_a_clear_400_on_every_route(app, world, as_admin):
    for rule, methods in routes(app):
        for method in methods:
            url = build(app, rule, world)
            api = rule.endpoint.startswith("api.")
            if method == "GET":
                response = send(as_admin, "GET", url + "?q=a%00b&page=1%00", api_key=world["api_key"] if api else None)
            elif api:
                response = send(as_admin, method, url, json={"first_name": "Nul\x00", "note": "\x00"},
                                api_key=world["api_key"])
            else:
                response = send(as_admin, method, url, data={name: f"x\x00{name}" for name in FORM_FIELDS},
                                token=as_admin.token())
            if api:  # the API checks its own input, as problems naming the field (or ignores what it doesn't read)
                assert response.status_code < 500 and response.is_json, (method, url, response.status_code)
                continue
            assert response.status_code == 400, (method, url, response.status_code)
            assert "NUL character" in response.get_data(as_text=True), (method, url)
        for name in rule.arguments & set(world["strings"]):  # and in a path segment
            url = build(app, rule, world, **{name: "a\x00b"})
            response = send(as_admin, methods[0], url, token=as_admin.token())
            assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True), url


def test_the_public_capture_form_says_why_a_nul_byte_is_refused_and_keeps_nothing_half_done(app, world, web):
    from app.models import Lead
    before = db.session.scalar(select(db.func.count()).select_from(Lead))
    response = web._send("post", f"/f/{world['strings']['slug']}", data={"email": "nul\x00@example.com"})
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(Lead)) == before


def test_an_id_past_the_databases_range_in_a_path_is_404_on_every_route(app, world, as_admin):
    walked = 0
    for rule, methods in routes(app):
        ints = [name for name in rule.arguments if name in world["ids"]]
        for name in ints:
            for huge in HUGE:
                url = build(app, rule, world, **{name: huge})
                for method in methods:
                    api = rule.endpoint.startswith("api.")
                    response = send(as_admin, method, url, token=as_admin.token(),
                                    api_key=world["api_key"] if api else None, json={} if api and method != "GET" else None)
                    if api:  # its own check: a 404 problem, or a 422 for a body it validates first
                        assert response.status_code in (404, 422) and response.is_json, (method, url)
                    else:
                        assert response.status_code == 404, (method, url, response.status_code)
                    walked += 1
    assert walked > 100


def test_integers_past_the_databases_range_in_queries_and_forms_are_refused_clearly(app, world, as_admin):
    for huge in HUGE:
        for rule, methods in routes(app):
            url = build(app, rule, world)
            api = rule.endpoint.startswith("api.")
            key = world["api_key"] if api else None
            for method in methods:
                if method == "GET":
                    query = "&".join(f"{name}={huge}" for name in INT_FIELDS)
                    response = send(as_admin, "GET", f"{url}?{query}", api_key=key)
                elif api:
                    response = send(as_admin, method, url, api_key=key,
                                    json={name: huge for name in INT_FIELDS if name != "after"})
                else:
                    response = send(as_admin, method, url, data={name: str(huge) for name in INT_FIELDS},
                                    token=as_admin.token())
                assert response.status_code < 500, (method, url, huge, response.get_data(as_text=True)[:300])
                if response.status_code >= 400:
                    assert _is_clear_refusal(response), (method, url)


def test_a_line_break_in_the_next_address_after_sign_in_is_ignored(web, member):
    from tests.conftest import TEST_PASSWORD
    for target in ("/leads%0d%0aSet-Cookie:%20x=1", "/leads%0aX", "/%5c%5cexample.com", "//example.com"):
        response = web._send("post", f"/login?next={target}", data={"email": member.email, "password": TEST_PASSWORD,
                                                                   "csrf_token": web.token()})
        assert response.status_code == 302 and response.headers["Location"] == "/board", target
        web.client.delete_cookie("session")
        web._token = None
    page = web.get(f"/login?next={quote('/leads%0d%0a')}")
    assert page.status_code == 200


def test_the_error_page_renders_for_a_signed_in_user_after_a_failed_statement(make_app, admin):
    from tests.conftest import Web
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/_test/boom")
    def boom():
        db.session.execute(text("SELECT * FROM no_such_table"))  # aborts the transaction on PostgreSQL

    client = Web(app.test_client())
    client.login(admin)
    response = client.get("/_test/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page and "Ada Admin" in page
