"""Team members: adding them, changing roles, deactivating."""
from __future__ import annotations

from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiKey, Invitation, Lead, Role, Stage, StageKind, User
from app.services import audit
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.auth import check_password_strength, end_all_sessions, hash_password


class EmailTaken(Conflict):
    def __init__(self):
        super().__init__("Someone on the team already uses that email.", field="email")


class LastAdmin(Conflict):
    def __init__(self):
        super().__init__("The team needs at least one active admin. Make someone else admin first.")


def _name_from_email(email: str) -> str:
    return email.split("@")[0].replace(".", " ").replace("_", " ").title()


def create_user(email: str, password: str, role: str = Role.member.value, name: str = "") -> User:
    """Add a user; raises EmailTaken, WeakPassword, or ServiceError for an unknown role."""
    email = email.strip().lower()
    if role not in {r.value for r in Role}:
        raise ServiceError(f"Role must be admin or member, not {role!r}.", field="role")
    check_password_strength(password, email)
    with atomic():
        if db.session.scalar(select(User.id).where(User.email == email)):
            raise EmailTaken()
        # One line, as an invitation's name is: a name goes into lists, email subjects and signatures.
        user = User(email=email, name=" ".join((name or "").split()) or _name_from_email(email),
                    password_hash=hash_password(password), role=role, active=True)
        db.session.add(user)
    return user


def _get(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("That user does not exist.")
    return user


def _other_active_admins(user_id: int) -> int:
    """Active admins besides this user, with their rows locked until the caller's transaction ends.

    Two admins demoting each other at once: the second waits for the first to commit, then counts
    again and is refused (PostgreSQL: FOR UPDATE; SQLite: atomic()'s BEGIN IMMEDIATE serialises)."""
    ids = db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True))
                             .order_by(User.id).with_for_update()).all()
    return sum(1 for i in ids if i != user_id)


def change_role(user_id: int, role: str, actor_id: int | None = None) -> User:
    """Make a user admin or member; raises LastAdmin when that would leave no active admin."""
    if role not in {r.value for r in Role}:
        raise ServiceError("Role must be admin or member.", field="role")
    with atomic():
        user = _get(user_id)
        if role != Role.admin.value and not _other_active_admins(user_id):
            db.session.refresh(user)  # it may have changed while we waited for the lock
            if user.role == Role.admin.value and user.active:
                raise LastAdmin()
        if user.role != role:
            audit.record(actor_id, "user.role_changed", f"{user.name}, now {role}", {"from": user.role, "to": role})
            if role != Role.admin.value:
                _withdraw_invitations_from(user.id)
        user.role = role
    return user


def set_active(user_id: int, active: bool, actor_id: int | None = None) -> User:
    """Deactivate (ending all their sessions at once; their leads stay theirs) or reactivate a user."""
    with atomic():
        user = _get(user_id)
        if not active and not _other_active_admins(user_id):
            db.session.refresh(user)
            if user.role == Role.admin.value and user.active:
                raise LastAdmin()
        if user.active != active:
            audit.record(actor_id, "user.deactivated" if not active else "user.reactivated", user.name)
        user.active = active
        if not active:
            end_all_sessions(user.id)
            _withdraw_invitations_from(user.id)
            # Their API keys stop too: a key is never more than the person who made it.
            db.session.execute(update(ApiKey).where(ApiKey.created_by_id == user.id, ApiKey.revoked_at.is_(None))
                               .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return user


def _withdraw_invitations_from(user_id: int) -> None:
    """An admin who is one no longer (demoted or deactivated) leaves no invitation of theirs open:
    the links say "withdrawn", and another admin may invite the people again."""
    db.session.execute(update(Invitation).where(Invitation.invited_by_id == user_id, Invitation.accepted_at.is_(None),
                                                Invitation.revoked_at.is_(None))
                       .values(revoked_at=utcnow()).execution_options(synchronize_session=False))


def team(include_inactive: bool = False) -> list[User]:
    query = select(User).order_by(User.active.desc(), User.name)
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return list(db.session.scalars(query))


def deactivate(user_id: int, actor_id: int, leads_to: int | None) -> tuple[User, int]:
    """Deactivate a user (ending their sessions) and hand their open leads to the pool (None) or to
    an active teammate, each on its timeline as an assignment, in one transaction: (the user, how
    many leads moved). Raises LastAdmin, or ServiceError("leads_to") for a teammate who can't take them."""
    from app.services.leads import MAX_BULK, bulk_assign
    if leads_to == user_id:
        raise ServiceError("Choose someone other than the person leaving, or the pool.", field="leads_to")
    moved = 0
    with atomic():
        user = set_active(user_id, False, actor_id)
        if leads_to is not None and not db.session.scalar(select(User.active).where(User.id == leads_to)):
            raise ServiceError("That teammate can't take leads: choose an active one, or the pool.", field="leads_to")
        while True:  # in batches, each read through ix_leads_owner_id
            ids = list(db.session.scalars(select(Lead.id).join(Stage, Stage.id == Lead.stage_id)
                                          .where(Lead.owner_id == user_id, Stage.kind == StageKind.open.value)
                                          .order_by(Lead.id).limit(MAX_BULK)))
            given = bulk_assign(ids, leads_to, actor_id) if ids else 0
            if not given:
                break
            moved += given
    return user, moved


def open_lead_count(user_id: int) -> int:
    """How many open leads (not won or lost) a user holds: what deactivating them would hand on."""
    from app.services.availability import open_lead_counts
    return open_lead_counts([user_id])[user_id]
