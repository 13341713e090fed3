"""The audit log at /settings/audit: each kind of admin action leaves one entry, written with the
change (and only when the change happened); admins only; newest first, filtered and paged."""
import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry
from app.services import audit


def _entries() -> list[tuple[str, str, str, str]]:
    db.session.expire_all()
    return [(e.kind, e.action, e.actor_name, e.target)
            for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_each_kind_of_admin_action_is_on_the_log_with_who_and_what(as_admin, admin, member, make_lead, stages):
    make_lead(first_name="Exported", last_name="Lead")
    # settings
    assert as_admin.post("/settings/api-keys", {"name": "Website form"}).status_code == 201
    assert as_admin.post("/settings/stages", {"name": "Demo booked", "colour": "#3b82f6", "kind": "open",
                                              "stale_days": ""}).status_code in (200, 201, 302)
    # people
    assert as_admin.post(f"/settings/users/{member.id}/role", {"role": "admin"}).status_code == 302
    # rules
    from app.services import scoring
    scoring.save_rule(None, label="has email", condition={"field": "email", "op": "is_not_empty"}, points=5,
                      actor_id=admin.id)
    # deletions
    from app.models import Stage
    stage = db.session.scalar(select(Stage).where(Stage.name == "Demo booked"))
    assert as_admin.post(f"/settings/stages/{stage.id}/delete", {}).status_code < 400
    # exports
    assert as_admin.get("/leads/export.csv").status_code == 200

    entries = _entries()
    assert ("settings", "api_key.created", "Ada Admin", "API key Website form") in entries
    assert ("settings", "stage.added", "Ada Admin", "Stage Demo booked") in entries
    assert ("users", "user.role_changed", "Ada Admin", "Max Member, now admin") in entries
    assert ("deletions", "stage.deleted", "Ada Admin", "Stage Demo booked") in entries
    assert ("exports", "leads.exported", "Ada Admin", "Leads the pool showed") in entries
    assert any(kind == "rules" and action == "scoring_rule.saved" and target.startswith("Scoring rule has email")
               for kind, action, _, target in entries), entries

    page = as_admin.get("/settings/audit").get_data(as_text=True)
    assert page.index("Exported leads as CSV") < page.index("Created an API key")  # newest first
    assert "Changed a teammate&#39;s role</strong>: Max Member, now admin" in page
    assert not re.search(rf"\b{member.id}\b</", page)  # names, not ids


def test_a_refused_change_leaves_no_entry(as_admin, admin):
    """Recorded inside the action's transaction: the last admin's demotion is refused, and so is its entry."""
    response = as_admin.post(f"/settings/users/{admin.id}/role", {"role": "member"})
    assert response.status_code >= 400
    assert _entries() == []


def test_a_command_line_action_is_on_the_log_as_the_command_line(app):
    app.test_cli_runner().invoke(args=["create-api-key", "Nightly sync"])
    assert _entries() == [("settings", "api_key.created", "Command line", "API key Nightly sync")]


def test_members_cannot_read_the_log(as_member):
    response = as_member.get("/settings/audit")
    assert response.status_code == 403
    assert "The audit log is for admins" in response.get_data(as_text=True)


def test_the_log_pages_older_entries_and_filters_by_person_and_kind(as_admin, admin, member):
    from app.services import atomic
    with atomic():
        for n in range(audit.PAGE + 5):
            audit.record(admin.id, "tag.renamed", f"Tag t{n}, now u{n}")
        audit.record(member.id, "user.invited", "new@example.com as member")
    db.session.commit()

    first = as_admin.get("/settings/audit").get_data(as_text=True)
    assert first.count('class="card-panel audit-row"') == audit.PAGE
    assert "new@example.com as member" in first and f"Tag t{audit.PAGE + 4}," in first
    older = re.search(r'href="([^"]*before=\d+[^"]*)">Older', first).group(1).replace("&amp;", "&")
    second = as_admin.get(older).get_data(as_text=True)
    assert second.count('class="card-panel audit-row"') == 6 and "Tag t0," in second and "Older" not in second

    mine = as_admin.get(f"/settings/audit?person={member.id}").get_data(as_text=True)
    assert mine.count('class="card-panel audit-row"') == 1 and "new@example.com" in mine
    people = as_admin.get("/settings/audit?kind=users").get_data(as_text=True)
    assert "new@example.com" in people and "Tag t" not in people
    none = as_admin.get("/settings/audit?kind=exports").get_data(as_text=True)
    assert "Nothing matches these filters" in none
    odd = as_admin.get("/settings/audit?kind=%3Cscript%3E&person=abc&before=-1")
    assert odd.status_code == 200 and "new@example.com" in odd.get_data(as_text=True)


def test_an_empty_log_says_what_will_appear(as_admin):
    page = as_admin.get("/settings/audit").get_data(as_text=True)
    assert "No admin action recorded yet" in page


def test_lost_reasons_groups_and_bands_are_on_the_log_too(as_admin, admin, member):
    assert as_admin.post("/settings/closing/reasons", {"name": "Too expensive"}).status_code < 400
    from app.models import LostReason
    reason = db.session.scalar(select(LostReason).where(LostReason.name == "Too expensive"))
    assert as_admin.post(f"/settings/closing/reasons/{reason.id}/archive", {"archived": "1"}).status_code < 400
    from app.services import assignment, scoring
    group = assignment.save_group(None, name="Closers", members={member.id: 1}, actor_id=admin.id)
    assignment.delete_group(group.id, actor_id=admin.id)
    scoring.save_bands([("Cold", None, "#64748b"), ("Hot", "50", "#dc2626")], actor_id=admin.id)
    assert [(kind, action, target) for kind, action, _, target in _entries()] == [
        ("settings", "lost_reason.added", "Lost reason Too expensive"),
        ("settings", "lost_reason.archived", "Lost reason Too expensive"),
        ("rules", "assignment_group.saved", "Group Closers (1 member)"),
        ("deletions", "assignment_group.deleted", "Group Closers"),
        ("rules", "score_bands.saved", "Cold, Hot"),
    ]


def test_sequence_edits_are_on_the_log_naming_the_step_and_the_sequence(app, admin):
    from app.services import email_templates, sequences
    template = email_templates.create_template(email_templates.TemplateSettings(
        name="Welcome", subject="Hi", body_html="<p>Hello</p>"))
    sequence = sequences.create_sequence("Onboarding", actor_id=admin.id)
    step = sequences.add_step(sequence.id, sequences.StepSettings(template_id=template.id), actor_id=admin.id)
    rule = sequences.add_rule(sequence.id, "source", "webinar", actor_id=admin.id)
    sequences.remove_rule(rule.id, actor_id=admin.id)
    sequences.remove_step(step.id, actor_id=admin.id)
    assert [(action, target) for _, action, _, target in _entries()] == [
        ("template.added", "Template Welcome"),  # no actor: made on the command line or by a test
        ("sequence.added", "Sequence Onboarding"),
        ("sequence_step.added", "Email: Welcome in the sequence Onboarding"),
        ("sequence_rule.added", "Sequence Onboarding: Captured with the source “webinar”"),
        ("sequence_rule.removed", "Sequence Onboarding: Captured with the source “webinar”"),
        ("sequence_step.removed", "Email: Welcome in the sequence Onboarding"),
    ]
    assert _entries()[0][2] == "Command line"
