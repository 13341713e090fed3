"""The lead pool's list queries: filters, sorting and paging, shared by the pool page, the API's
listing and the CSV export so that all three show the same leads in the same order.

The pool pages by keyset, never OFFSET: a page is "the leads after (or before) this one" in the
order (sort key, id), found by an index range scan that costs the same on page 1 and page 20,000.
The page a cursor names is carried in the address as a signed token (`encode_cursor`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Integer, Select, and_, exists, false, func, literal, literal_column, or_, select, text
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import CustomField, FieldKind, ImportRow, Lead, LeadFieldChoice, LeadFieldValue, LeadTag, Tag
from app.models.fields import VALUE_COLUMN
from app.services import INT32_MAX, ServiceError, custom_fields, permissions, scoring, search, totals, utcnow, whole_number
from app.services.touches import stale_clause
from app.services.tags import tag_key

SORTS = {
    "created": Lead.created_at, "updated": Lead.updated_at, "name": Lead.last_name,
    "company": Lead.company, "value": Lead.value, "score": Lead.score,
}
NULLABLE_SORTS = {"company", "value"}
COUNT_LIMIT = 10_000
# A custom field sorts as "cf:<key>": by its typed value column, through that column's index
# (field_id, value, lead_id); leads without a value come last in both directions.
CUSTOM_SORT = "cf:"
SORTABLE_KINDS = {FieldKind.text.value, FieldKind.url.value, FieldKind.choice.value, FieldKind.number.value,
                  FieldKind.money.value, FieldKind.date.value, FieldKind.checkbox.value}
RANGE_KINDS = {FieldKind.number.value, FieldKind.money.value, FieldKind.date.value}


@dataclass(frozen=True)
class Position:
    """A lead's place in a sort order: its sort key (None in the NULL section) and its id."""
    key: object
    id: int


@dataclass
class PoolFilters:
    q: str = ""
    stage_id: int | None = None
    owner: str = ""  # "", "none" (the pool), or a user id as text
    source: str = ""
    country: str = ""  # an ISO 3166-1 alpha-2 code, as leads hold it ("DE")
    tag: str = ""  # a tag's name, in any case
    band: str = ""  # a score band's name, in any case (a score range: ix_leads_score_id)
    min_score: int | None = None  # a score at least this
    next_step: str = ""  # "none" (no open task) or "overdue" (leads.next_task_due_at before now)
    stale: bool = False  # only leads untouched too long in their stage (touches.stale_clause)
    response: str = ""  # "waiting" (first-response clock running) or "overdue" (past its due time)
    import_id: int | None = None  # only the leads one import created, changed or matched (import_rows)
    sort: str = "created"
    direction: str = "desc"
    after: Position | None = None  # the page after this lead
    before: Position | None = None  # the page before this lead
    last: bool = False  # the last page
    # A custom field shown as a column and filtered on: equals (a choice, a checkbox "yes"/"no", an
    # option of a multiple choice), contains (text), or a range (number, money, date; either end).
    field: CustomField | None = None
    field_value: object = None
    field_min: object = None
    field_max: object = None
    # Whose leads the person asking may see (permissions.visible_to): None, everyone's; an id, that
    # person's and the pool's (0: the pool's alone). Set by permissions.scoped, never from an address.
    visible_to: int | None = None

    def as_args(self, **changes) -> dict:
        """Query-string arguments for this filter with some values changed (defaults left out). The
        page is not among them: pass after=, before= or last= to name one; any other change of
        filter or sort starts again at the first page."""
        values = {"q": self.q, "stage": self.stage_id, "owner": self.owner, "source": self.source,
                  "country": self.country, "tag": self.tag, "band": self.band, "min_score": self.min_score,
                  "next_step": self.next_step, "stale": "1" if self.stale else None, "response": self.response,
                  "import": self.import_id,
                  "field": self.field.key if self.field else None, "field_value": _arg(self.field_value),
                  "field_min": _arg(self.field_min), "field_max": _arg(self.field_max),
                  "sort": self.sort, "dir": self.direction}
        values.update(changes)
        defaults = {"sort": "created", "dir": "desc"}
        return {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}

    @classmethod
    def from_args(cls, args) -> PoolFilters:
        """The filters back from what `as_args` wrote (a job's stored query string, checked when it
        was stored); raises ServiceError when a custom field it names is gone."""
        def number(name):
            raw = (args.get(name) or "").strip()
            digits = raw.removeprefix("-")
            return (-1 if raw.startswith("-") else 1) * int(digits) if digits.isdigit() and len(digits) < 10 else None
        field, value, low, high = field_filter(args.get("field") or "", args.get("field_value") or "",
                                               args.get("field_min") or "", args.get("field_max") or "")
        return cls(q=args.get("q") or "", stage_id=number("stage"), owner=args.get("owner") or "",
                   source=args.get("source") or "", country=args.get("country") or "", tag=args.get("tag") or "",
                   band=args.get("band") or "", min_score=number("min_score"), next_step=args.get("next_step") or "",
                   stale=args.get("stale") == "1", response=args.get("response") or "",
                   import_id=number("import"),
                   sort=args.get("sort") or "created", direction=args.get("dir") or "desc",
                   field=field, field_value=value, field_min=low, field_max=high)


def _arg(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # a checkbox filter, as its query string says it
        return "yes" if value else "no"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@dataclass
class Page:
    items: list[Lead]
    at: str  # which page this is: "first", "after", "before" or "last" (a stale cursor gives "first")
    has_prev: bool
    has_next: bool
    start: Position | None = None  # the first lead's place, for the page before this one
    end: Position | None = None  # the last lead's place, for the page after it


@dataclass(frozen=True)
class Total:
    count: int
    exact: bool  # False: at least `count` leads match ("more than 10,000")


POOL = "pool"


def owner_scope(f: PoolFilters, acting_user_id: int | None) -> int | str | None:
    """Whose leads `f` asks for: None (everyone's), POOL (nobody's), or a user id."""
    if f.owner == "none":
        return POOL
    if f.owner == "me":
        return acting_user_id
    return whole_number(f.owner)


def filtered(query: Select, f: PoolFilters, acting_user_id: int | None, per_row: bool = False) -> Select:
    """`query` narrowed to the leads the pool shows for `f` (search, stage, owner, source, country, tag,
    score band, minimum score, custom field); no order. The board narrows its columns with it too, with
    `per_row`: a tag or custom-field filter is then asked of each lead the query walks (an EXISTS
    probing the primary key of lead_tags or of the values) instead of read as a list of every matching lead first, since a board
    column walks one stage's index and stops after a page: that cost does not grow with the leads.
    A lead in the trash (services/trash.py) is never among them."""
    query = query.where(Lead.deleted_at.is_(None))
    if f.visible_to is not None:  # a member who sees only their own leads and the pool
        query = query.where(permissions.visible_clause(f.visible_to))
    if f.q:  # the navigation's search, through its index (services/search): never a scan of every lead
        query = query.where(search.pool_clause(f.q))
    if f.stage_id is not None:
        query = query.where(Lead.stage_id == f.stage_id)
    owner = owner_scope(f, acting_user_id)
    if owner is POOL:
        query = query.where(Lead.owner_id.is_(None))
    elif owner is not None:
        query = query.where(Lead.owner_id == owner)
    if f.source:
        query = query.where(Lead.source == f.source)
    if f.country:  # ix_leads_country_created_id: the newest first, keyset-paged, in one index range
        query = query.where(Lead.country == f.country)
    if f.tag:
        # The tag's id is looked up first and written into the SQL as a literal, so the planner knows
        # from its statistics how many leads carry this tag: a rare tag reads its (tag_id, lead_id)
        # index range, a common one walks the sort's index. As a subquery, or a bound parameter once
        # the driver prepares the statement (a generic plan), it guesses, and a rare tag walked every lead.
        tag_id = db.session.scalar(select(Tag.id).where(Tag.name_key == tag_key(" ".join(f.tag.split()))))
        if tag_id is None:
            return query.where(false())
        tagged = select(LeadTag.lead_id).where(LeadTag.tag_id == literal_column(str(int(tag_id)), Integer))
        query = query.where(tagged.where(LeadTag.lead_id == Lead.id).exists() if per_row else Lead.id.in_(tagged))
    if f.band:
        query = query.where(*score_range(f.band))
    if f.min_score is not None:
        query = query.where(Lead.score >= f.min_score)
    if f.next_step:
        query = query.where(*next_step_filter(f.next_step))
    if f.stale:
        query = query.where(stale_clause(utcnow()))
    if f.response:
        query = query.where(*response_filter(f.response))
    if f.field is not None:
        query = _field_filter(query, f, per_row)
    if f.import_id is not None:
        # Read from ix_import_rows_import_lead: as many rows as the import had, whatever the leads number.
        touched = select(ImportRow.lead_id).where(ImportRow.import_id == f.import_id)
        query = query.where(touched.where(ImportRow.lead_id == Lead.id).exists() if per_row
                            else Lead.id.in_(touched.where(ImportRow.lead_id.is_not(None))))
    return query


NEXT_STEPS = {"none": "No next step", "overdue": "Next step overdue"}
RESPONSES = {"waiting": "Awaiting first response", "overdue": "First response overdue"}


def response_filter(kind: str, now: datetime | None = None) -> list:
    """The pool's first-response filter, read through the partial index ix_leads_sla_unanswered
    (only leads whose clock runs are in it): "waiting", unanswered with a due time; "overdue", past it."""
    waiting = [Lead.sla_due_at.is_not(None), Lead.first_response_at.is_(None), Lead.closed_on.is_(None)]
    return waiting + [Lead.sla_due_at <= (now or utcnow())] if kind == "overdue" else waiting


def next_step_filter(kind: str, now: datetime | None = None) -> list:
    """The pool's next-step filter on the kept leads.next_task_due_at (ix_leads_next_task_due_id):
    "none", no open task; "overdue", the soonest open task is past due."""
    if kind == "none":
        return [Lead.next_task_due_at.is_(None)]
    if kind == "overdue":
        return [Lead.next_task_due_at < (now or utcnow())]
    return []


def score_range(band_name: str) -> list:
    """The WHERE clauses of a score band by name (an unknown band matches nothing)."""
    band = scoring.band_named(band_name)
    if band is None:
        return [false()]
    clauses = []
    if band.min_score is not None:
        clauses.append(Lead.score >= band.min_score)
    if band.max_score is not None:
        clauses.append(Lead.score < band.max_score)
    return clauses


def _field_filter(query: Select, f: PoolFilters, per_row: bool = False) -> Select:
    """Leads whose value in f.field matches, found through the value indexes (field_id, value, lead_id),
    or with `per_row` probed per lead through the values' primary key (lead_id, field_id)."""
    custom = f.field

    def having(rows: Select, negate: bool = False):
        if per_row:
            probe = rows.where(rows.selected_columns[0] == Lead.id).exists()
            return query.where(~probe if negate else probe)
        return query.where(Lead.id.not_in(rows) if negate else Lead.id.in_(rows))

    if custom.kind == FieldKind.multi_choice.value:
        if f.field_value not in (None, ""):
            return having(select(LeadFieldChoice.lead_id).where(
                LeadFieldChoice.field_id == custom.id, LeadFieldChoice.choice == f.field_value))
        return query
    rows = select(LeadFieldValue.lead_id).where(LeadFieldValue.field_id == custom.id)
    column = getattr(LeadFieldValue, VALUE_COLUMN[custom.kind])
    if custom.kind == FieldKind.checkbox.value:
        if f.field_value is True:
            return having(rows)
        if f.field_value is False:
            return having(rows, negate=True)
        return query
    if custom.kind in RANGE_KINDS:
        if f.field_min is not None:
            rows = rows.where(column >= f.field_min)
        if f.field_max is not None:
            rows = rows.where(column <= f.field_max)
        return having(rows) if f.field_min is not None or f.field_max is not None else query
    if f.field_value in (None, ""):
        return query
    if custom.kind == FieldKind.choice.value:
        return having(rows.where(column == f.field_value))
    like = "%" + str(f.field_value).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return having(rows.where(func.lower(column).like(like, escape="\\")))


def field_filter(key: str, value: str, low: str, high: str) -> tuple:
    """(field, value, low, high) for the pool's custom-field filter from the query string, each
    value read as the field's kind; raises ServiceError naming the bad parameter."""
    if not key:
        return None, None, None, None
    custom = db.session.scalar(select(CustomField).where(CustomField.key == key))
    if custom is None:
        raise ServiceError("That custom field no longer exists; pick another.", field="field")
    value, low, high = (value or "").strip(), (low or "").strip(), (high or "").strip()
    kind = custom.kind
    if kind == FieldKind.checkbox.value:
        return custom, {"yes": True, "no": False}.get(value.lower()), None, None
    if kind in RANGE_KINDS:
        def bound(raw, name):
            try:
                return custom_fields.clean_value(custom, raw) if raw else None
            except ServiceError as exc:
                raise ServiceError(exc.message, field=name) from None
        return custom, None, bound(low, "field_min"), bound(high, "field_max")
    if kind in (FieldKind.choice.value, FieldKind.multi_choice.value) and value:
        matches = [c for c in custom.choices or [] if c.casefold() == value.casefold()]
        if not matches:
            raise ServiceError(f"“{value[:60]}” is not an option of {custom.label}.", field="field_value")
        return custom, matches[0], None, None
    return custom, value[:200] or None, None, None


def sortable_fields() -> list[CustomField]:
    """The custom fields the pool can sort by (not long text or multiple choice), in the admins' order."""
    return list(db.session.scalars(select(CustomField).where(CustomField.kind.in_(SORTABLE_KINDS))
                                   .order_by(CustomField.position, CustomField.id)))


def valid_sort(sort: str) -> bool:
    """A built-in sort, or "cf:<key>" of a sortable custom field."""
    if sort in SORTS:
        return True
    return sort.startswith(CUSTOM_SORT) and any(CUSTOM_SORT + f.key == sort for f in sortable_fields())


def custom_sort_field(f: PoolFilters) -> CustomField | None:
    """The custom field `f` sorts by ("cf:<key>"), or None for a built-in sort."""
    if not f.sort.startswith(CUSTOM_SORT):
        return None
    return db.session.scalar(select(CustomField).where(CustomField.key == f.sort.removeprefix(CUSTOM_SORT)))


def ordered(query: Select, f: PoolFilters) -> Select:
    """`query` (over leads) in the pool's order for `f`, a custom sort's value joined in (the
    export's order; the pool's pages walk by keyset in _walk)."""
    custom = custom_sort_field(f)
    if custom is None:
        return query.order_by(*pool_order(f))
    column = getattr(LeadFieldValue, VALUE_COLUMN[custom.kind])
    query = query.outerjoin(LeadFieldValue, and_(LeadFieldValue.lead_id == Lead.id,
                                                 LeadFieldValue.field_id == custom.id))
    by = (lambda c: c.asc()) if f.direction == "asc" else (lambda c: c.desc())
    return query.order_by(column.is_(None), by(column), by(Lead.id))



def _nulls_first(f: PoolFilters) -> bool:
    """Where leads without a sort key go: PostgreSQL sorts NULLs last ascending (and the descending
    order asks for NULLS LAST); SQLite sorts them first ascending, last descending."""
    if f.sort.startswith(CUSTOM_SORT):
        return False  # a custom field's NULL section is read by its own query: last, in both directions
    return f.sort in NULLABLE_SORTS and f.direction == "asc" and db.session.get_bind().dialect.name == "sqlite"


def pool_order(f: PoolFilters) -> list:
    """The pool's ORDER BY for `f`: the sort key, then id, both in the chosen direction."""
    column = SORTS.get(f.sort, Lead.created_at)
    if f.direction == "asc":
        return [column.asc(), Lead.id.asc()]
    # Only where NULLs exist: NULLS LAST on a NOT NULL column stops PostgreSQL using its index.
    return [column.desc().nulls_last() if f.sort in NULLABLE_SORTS else column.desc(), Lead.id.desc()]


def pool_total(f: PoolFilters, acting_user_id: int | None, limit: int = COUNT_LIMIT) -> Total:
    """How many leads match `f`. Filtered by stage and owner only (or not at all), the kept totals
    answer exactly; a search, source or tag filter counts at most `limit` + 1 matching rows, and past
    `limit` the answer is Total(limit, exact=False), "more than 10,000": never a million rows read."""
    # The kept totals count by stage and owner only: any other filter is counted, bounded.
    if not (f.q or f.source or f.country or f.next_step or f.stale or f.response or narrows(f)):
        owner = owner_scope(f, acting_user_id)
        if owner is None and f.visible_to is not None:  # their own and the pool's, from the kept totals
            return Total(count=totals.lead_count(stage_id=f.stage_id, owners=(f.visible_to, totals.POOL)), exact=True)
        if f.visible_to is not None and owner not in (POOL, f.visible_to):
            return Total(count=0, exact=True)  # another person's leads: none of them are visible
        return Total(count=totals.lead_count(stage_id=f.stage_id, owner_id=None if owner is POOL else owner,
                                             pool=owner is POOL), exact=True)
    first = filtered(select(Lead.id), f, acting_user_id).limit(limit + 1).subquery()
    counted = db.session.scalar(select(func.count()).select_from(first))
    return Total(count=min(counted, limit), exact=counted <= limit)


def narrows(f: PoolFilters) -> bool:
    """Whether `f` narrows by tag, score band, minimum score or a custom field's value: filters the
    kept totals cannot count (a field picked with no value narrows nothing)."""
    return bool(f.tag or f.band or f.min_score is not None or f.import_id is not None or _field_filtering(f))


def _field_filtering(f: PoolFilters) -> bool:
    return f.field is not None and any(v not in (None, "") for v in (f.field_value, f.field_min, f.field_max))


def _cursor_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="pool-cursor")


def encode_cursor(f: PoolFilters, position: Position) -> str:
    """An opaque, signed token naming `position` in the order `f` sorts by."""
    key = position.key
    if isinstance(key, (datetime, date)):
        key = key.isoformat()
    elif isinstance(key, Decimal):
        key = str(key)
    return _cursor_serializer().dumps({"s": f.sort, "d": f.direction, "k": key, "i": position.id})


def _key(sort: str, raw) -> object:
    """The sort key a cursor carries, as the column's type; ValueError if it cannot be one."""
    custom = sort.startswith(CUSTOM_SORT)
    if raw is None:
        if sort not in NULLABLE_SORTS and not custom:
            raise ValueError("this sort has no NULL keys")
        return None
    if sort == "score":  # the one key that travels as a JSON number
        if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) <= INT32_MAX:
            return raw
        raise ValueError("not a score")
    if not isinstance(raw, str) or "\x00" in raw or len(raw) > 600:
        raise ValueError("a key travels as text")
    if custom:
        field = db.session.scalar(select(CustomField).where(CustomField.key == sort.removeprefix(CUSTOM_SORT)))
        if field is None:
            raise ValueError("no such field")
        column = VALUE_COLUMN[field.kind]
        if column == "value_date":
            return date.fromisoformat(raw)
        if column == "value_number":
            try:
                number = Decimal(raw)
            except InvalidOperation:
                raise ValueError("not a number") from None
            if not number.is_finite() or abs(number) >= 10**16:
                raise ValueError("not a stored number")
            return number
        return raw
    if sort in ("created", "updated"):
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is not None:
            raise ValueError("times are stored as naive UTC")
        return moment
    if sort == "value":
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not amount.is_finite() or abs(amount) >= 10**12:
            raise ValueError("not a deal value")
        return amount
    return raw


def decode_cursor(f: PoolFilters, token: str) -> Position | None:
    """The position a token names, or None if it is garbage, tampered with, or made for another
    sort or direction. (Whether its lead still exists is pool_page's question.)"""
    try:
        data = _cursor_serializer().loads(token)
    except (BadSignature, UnicodeError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("s") != f.sort or data.get("d") != f.direction:
        return None
    lead_id = data.get("i")
    if isinstance(lead_id, bool) or not isinstance(lead_id, int) or not 1 <= lead_id <= INT32_MAX:
        return None
    try:
        return Position(key=_key(f.sort, data.get("k")), id=lead_id)
    except ValueError:
        return None


def _walk(f: PoolFilters, acting_user_id: int | None, ascending: bool, nulls_first: bool,
          start: Position | None, limit: int) -> list[Position]:
    """Up to `limit` matching leads strictly after `start` in the order (sort key, id), ascending or
    descending, NULL keys first or last. Each section (keys, then NULLs, or the reverse) is its own
    query, so each is one range scan of an index in a plain direction, never a sort of every match."""
    custom = custom_sort_field(f)
    if custom is not None:
        return _walk_custom(f, custom, acting_user_id, ascending, nulls_first, start, limit)
    column = SORTS.get(f.sort, Lead.created_at)
    by = (lambda c: c.asc()) if ascending else (lambda c: c.desc())
    beyond = (lambda c, v: c > v) if ascending else (lambda c, v: c < v)
    reach = (lambda c, v: c >= v) if ascending else (lambda c, v: c <= v)
    sections = ["keys"]
    if f.sort in NULLABLE_SORTS:
        sections = ["nulls", "keys"] if nulls_first else ["keys", "nulls"]
    if start is not None:
        sections = sections[sections.index("nulls" if start.key is None else "keys"):]
    found: list[Position] = []
    for section in sections:
        query = filtered(select(Lead.id, column), f, acting_user_id)
        if section == "keys":
            if f.sort in NULLABLE_SORTS:
                query = query.where(column.is_not(None))
            if start is not None:  # (key, id) beyond start's, written so the key alone bounds the scan
                query = query.where(reach(column, start.key),
                                    or_(beyond(column, start.key), beyond(Lead.id, start.id)))
            query = query.order_by(by(column), by(Lead.id))
        else:
            query = query.where(column.is_(None))
            if start is not None:
                query = query.where(beyond(Lead.id, start.id))
            query = query.order_by(by(Lead.id))
        found += [Position(key=key, id=lead_id)
                  for lead_id, key in db.session.execute(query.limit(limit - len(found)))]
        start = None  # the sections after the cursor's are read from their start
        if len(found) >= limit:
            break
    return found


def _walk_custom(f: PoolFilters, custom: CustomField, acting_user_id: int | None, ascending: bool,
                 nulls_first: bool, start: Position | None, limit: int) -> list[Position]:
    """_walk for a custom field: the leads with a value, read in (value, lead_id) order along the
    value index of that field, then (or, walking backwards, first) the leads without one, by id."""
    column = getattr(LeadFieldValue, VALUE_COLUMN[custom.kind])
    by = (lambda c: c.asc()) if ascending else (lambda c: c.desc())
    beyond = (lambda c, v: c > v) if ascending else (lambda c, v: c < v)
    reach = (lambda c, v: c >= v) if ascending else (lambda c, v: c <= v)
    sections = ["nulls", "keys"] if nulls_first else ["keys", "nulls"]
    if start is not None:
        sections = sections[sections.index("nulls" if start.key is None else "keys"):]
    found: list[Position] = []
    for section in sections:
        if section == "keys":
            query = filtered(select(Lead.id, column).join(LeadFieldValue, and_(
                LeadFieldValue.lead_id == Lead.id, LeadFieldValue.field_id == custom.id)), f, acting_user_id)
            query = query.where(column.is_not(None))
            if start is not None:
                query = query.where(reach(column, start.key),
                                    or_(beyond(column, start.key), beyond(LeadFieldValue.lead_id, start.id)))
            query = query.order_by(by(column), by(LeadFieldValue.lead_id))
        else:
            has_value = exists().where(LeadFieldValue.lead_id == Lead.id, LeadFieldValue.field_id == custom.id)
            query = filtered(select(Lead.id, literal(None)), f, acting_user_id).where(~has_value)
            if start is not None:
                query = query.where(beyond(Lead.id, start.id))
            query = query.order_by(by(Lead.id))
        found += [Position(key=key, id=lead_id)
                  for lead_id, key in db.session.execute(query.limit(limit - len(found)))]
        start = None
        if len(found) >= limit:
            break
    return found


def _exists(lead_id: int) -> bool:
    return db.session.scalar(select(Lead.id).where(Lead.id == lead_id)) is not None


def pool_page(f: PoolFilters, acting_user_id: int | None, per_page: int = 50) -> Page:
    """One page of the lead pool for `f`: the first, the one after or before a position, or the
    last, each read by keyset. A cursor naming a deleted lead gives the first page; walking off
    either end (rows deleted since) gives the first or last page, never an empty one."""
    ascending, nulls_first = f.direction == "asc", _nulls_first(f)
    at, cursor = "first", None
    if f.last:
        at = "last"
    elif f.before is not None and _exists(f.before.id):
        at, cursor = "before", f.before
    elif f.after is not None and _exists(f.after.id):
        at, cursor = "after", f.after
    if at == "after":
        found = _walk(f, acting_user_id, ascending, nulls_first, cursor, per_page + 1)
        if not found:
            at, cursor = "last", None
    if at in ("before", "last"):  # the reversed order's first page, shown in this order
        found = _walk(f, acting_user_id, not ascending, not nulls_first, cursor, per_page + 1)
        if len(found) > per_page:
            return _page(found[:per_page][::-1], at, has_prev=True, has_next=at == "before")
        at = "first"  # it reached the first lead: that is the first page
    if at == "first":
        found = _walk(f, acting_user_id, ascending, nulls_first, None, per_page + 1)
    return _page(found[:per_page], at, has_prev=at == "after", has_next=len(found) > per_page)


def _page(positions: list[Position], at: str, has_prev: bool, has_next: bool) -> Page:
    """The leads at `positions`, in that order, loaded with their owner and stage in one query."""
    ids = [p.id for p in positions]
    rows = {lead.id: lead for lead in db.session.scalars(
        select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage)).where(Lead.id.in_(ids)))} if ids else {}
    return Page(items=[rows[i] for i in ids if i in rows], at=at, has_prev=has_prev, has_next=has_next,
                start=positions[0] if positions else None, end=positions[-1] if positions else None)


def sources(visible_to: int | None = None) -> list[str]:
    """Every distinct source, found by hopping along the source index (a loose index scan):
    one lookup per source instead of reading every lead. With `visible_to` (permissions.visible_to):
    only the sources of that person's leads and the pool's, hopping along ix_leads_owner_source
    for each, so a source only another person's leads have is not named."""
    if visible_to is None:
        return _distinct("source")
    found: set[str] = set()
    # Two plain conditions, not "IS NOT DISTINCT FROM", which PostgreSQL cannot answer from an index.
    for whose in (("owner_id = :owner",) if visible_to else ()) + ("owner_id IS NULL",):
        hop = text(f"""
            WITH RECURSIVE s(v) AS (
                SELECT min(source) FROM leads WHERE {whose}
                UNION ALL
                SELECT (SELECT min(source) FROM leads WHERE {whose} AND source > s.v) FROM s WHERE s.v IS NOT NULL
            )
            SELECT v FROM s WHERE v IS NOT NULL""")
        found.update(db.session.scalars(hop, {"owner": visible_to}))
    return sorted(found)


def has_source(source: str, visible_to: int | None = None) -> bool:
    """Whether a lead has this source (one that `visible_to` may see, permissions.visible_to): the
    same answer for a source nobody has as for one only hidden leads have; one index probe."""
    if len(source) > Lead.__table__.c.source.type.length:
        return False
    query = select(Lead.id).where(Lead.source == source)
    if visible_to is not None:
        query = query.where(permissions.visible_clause(visible_to))
    return db.session.scalar(query.limit(1)) is not None


def countries() -> list[str]:
    """The country codes leads hold, each found by one hop along the country index (at most ~250)."""
    return _distinct("country")


def _distinct(column: str) -> list[str]:
    """A column's distinct values by a loose index scan (`column` is one of ours, never user input)."""
    assert column in ("source", "country")
    hop = text(f"""
        WITH RECURSIVE s(v) AS (
            SELECT min({column}) FROM leads
            UNION ALL
            SELECT (SELECT min({column}) FROM leads WHERE leads.{column} > s.v) FROM s WHERE s.v IS NOT NULL
        )
        SELECT v FROM s WHERE v IS NOT NULL""")
    return list(db.session.scalars(hop))
