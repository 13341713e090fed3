"""The audit log of admin actions: `record()` is called by each admin action's service, inside its
transaction, so an entry exists exactly when the change does; `entries()` pages the log newest first."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, User
from app.services import utcnow

PAGE = 50
TARGET_LIMIT = 300
KINDS = {"settings": "Settings", "users": "People", "rules": "Rules", "deletions": "Deletions", "exports": "Exports"}
# action -> (kind, what it reads as on the page)
ACTIONS = {
    "team.saved": ("settings", "Changed the team settings"),
    "team.permissions_changed": ("settings", "Changed what members may do"),
    "stage.added": ("settings", "Added a pipeline stage"),
    "stage.changed": ("settings", "Changed a pipeline stage"),
    "stage.deleted": ("deletions", "Deleted a pipeline stage"),
    "field.added": ("settings", "Added a custom field"),
    "field.changed": ("settings", "Changed a custom field"),
    "field.deleted": ("deletions", "Deleted a custom field"),
    "tag.renamed": ("settings", "Renamed a tag"),
    "tag.deleted": ("deletions", "Deleted a tag"),
    "template.added": ("settings", "Added an email template"),
    "template.changed": ("settings", "Changed an email template"),
    "capture_form.added": ("settings", "Added a capture form"),
    "capture_form.changed": ("settings", "Changed a capture form"),
    "capture_form.published": ("settings", "Published a capture form"),
    "capture_form.withdrawn": ("settings", "Withdrew a capture form"),
    "capture_form.deleted": ("deletions", "Deleted a capture form"),
    "held_submission.released": ("settings", "Released a held form submission"),
    "held_submission.discarded": ("deletions", "Discarded a held form submission"),
    "api_key.created": ("settings", "Created an API key"),
    "api_key.revoked": ("settings", "Revoked an API key"),
    "suppression.added": ("settings", "Added an address to the suppression list"),
    "suppression.lifted": ("settings", "Lifted an address from the suppression list"),
    "sequence.added": ("settings", "Added a sequence"),
    "sequence.changed": ("settings", "Changed a sequence"),
    "sequence.started": ("settings", "Started a sequence"),
    "sequence.paused": ("settings", "Paused a sequence"),
    "sequence.deleted": ("deletions", "Deleted a sequence"),
    "sequence_step.added": ("settings", "Added a sequence step"),
    "sequence_step.changed": ("settings", "Changed a sequence step"),
    "sequence_step.removed": ("deletions", "Removed a sequence step"),
    "sequence_rule.added": ("rules", "Added an enrolment rule"),
    "sequence_rule.removed": ("deletions", "Removed an enrolment rule"),
    "scoring_rule.saved": ("rules", "Saved a scoring rule"),
    "scoring_rule.deleted": ("deletions", "Deleted a scoring rule"),
    "assignment_rule.saved": ("rules", "Saved an assignment rule"),
    "assignment_rule.deleted": ("deletions", "Deleted an assignment rule"),
    "assignment_rule.enabled": ("rules", "Turned an assignment rule on"),
    "assignment_rule.disabled": ("rules", "Turned an assignment rule off"),
    "sla_rule.saved": ("rules", "Saved a first-response target"),
    "automation.saved": ("rules", "Saved an automation"),
    "automation.paused": ("rules", "Paused an automation"),
    "automation.resumed": ("rules", "Resumed an automation"),
    "automation.deleted": ("deletions", "Deleted an automation"),
    "automation.applied": ("rules", "Applied an automation to existing leads"),
    "business_hours.saved": ("settings", "Changed business hours and holidays"),
    "score_bands.saved": ("rules", "Changed the score bands"),
    "assignment_group.saved": ("rules", "Saved an assignment group"),
    "assignment_group.deleted": ("deletions", "Deleted an assignment group"),
    "lost_reason.added": ("settings", "Added a lost reason"),
    "lost_reason.renamed": ("settings", "Renamed a lost reason"),
    "lost_reason.archived": ("settings", "Archived a lost reason"),
    "lost_reason.restored": ("settings", "Put a lost reason back"),
    "closing.saved": ("settings", "Changed the won and lost settings"),
    "sla_rule.deleted": ("deletions", "Deleted a first-response target"),
    "user.invited": ("users", "Invited a teammate"),
    "user.invitation_revoked": ("users", "Withdrew an invitation"),
    "user.role_changed": ("users", "Changed a teammate's role"),
    "user.deactivated": ("users", "Deactivated a teammate"),
    "user.reactivated": ("users", "Reactivated a teammate"),
    "leads.exported": ("exports", "Exported leads as CSV"),
    "webhook.added": ("settings", "Added a webhook endpoint"),
    "webhook.changed": ("settings", "Changed a webhook endpoint"),
    "webhook.secret_rotated": ("settings", "Made a new webhook signing secret"),
    "webhook.deleted": ("deletions", "Removed a webhook endpoint"),
    "lead.deleted": ("deletions", "Moved a lead to the trash"),
    "lead.restored": ("settings", "Restored a lead from the trash"),
    "lead.erased": ("deletions", "Erased a person's data on request"),
    "lead.data_exported": ("exports", "Exported a person's data (access request)"),
}
COMMAND_LINE = "Command line"


def record(actor_id: int | None, action: str, target: str, details: dict | None = None) -> AuditEntry:
    """Add one entry to the current transaction (call it inside the action's atomic()); `target`
    names what changed in words. An unknown `action` is a programming error (KeyError)."""
    kind, _ = ACTIONS[action]
    name = db.session.scalar(select(User.name).where(User.id == actor_id)) if actor_id else None
    entry = AuditEntry(created_at=utcnow(), actor_id=actor_id, actor_name=(name or COMMAND_LINE)[:120], kind=kind,
                       action=action, target=" ".join(target.split())[:TARGET_LIMIT], details=details or {})
    db.session.add(entry)
    return entry


def label(action: str) -> str:
    return ACTIONS.get(action, ("", action))[1]


def entries(before: int | None = None, actor_id: int | None = None, kind: str | None = None,
            limit: int = PAGE) -> tuple[list[AuditEntry], bool]:
    """Up to `limit` entries older than entry `before` (None: the newest), by one person and of one
    kind when given, newest first; and whether older ones remain. Each filter is one index range."""
    query = select(AuditEntry)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if kind is not None:
        query = query.where(AuditEntry.kind == kind)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def people() -> list[tuple[int, str]]:
    """Everyone who can appear in the log's person filter: the team, active or not, by name."""
    return [(row.id, row.name) for row in db.session.execute(select(User.id, User.name).order_by(User.name, User.id))]
