"""The Kanban board: one column per stage, its maintained totals (services/totals.py), the first cards of each.

A column pages by keyset: a page is the cards after one (position, id) in the column's order, or
after one (score, id) when sorted by score (highest first, along ix_leads_stage_score_id), fetched
as limit + 1 so that whether more follow is known without counting, and the cost of a page does not
grow with how far down the column it is. A won or lost column shows only the leads closed in the
team's board period (services/closing.py), read through (stage_id, closed_on).

The board shows everyone's leads, one person's or the pool's (nobody's), and narrows by search text,
source, score band, minimum score, tag and a custom field with the pool's own rules
(lead_queries.filtered). A narrowed column cannot use the kept totals, so it counts at most
COUNT_LIMIT matching cards ("1,000+" beyond): a count that does not grow with the data."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead, Stage
from app.services import ServiceError, closing, custom_fields, lead_queries, permissions, search, totals, utcnow
from app.services.capture import capture_lead
from app.services.lead_queries import PoolFilters
from app.services.touches import is_stale
from app.services.stages import get_stage, pipeline
from app.services.tags import tags_for
from app.services.users import team


SORTS = ("position", "score")  # manual order (the default), or score highest first
COUNT_LIMIT = 1_000  # a narrowed column counts this many matches at most
SCAN_LIMIT = 5_000  # and tests a per-lead filter (tag, custom field, source, search) on this many of its leads at most


@dataclass(frozen=True)
class Cursor:
    """Where a column's next page starts: after the card that was at (key, id), the key being its
    position, or its score when sorted by score. The values, not the card, are the cursor, so a
    card moved or deleted since still marks the place."""
    key: int
    id: int


@dataclass
class View:
    """What the board shows: whose leads (None: everyone's; `pool`: nobody's), narrowed how (the
    pool's filters: search, source, tag, band, min_score and a custom field; its owner and other
    fields are left empty) and in which order."""
    owner_id: int | None = None
    sort: str = "position"
    narrow: PoolFilters = field(default_factory=PoolFilters)
    pool: bool = False
    # Whose leads the viewer may see (permissions.visible_to): None, everyone's; an id, that person's
    # and the pool's (0: the pool's alone).
    visible_to: int | None = None
    _searched: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def whose(self) -> View:
        """The same owner, no filters: the column as the kept totals count it."""
        return View(owner_id=self.owner_id, pool=self.pool, visible_to=self.visible_to)

    @property
    def narrowed(self) -> bool:
        return bool(self.narrow.q or self.narrow.source) or lead_queries.narrows(self.narrow)

    @property
    def by_score(self) -> bool:
        return self.sort == "score"

    def searched(self) -> tuple:
        """(clause, per_row) of the search text, read from the search index once per view (a board
        asks it of every column): search.row_clause."""
        if self._searched is None:
            self._searched = search.row_clause(self.narrow.q)
        return self._searched

    @property
    def probes(self) -> bool:
        """Whether a filter is tested lead by lead (a tag, custom field, source, or a search matching
        many leads) rather than read as a range or a short list of ids."""
        return (bool(self.narrow.tag or self.narrow.source)
                or (lead_queries.narrows(self.narrow) and self.narrow.field is not None)
                or (bool(self.narrow.q) and self.searched()[1]))


class Cards(list):
    """One page of a column's cards, whether more follow it, and (a page cut short by the scan
    window) where the next one starts."""
    has_more: bool = False
    resume: Cursor | None = None


@dataclass
class Column:
    stage: Stage
    count: int
    total_value: Decimal
    cards: list[Lead]
    count_exact: bool = True  # False: at least `count` cards match (a narrowed column past COUNT_LIMIT)
    by_score: bool = False
    shown_before: int = 0  # cards shown above this page: only for the "N left" label
    tags: dict[int, list[str]] = field(default_factory=dict)  # the cards' tags, by lead id
    # The custom fields admins show on cards, and the cards' values (read for all columns at once).
    card_fields: list = field(default_factory=list)
    card_values: dict = field(default_factory=dict)
    closed_since: date | None = None  # a won or lost column: it shows the leads closed since this day
    stale: set = field(default_factory=set)  # the ids of the cards shown that are stale

    @property
    def has_more(self) -> bool:
        return getattr(self.cards, "has_more", False)

    @property
    def next_cursor(self) -> Cursor | None:
        resume = getattr(self.cards, "resume", None)
        if resume is not None:
            return resume
        last = self.cards[-1] if self.has_more and self.cards else None
        if last is None:
            return None
        return Cursor(last.score if self.by_score else last.position, last.id)

    @property
    def left(self) -> int:
        """How many cards are below this page, by the column's total (at least one if more follow)."""
        return max(self.count - self.shown_before - len(self.cards), 1 if self.has_more else 0)


def _narrowed(query, stage_id: int, view: View, closed_since: date | None = None):
    """`query` over one stage's leads, narrowed to the view's owner and filters, and for a won or
    lost column to the leads closed since `closed_since`."""
    query = query.where(Lead.stage_id == stage_id, Lead.deleted_at.is_(None))  # the trash is on no board
    if closed_since is not None:
        query = _recently_closed(query, closed_since)
    if view.pool:
        query = query.where(Lead.owner_id.is_(None))
    elif view.owner_id is not None:
        query = query.where(Lead.owner_id == view.owner_id)
    if view.visible_to is not None:
        query = query.where(permissions.visible_clause(view.visible_to))
    if not view.narrowed:
        return query
    if view.narrow.q:
        query = query.where(view.searched()[0])
    return lead_queries.filtered(query, replace(view.narrow, q=""), None, per_row=True)


def _recently_closed(query, cutoff: date):
    """A closed column shows the leads closed since `cutoff`: read through the (stage_id, closed_on)
    index, so its cost follows the leads closed in the period, not all the leads ever won or lost."""
    return query.where(Lead.closed_on >= cutoff).with_hint(Lead, "INDEXED BY ix_leads_stage_id_closed_on", "sqlite")


def _closed_since(stage: Stage) -> date | None:
    return closing.board_cutoff() if closing.is_closed(stage) else None


def _in_order(query, view: View, after: Cursor | None):
    """`query` over one column's leads in the column's order, from after the cursor."""
    if view.by_score:
        # (score, id) below after's, highest first: a backward range of (stage_id, score, id).
        if after is not None:
            query = query.where(Lead.score <= after.key, or_(Lead.score < after.key, Lead.id < after.id))
        return query.order_by(Lead.score.desc(), Lead.id.desc())
    if after is not None:
        # (position, id) > after, written so an index on (stage_id[, owner_id], position) bounds the scan.
        query = query.where(Lead.position >= after.key, or_(Lead.position > after.key, Lead.id > after.id))
    return query.order_by(Lead.position, Lead.id)


def _cards(stage_id: int, view: View, after: Cursor | None, limit: int, closed_since: date | None = None) -> Cards:
    """A page of the column's cards after the cursor. A filter tested lead by lead (View.probes) is
    asked of the next SCAN_LIMIT leads of the column at most: a rare one would otherwise walk the whole
    column for one page. When that window holds fewer matches than a page, the page ends there and
    "Show more" resumes after the window's last lead, so each request costs at most SCAN_LIMIT probes."""
    query = _in_order(_narrowed(select(Lead).options(joinedload(Lead.owner)), stage_id, view, closed_since), view, after)
    window = None
    if view.probes:
        key = Lead.score if view.by_score else Lead.position
        window = _in_order(_narrowed(select(Lead.id, key), stage_id, view.whose, closed_since), view, after)
        query = query.where(Lead.id.in_(select(window.limit(SCAN_LIMIT).subquery().c.id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    cards = Cards(rows[:limit])
    cards.has_more = len(rows) > limit
    if window is not None and not cards.has_more:
        last = db.session.execute(window.offset(SCAN_LIMIT - 1).limit(1)).first()
        if last is not None:  # the window was full: the column goes on past it
            cards.has_more, cards.resume = True, Cursor(last[1], last[0])
    return cards


def _totals(view: View, stage_id: int | None = None) -> dict[int, tuple[int, Decimal]]:
    owners = None
    if view.visible_to is not None and not view.pool:
        # Someone who sees only their own leads and the pool counts only those (another person's: none).
        owners = (view.visible_to, totals.POOL) if view.owner_id is None else (
            (view.owner_id,) if view.owner_id == view.visible_to else ())
    return {sid: (t.count, t.value)
            for sid, t in totals.by_stage(view.owner_id, pool=view.pool, stage_id=stage_id, owners=owners).items()}


def bounded_count(stage_id: int, view: View, limit: int = COUNT_LIMIT, kept: int | None = None,
                  closed_since: date | None = None) -> tuple[int, bool, Decimal | None]:
    """(count, exact, value) of a narrowed column: at most `limit` + 1 matching ids are read; past
    `limit` the answer is (limit, False, None), "1,000+" with no value, never the whole stage.

    A score filter, or a search matching few leads, reads its range or its list of ids. A tag,
    custom-field or source filter, or a search matching many leads, is tested lead by lead along
    the stage, so a rare one would walk the whole column: in a column holding more
    than SCAN_LIMIT leads (`kept`, from the kept totals) only its first SCAN_LIMIT are tested, and
    the count is a floor ("312+"), its cost the same however long the column grows."""
    query = _narrowed(select(Lead.id), stage_id, view, closed_since)
    floor = bool(view.probes and kept is not None and kept > SCAN_LIMIT)
    if floor:
        walked = _narrowed(select(Lead.id), stage_id, view.whose, closed_since).order_by(
            Lead.position, Lead.id).limit(SCAN_LIMIT).subquery()
        query = query.where(Lead.id.in_(select(walked.c.id)))
    ids = list(db.session.scalars(query.limit(limit + 1)))
    if len(ids) > limit:
        return limit, False, None
    if floor:
        return len(ids), False, None
    value = db.session.scalar(select(func.sum(Lead.value)).where(Lead.id.in_(ids))) if ids else 0
    return len(ids), True, Decimal(value or 0)


def _closed_totals(stage_id: int, view: View, cutoff: date) -> tuple[int, Decimal]:
    """A won or lost column's count and value for the period it shows."""
    query = select(func.count(), func.coalesce(func.sum(Lead.value), 0)).select_from(Lead)
    count, value = db.session.execute(_narrowed(query, stage_id, view.whose, cutoff)).one()
    return count, Decimal(str(value)).quantize(Decimal("0.01"))


def _column(stage: Stage, view: View, kept: dict, after: Cursor | None, limit: int, shown_before: int = 0,
            count_limit: int = COUNT_LIMIT) -> Column:
    """One column's cards and count: the kept totals; a narrowed column's bounded count; a won or
    lost column's period."""
    since = _closed_since(stage)
    if view.narrowed:
        count, exact, value = bounded_count(stage.id, view, count_limit, kept.get(stage.id, (0, 0))[0], since)
    elif since is not None:
        (count, value), exact = _closed_totals(stage.id, view, since), True
    else:
        (count, value), exact = kept.get(stage.id, (0, Decimal(0))), True
    return Column(stage=stage, count=count, total_value=value, cards=_cards(stage.id, view, after, limit, since),
                  count_exact=exact, by_score=view.by_score, shown_before=shown_before, closed_since=since)


def columns(view: View | None = None, per_column: int = 20, count_limit: int = COUNT_LIMIT) -> list[Column]:
    """Every stage in order: the kept totals read once (or, narrowed, a bounded count per stage),
    then one bounded card query per stage."""
    view = view or View()
    kept = _totals(view)  # narrowed, they say how long a column is
    board = [_column(stage, view, kept, None, per_column, count_limit=count_limit) for stage in pipeline()]
    tags = tags_for([lead.id for col in board for lead in col.cards])  # one query for the whole board
    for col in board:
        col.tags = tags
    return with_card_fields(board)


def with_card_fields(cols: list[Column]) -> list[Column]:
    """The "show on card" custom fields and their values for every card shown, in one batch (no
    query per card; none at all beyond the definitions when no field is shown on cards), and which
    cards are stale (from the rows already read)."""
    now = utcnow()
    for col in cols:
        col.stale = {lead.id for lead in col.cards if is_stale(lead, col.stage, now)}
    fields = custom_fields.card_fields()
    if fields:
        values = custom_fields.values_for([lead.id for col in cols for lead in col.cards], fields)
        for col in cols:
            col.card_fields, col.card_values = fields, values
    return cols


def column(stage_id: int, view: View | None = None, after: Cursor | None = None, limit: int = 20,
           shown_before: int = 0, count_limit: int = COUNT_LIMIT) -> Column:
    """One column (for refreshing it from the top, or loading the cards `after` a cursor)."""
    view = view or View()
    stage = get_stage(stage_id)
    kept = _totals(view, stage.id)
    col = _column(stage, view, kept, after, limit, shown_before, count_limit)
    col.tags = tags_for([lead.id for lead in col.cards])
    return with_card_fields([col])[0]


def quick_add_refusal(stage: Stage) -> str | None:
    """Why a lead cannot be added straight into this column from the board (None: it can): a won or
    lost stage asks for closing details, and a team with required custom fields needs the full form."""
    if closing.is_closed(stage):
        return (f"{stage.name} is a closed stage: add the lead to an open stage, then move it here "
                "(closing asks for its details).")
    required = [f.label for f in custom_fields.active_fields() if f.required]
    if required:
        return f"Your team requires {', '.join(required)} on every lead: add this one with the full form."
    return None


def quick_add(stage_id: int, name: str, company: str, email: str, owner_id: int | None, actor_id: int,
              region: str | None = None):
    """Add a lead straight into a board column through the manual-entry capture path (so the same
    person is recognised, not duplicated), owned by `owner_id` (an active teammate) or the pool (None);
    the assignment rules are not asked, the owner was chosen. Raises ServiceError naming the field."""
    stage = get_stage(stage_id)
    refusal = quick_add_refusal(stage)
    if refusal:
        raise ServiceError(refusal)
    if owner_id is not None and owner_id not in {u.id for u in team()}:
        raise ServiceError("Choose a teammate, yourself or the pool.", field="owner")
    first, _, last = " ".join((name or "").split()).partition(" ")
    if not (first or (company or "").strip() or (email or "").strip()):
        raise ServiceError("Give the lead a name, a company or an email.", field="name")
    return capture_lead({"first_name": first, "last_name": last, "company": company, "email": email},
                        via="manual entry", actor_id=actor_id, owner_id=owner_id, stage_id=stage.id,
                        apply_rules=False, region=region)
