"""Tags: free labels on leads. The one home of what a tag may be (clean_tags), adding and removing
them with a timeline entry per changed lead in the same transaction, set-based bulk changes, and an
admin's rename and delete. Every write joins the caller's atomic()."""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Lead, LeadTag, Tag, TimelineEntry
from app.services import audit, events
from app.services import Conflict, NotFound, ServiceError, atomic, search, utcnow
from app.services.scoring import rescore, rescore_everyone
from app.services.timeline import record

MAX_LENGTH = 40
MAX_PER_LEAD = 50
# However tags arrive, more pieces than this are refused before any work (a pasted list of thousands).
MAX_PIECES = 1000
# All tags of the team: beyond this a new tag is refused until unused ones are deleted.
MAX_TAGS = 5000
SUGGESTIONS = 50
PUNCTUATION = "-_.&+/#'"
SEPARATORS = re.compile(r"[,;]")


class UnknownTag(NotFound):
    def __init__(self):
        super().__init__("That tag does not exist (it may have been deleted or renamed).", field="tags")


def tag_key(name: str) -> str:
    """What makes two tags the same tag: their words, case-folded."""
    return name.casefold()


def _pieces(raw) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, (list, tuple)):
        if len(raw) > MAX_PIECES:
            raise ServiceError(f"A lead can carry at most {MAX_PER_LEAD} tags.", field="tags")
        if not all(isinstance(item, str) for item in raw):
            raise ServiceError("Give tags as text, for example \"vip, trade show\".", field="tags")
        items = list(raw)
    else:
        raise ServiceError("Give tags as text, for example \"vip, trade show\".", field="tags")
    pieces = []
    for item in items:
        pieces.extend(SEPARATORS.split(item, maxsplit=MAX_PIECES))
        if len(pieces) > MAX_PIECES:
            raise ServiceError(f"A lead can carry at most {MAX_PER_LEAD} tags.", field="tags")
    return pieces


def clean_tag(raw: str, field: str = "tags") -> str:
    """One tag as stored: spaces collapsed, at most MAX_LENGTH characters of letters, digits,
    spaces and a little punctuation; raises ServiceError(field) otherwise."""
    name = " ".join((raw or "").split())
    if not name:
        raise ServiceError("Type a tag first.", field=field)
    if len(name) > MAX_LENGTH:
        raise ServiceError(f"Keep each tag to {MAX_LENGTH} characters (\"{name[:MAX_LENGTH]}…\" is longer).",
                           field=field)
    bad = next((ch for ch in name if not (ch.isalnum() or ch == " " or ch in PUNCTUATION)), None)
    if bad is not None:
        shown = f"\"{bad}\"" if bad.isprintable() else "a control character"
        raise ServiceError(f"Tags may hold letters, digits, spaces and {' '.join(PUNCTUATION)} "
                           f"(one has {shown}).", field=field)
    return name


def clean_tags(raw) -> list[str]:
    """Tags as typed ("vip, Trade show; vip"), or a list of them, as a list of distinct names in the
    order given: a comma or semicolon separates tags, the same tag in any case counts once. Raises
    ServiceError(field="tags") for a bad tag or more than MAX_PER_LEAD."""
    names: dict[str, str] = {}
    for piece in _pieces(raw):
        if not piece.strip():
            continue
        name = clean_tag(piece)
        names.setdefault(tag_key(name), name)
    if len(names) > MAX_PER_LEAD:
        raise ServiceError(f"A lead can carry at most {MAX_PER_LEAD} tags; that is {len(names)}.", field="tags")
    return list(names.values())


# --- reading ----------------------------------------------------------------------------------


def tags_for(lead_ids: list[int]) -> dict[int, list[str]]:
    """Each lead's tag names in alphabetical order, in one query (an empty list for a lead without)."""
    found: dict[int, list[str]] = {lead_id: [] for lead_id in lead_ids}
    if not found:
        return found
    rows = db.session.execute(select(LeadTag.lead_id, Tag.name).join(Tag, Tag.id == LeadTag.tag_id)
                              .where(LeadTag.lead_id.in_(list(found))).order_by(LeadTag.lead_id, Tag.name_key))
    for lead_id, name in rows:
        found[lead_id].append(name)
    return found


def find_tag(name: str) -> Tag | None:
    """The tag with this name in any case, or None (also for text that cannot be a tag)."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_LENGTH:
        return None
    return db.session.scalar(select(Tag).where(Tag.name_key == tag_key(name)))


def _containing(query, typed: str):
    """`query` narrowed to tags whose name contains what was typed (in any case; % and _ are literal)."""
    typed = " ".join((typed or "").split())[:MAX_LENGTH]
    if not typed:
        return query
    pattern = tag_key(typed).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return query.where(Tag.name_key.like(f"%{pattern}%", escape="\\"))


def suggestions(typed: str = "", limit: int = SUGGESTIONS, visible_to: int | None = None) -> list[str]:
    """Up to `limit` tag names containing what was typed, the most used first. For someone who sees
    only some leads (permissions.visible_to), only tags on a lead they see, or on none yet: a tag's
    name can say something about the lead it is on."""
    query = select(Tag.name).order_by(Tag.lead_count.desc(), Tag.name_key).limit(limit)
    query = _containing(query, typed)
    if visible_to is not None:
        from app.services.permissions import visible_clause  # permissions reads settings built on this module
        on_theirs = select(LeadTag.lead_id).join(Lead, Lead.id == LeadTag.lead_id).where(
            LeadTag.tag_id == Tag.id, Lead.deleted_at.is_(None), visible_clause(visible_to)).exists()
        query = query.where(or_(Tag.lead_count == 0, on_theirs))
    return list(db.session.scalars(query))


def get_tag(tag_id: int) -> Tag:
    """The tag with this id; raises UnknownTag."""
    tag = db.session.get(Tag, tag_id)
    if tag is None:
        raise UnknownTag()
    return tag


def all_tags(*, typed: str = "", after: str | None = None, limit: int = 100) -> tuple[list[Tag], bool]:
    """Tags containing `typed` in alphabetical order, `limit` at a time after the name key `after`;
    the flag says whether more remain."""
    query = select(Tag).order_by(Tag.name_key).limit(limit + 1)
    query = _containing(query, typed)
    if after:
        query = query.where(Tag.name_key > after)
    tags = list(db.session.scalars(query))
    return tags[:limit], len(tags) > limit


# --- writing ----------------------------------------------------------------------------------


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _lock_leads(lead_ids: list[int]) -> list[int]:
    """Lock the leads against other tag changes until the transaction ends (so two at once cannot
    pass the per-lead limit together); raises NotFound for a missing lead."""
    from app.services.leads import LeadNotFound
    wanted = sorted(set(lead_ids))
    found = list(db.session.scalars(select(Lead.id).where(Lead.id.in_(wanted)).order_by(Lead.id)
                                    .with_for_update(key_share=True)))
    if len(found) != len(wanted):
        raise LeadNotFound()
    return found


def ensure_tags(names: list[str]) -> dict[int, str]:
    """The tags with these (clean) names, made where missing: {tag id: name as stored}. Raises
    ServiceError when a new tag would pass MAX_TAGS."""
    keys = {tag_key(name): name for name in names}
    if not keys:
        return {}
    # KEY SHARE: an admin deleting one of these tags right now finishes first (and it is made anew
    # here), or waits until this transaction has put it on its leads.
    existing = dict(db.session.execute(select(Tag.name_key, Tag.id).where(Tag.name_key.in_(list(keys)))
                                       .with_for_update(read=True, key_share=True)).all())
    missing = [key for key in keys if key not in existing]
    if missing:
        if db.session.scalar(select(func.count()).select_from(Tag)) + len(missing) > MAX_TAGS:
            raise ServiceError(f"The team already has close to {MAX_TAGS} tags. Delete unused ones in "
                               "Settings → Tags, or use an existing tag.", field="tags")
        # Two people making one new tag at once: the second insert does nothing and reads the first's.
        db.session.execute(_insert(Tag).values([{"name": keys[key], "name_key": key, "lead_count": 0}
                                                for key in missing])
                           .on_conflict_do_nothing(index_elements=["name_key"]))
    rows = db.session.execute(select(Tag.id, Tag.name).where(Tag.name_key.in_(list(keys)))
                              .with_for_update(read=True, key_share=True))
    return dict(rows.all())


def _count(changed: list[tuple[int, int]], sign: int) -> None:
    per_tag: dict[int, int] = defaultdict(int)
    for _lead_id, tag_id in changed:
        per_tag[tag_id] += 1
    table = Tag.__table__
    for tag_id in sorted(per_tag):  # one order for every writer, so two never deadlock on tag rows
        db.session.execute(update(table).where(table.c.id == tag_id)
                           .values(lead_count=table.c.lead_count + sign * per_tag[tag_id]))


def _record_each(changed: list[tuple[int, int]], names: dict[int, str], kind: str, actor_id: int | None,
                 now: datetime) -> int:
    """One timeline entry per changed lead, and its updated_at stamped (an API client syncing by
    updated_since sees the change); the version stays, so an open edit form is not made stale."""
    per_lead: dict[int, list[str]] = defaultdict(list)
    for lead_id, tag_id in changed:
        per_lead[lead_id].append(names[tag_id])
    if per_lead:
        db.session.execute(update(Lead).where(Lead.id.in_(list(per_lead))).values(updated_at=now)
                           .execution_options(synchronize_session=False))
        db.session.execute(TimelineEntry.__table__.insert(), [
            {"lead_id": lead_id, "actor_id": actor_id, "kind": kind, "data": {"tags": sorted(tags, key=tag_key)},
             "created_at": now} for lead_id, tags in sorted(per_lead.items())])
    return len(per_lead)


def _refuse_over_limit(lead_ids: list[int]) -> None:
    over = db.session.execute(select(LeadTag.lead_id, func.count()).where(LeadTag.lead_id.in_(lead_ids))
                              .group_by(LeadTag.lead_id).having(func.count() > MAX_PER_LEAD).limit(1)).first()
    if over:
        subject = "this lead" if len(lead_ids) == 1 else "a selected lead"
        raise ServiceError(f"A lead can carry at most {MAX_PER_LEAD} tags; that would give {subject} {over[1]}. "
                           "Remove some first.", field="tags")


def _attach(lead_ids: list[int], tag_names: dict[int, str], actor_id: int | None, now: datetime, *,
            score: bool = True) -> int:
    if not lead_ids or not tag_names:
        return 0
    pairs = (select(Lead.id, Tag.id).select_from(Lead).join(Tag, Tag.id.in_(list(tag_names)))
             .where(Lead.id.in_(lead_ids)))
    changed = [tuple(row) for row in db.session.execute(
        _insert(LeadTag).from_select(["lead_id", "tag_id"], pairs)
        .on_conflict_do_nothing(index_elements=["lead_id", "tag_id"])
        .returning(LeadTag.lead_id, LeadTag.tag_id))]
    _refuse_over_limit(lead_ids)
    search.changed(lead_id for lead_id, _ in changed)
    _count(changed, +1)
    if score:
        rescore(sorted({lead_id for lead_id, _ in changed}), now, actor_id=actor_id)  # tags are scoring conditions
    _tell_tagged(changed, tag_names)
    return _record_each(changed, tag_names, "tagged", actor_id, now)


def _tell_tagged(changed: list[tuple[int, int]], names: dict[int, str]) -> None:
    """A "lead.tagged" event per lead that gained tags, naming them (services/events.py)."""
    per_lead: dict[int, list[str]] = defaultdict(list)
    for lead_id, tag_id in changed:
        per_lead[lead_id].append(names[tag_id])
    for lead_id, tags in sorted(per_lead.items()):
        events.emit("lead.tagged", lead_id=lead_id, data={"tags": sorted(tags, key=tag_key)})


def _detach(lead_ids: list[int], tag_names: dict[int, str], actor_id: int | None, now: datetime) -> int:
    if not lead_ids or not tag_names:
        return 0
    changed = [tuple(row) for row in db.session.execute(
        delete(LeadTag).where(LeadTag.lead_id.in_(lead_ids), LeadTag.tag_id.in_(list(tag_names)))
        .returning(LeadTag.lead_id, LeadTag.tag_id).execution_options(synchronize_session=False))]
    _count(changed, -1)
    search.changed(lead_id for lead_id, _ in changed)
    rescore(sorted({lead_id for lead_id, _ in changed}), now, actor_id=actor_id)
    return _record_each(changed, tag_names, "untagged", actor_id, now)


def add_tags(lead_id: int, names, actor_id: int | None, now: datetime | None = None, *,
             score: bool = True) -> list[str]:
    """Put tags on a lead (names as clean_tags takes them; ones it has already are left alone), with a
    'tagged' timeline entry naming the new ones; returns the lead's tags. Raises LeadNotFound, or
    ServiceError(field="tags") for a bad tag or one past MAX_PER_LEAD.

    score=False: the caller rescores the lead itself once the rest of its change is written
    (capture_lead does), so the lead is not scored twice."""
    names = clean_tags(names)
    with atomic():
        _lock_leads([lead_id])
        _attach([lead_id], ensure_tags(names), actor_id, now or utcnow(), score=score)
        return tags_for([lead_id])[lead_id]


def tag_new_lead(lead_id: int, names: list[str], actor_id: int | None, now: datetime) -> list[str]:
    """Put clean tags (clean_tags, at most MAX_PER_LEAD) on a lead made in this transaction, joining
    it: the lead carries none yet and nobody else can see it, so there is nothing to lock, compare
    or count beyond the tags themselves. Writes the 'tagged' entry; returns the lead's tags as
    tags_for orders them. Raises ServiceError as ensure_tags does."""
    found = ensure_tags(names)
    if not found:
        return []
    pairs = [(lead_id, tag_id) for tag_id in sorted(found)]
    search.changed([lead_id])
    db.session.execute(LeadTag.__table__.insert(), [{"lead_id": lead_id, "tag_id": tag_id} for _, tag_id in pairs])
    _count(pairs, +1)
    names_now = sorted(found.values(), key=tag_key)
    events.emit("lead.tagged", lead_id=lead_id, data={"tags": names_now}, now=now)
    db.session.execute(TimelineEntry.__table__.insert(), [
        {"lead_id": lead_id, "actor_id": actor_id, "kind": "tagged", "data": {"tags": names_now}, "created_at": now}])
    return names_now


def remove_tag(lead_id: int, name: str, actor_id: int | None, now: datetime | None = None) -> list[str]:
    """Take one tag (any case) off a lead with an 'untagged' entry; a tag it does not carry is no
    change. Returns the lead's tags; raises LeadNotFound."""
    with atomic():
        _lock_leads([lead_id])
        tag = find_tag(name)
        if tag is not None:
            _detach([lead_id], {tag.id: tag.name}, actor_id, now or utcnow())
        return tags_for([lead_id])[lead_id]


def set_tags(lead_id: int, names, actor_id: int | None, now: datetime | None = None) -> list[str]:
    """Make a lead's tags exactly these (the API's update): adds and removes with one entry each."""
    names = clean_tags(names)
    now = now or utcnow()
    with atomic():
        _lock_leads([lead_id])
        wanted = ensure_tags(names)
        current = dict(db.session.execute(select(Tag.id, Tag.name).join(LeadTag, LeadTag.tag_id == Tag.id)
                                          .where(LeadTag.lead_id == lead_id)).all())
        _detach([lead_id], {tag_id: name for tag_id, name in current.items() if tag_id not in wanted},
                actor_id, now)
        _attach([lead_id], wanted, actor_id, now)
        return tags_for([lead_id])[lead_id]


def _bulk_ids(lead_ids: list[int]) -> list[int]:
    from app.services.leads import MAX_BULK
    if not lead_ids:
        raise ServiceError("Select at least one lead first.", field="lead_ids")
    if len(set(lead_ids)) > MAX_BULK:
        raise ServiceError(f"Select at most {MAX_BULK} leads at a time.", field="lead_ids")
    return _lock_leads(lead_ids)


def bulk_tag(lead_ids: list[int], names, actor_id: int | None, now: datetime | None = None) -> int:
    """Put tags on many leads in a few statements, one 'tagged' entry per lead that changed; returns
    how many changed. Raises as add_tags does, and ServiceError(field="lead_ids") for none or too many."""
    names = clean_tags(names)
    if not names:
        raise ServiceError("Type the tags to add.", field="tags")
    with atomic():
        ids = _bulk_ids(lead_ids)
        return _attach(ids, ensure_tags(names), actor_id, now or utcnow())


def bulk_untag(lead_ids: list[int], names, actor_id: int | None, now: datetime | None = None) -> int:
    """Take tags off many leads, one 'untagged' entry per lead that changed; returns how many changed."""
    names = clean_tags(names)
    if not names:
        raise ServiceError("Type the tags to remove.", field="tags")
    with atomic():
        ids = _bulk_ids(lead_ids)
        found = dict(db.session.execute(select(Tag.id, Tag.name)
                                        .where(Tag.name_key.in_([tag_key(n) for n in names]))).all())
        return _detach(ids, found, actor_id, now or utcnow())


def tag_ids_of(lead_id: int) -> list[int]:
    """The ids of a lead's tags (a merge keeps the loser's, to give them back on undo)."""
    return list(db.session.scalars(select(LeadTag.tag_id).where(LeadTag.lead_id == lead_id).order_by(LeadTag.tag_id)))


def fold_tags(loser_id: int, survivor_id: int) -> list[int]:
    """A merge: the loser's tags join the survivor's (call inside the merge's atomic()). Returns the
    ids of the tags the survivor gained, which undoing the merge takes off again."""
    gained = [row[1] for row in db.session.execute(
        _insert(LeadTag).from_select(["lead_id", "tag_id"],
                                     select(literal(survivor_id, Integer), LeadTag.tag_id).where(LeadTag.lead_id == loser_id))
        .on_conflict_do_nothing(index_elements=["lead_id", "tag_id"])
        .returning(LeadTag.lead_id, LeadTag.tag_id))]
    lost = [(loser_id, row[0]) for row in db.session.execute(
        delete(LeadTag).where(LeadTag.lead_id == loser_id).returning(LeadTag.tag_id)
        .execution_options(synchronize_session=False))]
    _count(lost, -1)
    _count([(survivor_id, tag_id) for tag_id in gained], +1)
    search.changed([loser_id, survivor_id])
    return gained


def unfold_tags(survivor_id: int, loser_id: int, loser_tag_ids: list[int], gained_tag_ids: list[int]) -> None:
    """Undoing a merge: the loser gets its tags back (those not deleted since) and the survivor loses
    the ones the merge gave it (call inside the undo's atomic())."""
    search.changed([loser_id, survivor_id])
    if loser_tag_ids:
        back = [tuple(row) for row in db.session.execute(
            _insert(LeadTag).from_select(["lead_id", "tag_id"], select(literal(loser_id, Integer), Tag.id)
                                         .where(Tag.id.in_(loser_tag_ids)))
            .on_conflict_do_nothing(index_elements=["lead_id", "tag_id"])
            .returning(LeadTag.lead_id, LeadTag.tag_id))]
        _count(back, +1)
    if gained_tag_ids:
        taken = [tuple(row) for row in db.session.execute(
            delete(LeadTag).where(LeadTag.lead_id == survivor_id, LeadTag.tag_id.in_(gained_tag_ids))
            .returning(LeadTag.lead_id, LeadTag.tag_id).execution_options(synchronize_session=False))]
        _count(taken, -1)


# --- the admin's list -------------------------------------------------------------------------


def rename_tag(tag_id: int, new_name: str, actor_id: int | None) -> Tag:
    """Give a tag a new name on every lead at once; raises UnknownTag, ServiceError(field="name") for
    a bad name, Conflict(field="name") when another tag already has it."""
    name = clean_tag(new_name, field="name")
    with atomic():
        tag = db.session.get(Tag, tag_id, with_for_update=True)
        if tag is None:
            raise UnknownTag()
        other = db.session.scalar(select(Tag.id).where(Tag.name_key == tag_key(name), Tag.id != tag.id))
        if other is not None:
            raise Conflict(f"There is already a tag \"{name}\". Delete one of the two instead.", field="name")
        audit.record(actor_id, "tag.renamed", f"Tag {tag.name}, now {name}")
        tag.name, tag.name_key = name, tag_key(name)
        search.changed(db.session.scalars(select(LeadTag.lead_id).where(LeadTag.tag_id == tag.id)))
    rescore_everyone()  # rules name tags by their words: "vip" renamed no longer counts as "vip"
    return tag


def delete_tag(tag_id: int, actor_id: int | None, now: datetime | None = None) -> int:
    """Delete a tag from every lead, with an 'untagged' entry on each (one statement, however many);
    returns how many leads carried it. Raises UnknownTag."""
    now = now or utcnow()
    with atomic():
        tag = db.session.get(Tag, tag_id, with_for_update=True)
        if tag is None:
            raise UnknownTag()
        entries = select(LeadTag.lead_id, literal(actor_id, Integer), literal("untagged", String),
                         literal({"tags": [tag.name], "deleted": True}, JSON), literal(now, DateTime)
                         ).where(LeadTag.tag_id == tag.id)
        count = db.session.scalar(select(func.count()).select_from(LeadTag).where(LeadTag.tag_id == tag.id))
        search.changed(db.session.scalars(select(LeadTag.lead_id).where(LeadTag.tag_id == tag.id)))
        db.session.execute(TimelineEntry.__table__.insert().from_select(
            ["lead_id", "actor_id", "kind", "data", "created_at"], entries))
        db.session.execute(delete(LeadTag).where(LeadTag.tag_id == tag.id).execution_options(synchronize_session=False))
        audit.record(actor_id, "tag.deleted", f"Tag {tag.name} (on {count:,} leads)")
        db.session.delete(tag)
    rescore_everyone()
    return count
