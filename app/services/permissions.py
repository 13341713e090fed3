"""What members may do: the one home of these rules (issue 16, "Permissions").

Admins may everything. Team settings choose, for members, whether they may see every lead or only
their own and the pool's, reassign a lead someone else owns, merge, import, export and delete. An
API key carries a role too ("member" keys follow these rules, their own leads being their
creator's) and may be read-only.

Every way in asks here: `allows(who, action, lead)` answers, `require(...)` raises Forbidden with
a message saying what is not allowed and who can change it, and `visible_to(who)` /
`visible_clause(who)` narrow lead lists in SQL, so a member restricted to their own leads and
the pool neither sees nor counts anyone else's."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Protocol

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Lead
from app.services import Forbidden, settings_cache, whole_number

# action: (the team_settings column, the switch's label on Team settings, what a refusal says is not allowed)
OFF_BY_DEFAULT = frozenset({"delete"})  # before its switch only admins could: a team turns it on
ACTIONS = {
    "see_all_leads": ("member_see_all_leads", "See every lead (otherwise only their own and the shared pool)",
                      "see leads that belong to someone else"),
    "reassign": ("member_reassign", "Reassign leads that belong to someone else",
                 "reassign leads that belong to someone else"),
    "merge": ("member_merge", "Merge duplicate leads", "merge leads"),
    "import": ("member_import", "Import leads from CSV files", "import leads"),
    "export": ("member_export", "Export leads as CSV", "export leads"),
    "delete": ("member_delete", "Delete leads", "delete leads"),
}
WHO_CHANGES = "An admin can allow it on the Team settings page."
READ_ONLY_REFUSAL = ("This API key is read-only: it may read, not change anything. An admin can create a key "
                     "that may write at Settings › API keys.")


class Who(Protocol):
    """Anyone whose permissions are asked: a signed-in User, or an API key's Actor."""
    id: int | None
    is_admin: bool


@dataclass(frozen=True)
class Actor:
    """An API key as the rules see it: whose own leads it works on (its creator's; None: nobody's,
    so only the pool), whether it has the admin role, whether it may only read."""
    id: int | None
    is_admin: bool
    read_only: bool = False


def member_settings() -> dict[str, bool]:
    """{action: whether members may}, as the team settings say (the defaults while none are saved);
    no query while the settings are unchanged (services.settings_cache)."""
    return dict(settings_cache("permissions.members", _load_member_settings))


def _load_member_settings() -> tuple[tuple[str, bool], ...]:
    from app.services import team_settings
    row = team_settings.current()
    return tuple((action, _on(getattr(row, column), action)) for action, (column, _, _) in ACTIONS.items())


def _on(value, action: str) -> bool:
    """An unsaved row's column is None: the default, allowed, except deleting (admins' alone before)."""
    return action not in OFF_BY_DEFAULT if value is None else bool(value)



def allows(who: Who | None, action: str, lead: Lead | None = None) -> bool:
    """Whether `who` may do `action` (to `lead`, where it matters). Admins may everything; nobody
    (None) may nothing. With a lead: a lead of theirs or the pool's is always theirs to see and to
    give away; someone else's needs "see_all_leads" to see, "reassign" to reassign. Raises KeyError
    for an action that is not one of ACTIONS (a programming error)."""
    ACTIONS[action]
    if who is None:
        return False
    if who.is_admin:
        return True
    if lead is not None and action in ("see_all_leads", "reassign") and _theirs_or_pool(who, lead.owner_id):
        return True
    return member_settings()[action]


def _theirs_or_pool(who: Who, owner_id: int | None) -> bool:
    return owner_id is None or (who.id is not None and owner_id == who.id)


def refusal(action: str, who: Who | None = None) -> str:
    """What a refusal says: what is not allowed, and who can change it."""
    key = "This API key has the member role, and m" if isinstance(who, Actor) else "M"
    return f"{key}embers may not {ACTIONS[action][2]} in this team. {WHO_CHANGES}"


def require(who: Who | None, action: str, lead: Lead | None = None) -> None:
    """Raise Forbidden (403, with a message naming what and who can allow it) unless `who` may."""
    if not allows(who, action, lead):
        raise Forbidden(refusal(action, who))


def require_writes(who: Who | None) -> None:
    """A read-only API key may not change anything: Forbidden."""
    if getattr(who, "read_only", False):
        raise Forbidden(READ_ONLY_REFUSAL)


# --- which leads someone sees --------------------------------------------------------------------


def visible_to(who: Who | None) -> int | None:
    """None: `who` sees every lead. Otherwise the id whose leads, with the pool's, are all `who`
    sees (0: nobody's, so the pool alone; it is also the kept totals' key of the pool)."""
    if who is not None and allows(who, "see_all_leads"):
        return None
    return (who.id if who is not None else None) or 0


def visible_clause(owner_id: int | None):
    """The SQL condition "the lead is owner_id's or in the pool" (owner_id from visible_to)."""
    return or_(Lead.owner_id == owner_id, Lead.owner_id.is_(None)) if owner_id else Lead.owner_id.is_(None)


def sees(scope: int | None, owner_id: int | None) -> bool:
    """Whether someone whose scope is `scope` (from visible_to) sees a lead owned by `owner_id`."""
    return scope is None or owner_id is None or (scope != 0 and owner_id == scope)


def hidden_lead(matched_on: str | None) -> str:
    """What a capture (an import row, an API call) that matched a lead its maker may not see says:
    that lead was left as it is, without naming it."""
    return f"A teammate already has this lead (same {matched_on or 'details'}); it was left as it is."


def require_owner_filter(who: Who | None, owner: str | int | None) -> None:
    """A list filtered by owner ("me", "none", or an id): someone who sees only their own leads and
    the pool may not ask for another person's. Raises Forbidden."""
    scope = visible_to(who)
    if scope is None or owner in (None, "", "none", "me"):
        return
    wanted = owner if isinstance(owner, int) else whole_number(str(owner))
    if wanted is not None and wanted != scope:
        raise Forbidden(f"You may see only your own leads and the shared pool, not another person's. "
                        f"{WHO_CHANGES}")


def scoped(filters, who: Who | None):
    """The pool's filters (lead_queries.PoolFilters) narrowed to the leads `who` may see; raises
    Forbidden when they ask for another person's leads that `who` may not see."""
    require_owner_filter(who, filters.owner)
    return replace(filters, visible_to=visible_to(who))


def require_visible(who: Who | None, lead_ids: Iterable[int]) -> None:
    """Every one of these leads (those that exist) must be visible to `who`: one query; Forbidden otherwise."""
    scope = visible_to(who)
    ids = {i for i in lead_ids if isinstance(i, int)}
    if scope is None or not ids:
        return
    hidden = db.session.scalar(select(func.count()).select_from(Lead).where(Lead.id.in_(ids),
                                                                           ~visible_clause(scope)))
    if hidden:
        raise Forbidden(refusal("see_all_leads", who))


def require_visible_lead(who: Who | None, lead_id: int) -> None:
    """The lead with this id (if there is one) must be visible to `who`: Forbidden otherwise."""
    scope = visible_to(who)
    if scope is None:
        return
    owner = db.session.execute(select(Lead.owner_id).where(Lead.id == lead_id)).first()
    if owner is not None and not _theirs_or_pool(who, owner[0]):
        require(who, "see_all_leads")


def imports_visible_to(who: Who | None) -> int | None:
    """None: `who` sees every import. Otherwise the id of the only person whose imports `who` sees:
    their own (an import's ledger names the leads it made or updated, teammates' leads among them)."""
    return None if visible_to(who) is None else getattr(who, "id", 0) or 0


def require_import_visible(who: Who | None, imp) -> None:
    """An import `who` may open (its progress, ledger, row report, undo): Forbidden otherwise."""
    scope = imports_visible_to(who)
    if scope is not None and imp.created_by_id != scope:
        raise Forbidden(f"You may open only the imports you started: this one names leads you may not see. "
                        f"{WHO_CHANGES}")


def require_merge_visible(who: Who | None, merge) -> None:
    """Undoing a merge changes both leads: the survivor, and the loser as it was when merged (its
    owner in the snapshot) must both be ones `who` may see; Forbidden otherwise."""
    require_visible(who, [merge.survivor_id])
    loser_owner = (merge.loser_snapshot or {}).get("owner_id")
    if visible_to(who) is not None and not _theirs_or_pool(who, loser_owner):
        require(who, "see_all_leads")


def require_reassign(who: Who | None, lead_ids: Iterable[int], new_owner_id: int | None) -> None:
    """Changing the owner of leads: each one someone else owns needs "reassign" (one query). Giving
    away one's own lead, or handing out one from the pool, is always allowed. Raises Forbidden."""
    if who is None or who.is_admin or member_settings()["reassign"]:
        return
    ids = {i for i in lead_ids if isinstance(i, int)}
    if not ids:
        return
    others = Lead.owner_id.is_not(None)
    if who.id is not None:
        others = others & (Lead.owner_id != who.id)
    moving = db.session.scalar(select(func.count()).select_from(Lead).where(
        Lead.id.in_(ids), others, Lead.owner_id.is_distinct_from(new_owner_id)))
    if moving:
        raise Forbidden(refusal("reassign", who))


# --- the admins' switches ------------------------------------------------------------------------


def apply(row, toggles: dict[str, bool]) -> dict[str, dict[str, bool]]:
    """Set the members' switches on a TeamSettings row; returns {action: {"from", "to"}} of those changed
    (what the audit log records). Unknown actions are a programming error (KeyError)."""
    changed = {}
    for action, allowed in toggles.items():
        column = ACTIONS[action][0]
        before = _on(getattr(row, column), action)
        if before != bool(allowed):
            changed[action] = {"from": before, "to": bool(allowed)}
        setattr(row, column, bool(allowed))
    return changed
