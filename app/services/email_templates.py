"""Email templates: the team's saved subjects and bodies with lead variables, and the one sandbox
that renders them (and the emails a member types on a lead's page).

A template is refused when saved, naming the line, if it does not parse, names a variable we do
not have, reaches for Python internals, or does too much. Rendering runs in Jinja's immutable
sandbox with limits that keep a hostile template from slowing a web request or a worker: every loop
iteration counts against a budget, every call, filter and operator checks the clock and the sizes
it is given and makes, and the output stops at a size limit. A refused render raises
TemplateRefused, never anything else."""
from __future__ import annotations

import contextvars
import html
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from html.parser import HTMLParser
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy import func, select

from app.extensions import db
from app.models import EmailTemplate, Lead, User
from app.services import audit
from app.services import NotFound, ServiceError, atomic, taken_as, team_settings, utcnow
from app.services import custom_fields as field_service
from app.services.countries import country_name

NAME_LIMIT, SUBJECT_LIMIT, BODY_LIMIT = 100, 300, 50_000
OUTPUT_LIMIT = 200_000  # characters one render may produce
STRING_LIMIT = 100_000  # the longest string or sequence an operator, call or filter may make or take
NUMBER_LIMIT = 10**12  # the largest number a template may compute with
LOOP_BUDGET = 10_000  # loop iterations in one render, all loops together
TIME_LIMIT = 0.5  # seconds of wall clock for one render
TEMPLATE_LIMIT = 1000  # templates a team keeps; the settings list shows them all

LEAD_VARIABLES = {
    "first_name": "First name", "last_name": "Last name", "name": "Full name", "email": "Email",
    "phone": "Phone", "company": "Company", "title": "Job title", "source": "Source",
    "country": "Country", "region": "Region",
}
OWNER_VARIABLES = {"name": "Name", "first_name": "First name", "email": "Email", "signature": "Signature"}
TEAM_VARIABLES = {"name": "Team name"}
# Constructs an email template has no use for, and which could nest or recurse without bound.
FORBIDDEN = {nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.Include: "include",
             nodes.Import: "import", nodes.FromImport: "import", nodes.Extends: "extends",
             nodes.Block: "blocks"}


class TemplateNotFound(NotFound):
    def __init__(self):
        super().__init__("That email template does not exist.")


class TemplateRefused(ServiceError):
    """A template that cannot be used: the message names the line; `field` names the part."""

    status = 422

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        super().__init__(message, field=field)
        self.line = line


class _Limit(Exception):
    """A render went past one of the limits (raised inside the sandbox, turned into TemplateRefused)."""


# --- the sandbox -----------------------------------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    loops: int = LOOP_BUDGET

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Limit(f"The template took longer than {TIME_LIMIT:g} seconds to render.")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("email_template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:  # rendering outside render_text(): give it a budget of its own
        budget = _Budget(time.monotonic() + TIME_LIMIT)
        _budget.set(budget)
    return budget


def _sized(value: Any) -> Any:
    """Refuse a value too big for an email: a long string or sequence, a huge number."""
    if isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > STRING_LIMIT:
        raise _Limit(f"The template built a value longer than {STRING_LIMIT:,} characters or items.")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > NUMBER_LIMIT:
        raise _Limit(f"The template used a number larger than {NUMBER_LIMIT:,}.")
    if isinstance(value, float) and abs(value) > NUMBER_LIMIT:
        raise _Limit(f"The template used a number larger than {NUMBER_LIMIT:,}.")
    return value


WIDE = re.compile(r"[%:{][^%{}\s]{0,8}?\d{5,}")  # a format width or precision of 10,000 or more


def _ints(values) -> list[int]:
    return [abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _worst_case(name: str, values: list) -> int:
    """An upper bound on what the operations that multiply their input would make, before they run."""
    texts = [v for v in values if isinstance(v, str)]
    sized = [len(v) for v in values if isinstance(v, (str, list, tuple, dict))]
    longest, number = max(sized, default=0), max(_ints(values), default=0)
    if name in ("%", "format", "format_map") and any(WIDE.search(text) for text in texts):
        raise _Limit("The template asked for a format width of 10,000 or more.")
    if name == "replace" and len(texts) >= 3:
        text, old, new = texts[:3]
        count = text.count(old) if old else len(text) + 1  # counting is cheap; the result is exact
        return len(text) + count * max(len(new) - len(old), 0)
    if name == "join":
        return sum(sized) * max(sized, default=1)
    if name in ("center", "ljust", "rjust", "zfill", "slice", "batch"):
        return number + longest
    if name in ("indent", "wordwrap", "expandtabs"):
        return (longest + 1) * max(number, 1)
    return 0


def _check_inputs(name: str, values: list) -> None:
    _current().check()
    for value in values:
        _sized(value)
    if _worst_case(name, values) > STRING_LIMIT:
        raise _Limit(f"The template would build a value longer than {STRING_LIMIT:,} characters or items.")


def _guarded(name: str, function):
    """A filter that checks the clock and the sizes it is given and would make."""
    @wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def run(*args, **kwargs):
        _check_inputs(name, [*args, *kwargs.values()])
        return _sized(function(*args, **kwargs))
    return run


def _counted(iterable):
    """A loop's iterable that spends the render's loop budget, and checks the clock, each time round."""
    budget = _current()
    for item in iterable:
        budget.loops -= 1
        if budget.loops < 0:
            raise _Limit(f"The template's loops ran more than {LOOP_BUDGET:,} times.")
        budget.check()
        yield item


def _range(*args):
    for value in args:
        _sized(value)
    numbers = range(*args)
    if len(numbers) > LOOP_BUDGET:
        raise _Limit(f"range() may count at most {LOOP_BUDGET:,} numbers in an email template.")
    return numbers


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no attribute walks to Python internals, no mutating methods) with
    our limits on loops, calls, filters, operators and time."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, autoescape: bool):
        super().__init__(autoescape=autoescape, undefined=StrictUndefined, trim_blocks=False, cache_size=200)
        self.globals = {"range": _range, "dict": dict}
        self.filters = {name: _guarded(name, f) for name, f in self.filters.items()}
        self.filters["_counted"] = _counted

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for node in tree.find_all(tuple(FORBIDDEN)):
            raise TemplateSyntaxError(f"Email templates cannot use {FORBIDDEN[type(node)]}.", node.lineno, name,
                                      filename)
        for loop in tree.find_all(nodes.For):
            if loop.recursive:
                raise TemplateSyntaxError("Email templates cannot use recursive loops.", loop.lineno, name, filename)
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        return tree

    def call_binop(self, context, operator, left, right):
        _check_inputs("%" if operator == "%" else "", [left, right])
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise _Limit("The template raised a number to too high a power.")
        if operator == "*":
            many = (left if isinstance(right, (str, list, tuple)) else right)
            some = right if isinstance(right, (str, list, tuple)) else left
            if isinstance(some, (str, list, tuple)) and isinstance(many, int) and len(some) * many > STRING_LIMIT:
                raise _Limit(f"The template built a value longer than {STRING_LIMIT:,} characters or items.")
        return _sized(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and WIDE.search(value.__self__):
            raise _Limit("The template asked for a format width of 10,000 or more.")
        return wrapped

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's own signature)
        bound = getattr(__obj, "__self__", None)
        values = ([bound] if isinstance(bound, str) else []) + [*args, *kwargs.values()]
        _check_inputs(getattr(__obj, "__name__", "") if isinstance(bound, str) else "", values)
        return _sized(super().call(__context, __obj, *args, **kwargs))


_html = _Sandbox(autoescape=True)
_text = _Sandbox(autoescape=False)


@lru_cache(maxsize=256)
def _compiled(html_mode: bool, source: str):
    """A compiled template, kept: a sequence sends one template to many leads."""
    return (_html if html_mode else _text).from_string(source)


# --- variables -------------------------------------------------------------------------------


class Variables(dict):
    """A group of template variables (`lead`, `owner`, `lead.custom`), read as attributes; `label`
    names it in the message about a variable it does not have."""

    def __init__(self, label: str, values: dict):
        super().__init__(values)
        self.label = label


def team_name() -> str:
    """The team's name as emails give it: Team settings' name, else MAIL_FROM's display name, else
    its address's domain."""
    return team_settings.identity().name


def _person(user: User | None) -> Variables:
    team = team_name()
    if user is None:
        return Variables("owner", {"name": "", "first_name": "", "email": "", "signature": team})
    return Variables("owner", {"name": user.name, "first_name": user.name.split()[0] if user.name.split() else "",
                               "email": user.email, "signature": f"{user.name}\n{team}"})


def context_for(lead: Lead, sender: User | None = None) -> dict:
    """The variables a template sees for this lead: `lead` (its fields, and `lead.custom.<key>` for
    each custom field, "" where it has none), `owner` (the person the email goes out as: `sender`,
    else the lead's owner, else blanks and the team's name as the signature) and `team`."""
    fields = field_service.active_fields()
    values = field_service.values_for([lead.id], fields)[lead.id]
    custom = {f.key: field_service.display(values[f.key]) if f.key in values else "" for f in fields}
    return {
        "lead": Variables("lead", {
            "first_name": lead.first_name or "", "last_name": lead.last_name or "", "name": lead.full_name,
            "email": lead.email or "", "phone": lead.phone or "", "company": lead.company or "",
            "title": lead.job_title or "", "source": lead.source or "", "country": country_name(lead.country),
            "region": lead.region or "", "custom": Variables("lead.custom", custom)}),
        "owner": _person(sender or lead.owner),
        "team": Variables("team", {"name": team_name()}),
    }


def sample_context() -> dict:
    """Every variable with a sample value: what a template is checked against when saved."""
    custom = {f.key: f.label for f in field_service.active_fields()}
    return {
        "lead": Variables("lead", {**{key: label for key, label in LEAD_VARIABLES.items()}, "first_name": "Lena",
                                   "name": "Lena Lindqvist", "email": "lena@example.com",
                                   "custom": Variables("lead.custom", custom)}),
        "owner": Variables("owner", {"name": "Ana Example", "first_name": "Ana", "email": "ana@example.com",
                                     "signature": f"Ana Example\n{team_name()}"}),
        "team": Variables("team", {"name": team_name()}),
    }


def variable_names() -> list[str]:
    """Every variable's full name, for the list beside the template form."""
    names = [f"lead.{key}" for key in LEAD_VARIABLES] + [f"lead.custom.{f.key}" for f in field_service.active_fields()]
    return names + [f"owner.{key}" for key in OWNER_VARIABLES] + [f"team.{key}" for key in TEAM_VARIABLES]


# --- checking and rendering ------------------------------------------------------------------


def _line_of(exc: BaseException) -> int | None:
    """The template line a render error happened on (Jinja rewrites tracebacks to template lines)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _on_line(message: str, line: int | None) -> str:
    return f"Line {line}: {message}" if line else message


def _unknown_names(tree: nodes.Template, context: dict) -> list[tuple[str, int]]:
    """Variables named anywhere in the template (every branch, not only the one a sample takes)
    that the context does not have: a bare name, or an attribute of one of our groups."""
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    known = set(context) | set(_html.globals) | assigned | {"loop"}
    found = [(n.name, n.lineno) for n in tree.find_all(nodes.Name) if n.ctx == "load" and n.name not in known]

    def group(node) -> Variables | None:
        if isinstance(node, nodes.Name) and node.name not in assigned:
            return context.get(node.name) if isinstance(context.get(node.name), Variables) else None
        if isinstance(node, nodes.Getattr):
            outer = group(node.node)
            inner = outer.get(node.attr) if outer is not None else None
            return inner if isinstance(inner, Variables) else None
        return None

    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        outer = group(node.node)
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if outer is not None and isinstance(key, str) and key not in outer:
            found.append((f"{outer.label}.{key}", node.lineno))
    return sorted(found, key=lambda item: item[1])


def render_text(source: str, context: dict, *, html_mode: bool, field: str = "body_html") -> str:
    """Render one template source in the sandbox; raises TemplateRefused (naming the line and
    `field`) for a syntax error, an unknown variable, a reach for internals or a limit passed."""
    env = _html if html_mode else _text
    token = _budget.set(_Budget(time.monotonic() + TIME_LIMIT))
    try:
        template = _compiled(html_mode, source)
        pieces, size = [], 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > OUTPUT_LIMIT:
                raise _Limit(f"The template makes more than {OUTPUT_LIMIT:,} characters.")
            _current().check()
            pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(_on_line(exc.message or "This does not parse.", exc.lineno), field=field,
                              line=exc.lineno) from None
    except UndefinedError as exc:
        line = _line_of(exc)
        raise TemplateRefused(_on_line(f"{_undefined_words(exc)} Use one of the variables listed beside the form.",
                                       line), field=field, line=line) from None
    except SecurityError as exc:
        line = _line_of(exc)
        raise TemplateRefused(_on_line(f"Templates cannot reach that ({exc}); use the listed variables.", line),
                              field=field, line=line) from None
    except (_Limit, RecursionError, MemoryError) as exc:
        line = _line_of(exc)
        message = str(exc) if isinstance(exc, _Limit) else "The template does too much to render."
        raise TemplateRefused(_on_line(message, line), field=field, line=line) from None
    except Exception as exc:  # a template's own mistake ({{ 1 / 0 }}, {{ "a" + 1 }}): say so, never a 500
        line = _line_of(exc)
        raise TemplateRefused(_on_line(f"This cannot be rendered ({type(exc).__name__}: {exc}).", line),
                              field=field, line=line) from None
    finally:
        _budget.reset(token)


def _undefined_words(exc: UndefinedError) -> str:
    match = re.fullmatch(r"'(\w+)' is undefined", str(exc))
    if match:
        return f"“{match.group(1)}” is not a variable templates know."
    return f"That names a variable templates do not know ({exc})."


def check(subject: str, body_html: str, context: dict | None = None, *, html_mode: bool = True) -> None:
    """Refuse (TemplateRefused naming the field and the line) a subject or body that does not parse,
    names an unknown variable in any branch, or fails to render against `context` (every variable,
    with sample values, by default)."""
    context = context or sample_context()
    env = _html if html_mode else _text
    for source, name in ((subject, "subject"), (body_html, "body_html" if html_mode else "body")):
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateRefused(_on_line(exc.message or "This does not parse.", exc.lineno), field=name,
                                  line=exc.lineno) from None
        for variable, line in _unknown_names(tree, context)[:1]:
            raise TemplateRefused(_on_line(f"“{variable}” is not a variable templates know. Use one of the "
                                           "variables listed beside the form.", line), field=name, line=line)
        render_text(source, context, html_mode=html_mode and name != "subject", field=name)


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


def render(template: EmailTemplate, lead: Lead, sender: User | None = None) -> tuple[str, str, str]:
    """(subject, html, text) of a saved template for this lead, sent as `sender` (else its owner).
    Raises TemplateRefused if it cannot be rendered now (a custom field it names was deleted)."""
    return render_parts(template.subject, template.body_html, context_for(lead, sender))


def render_parts(subject: str, body_html: str, context: dict) -> tuple[str, str, str]:
    """(subject, html, text) of a subject and HTML body against a context (context_for())."""
    rendered_subject = " ".join(render_text(subject, context, html_mode=False, field="subject").split())
    body = render_text(body_html, context, html_mode=True, field="body_html")
    return rendered_subject, body, html_to_text(body)


# --- HTML to plain text ----------------------------------------------------------------------


class _TextMaker(HTMLParser):
    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tr", "blockquote", "section",
              "header", "footer", "hr", "pre"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append("\t")
        if tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and href.startswith(("http://", "https://", "mailto:")) and href.removeprefix("mailto:") not in \
                    "".join(self.out[-3:]):
                self.out.append(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(body: str) -> str:
    """The plain-text part of an HTML email: paragraphs and line breaks kept, list items dashed,
    links followed by their address, scripts and styles dropped."""
    maker = _TextMaker()
    maker.feed(body)
    maker.close()
    lines = [line.strip() for line in "".join(maker.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def text_to_html(text: str) -> str:
    """A typed plain-text email as simple HTML: escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    inner = "\n".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs)
    return f'<!doctype html>\n<html><head><meta charset="utf-8"></head><body>\n{inner}\n</body></html>\n'


# --- saved templates -------------------------------------------------------------------------


@dataclass
class TemplateSettings:
    name: str
    subject: str
    body_html: str
    errors: dict = field(default_factory=dict)


def templates() -> list[EmailTemplate]:
    """Every template, by name (a team keeps at most TEMPLATE_LIMIT)."""
    return list(db.session.scalars(select(EmailTemplate).order_by(func.lower(EmailTemplate.name), EmailTemplate.id)
                                   .limit(TEMPLATE_LIMIT)))


def get_template(template_id: int) -> EmailTemplate:
    found = db.session.get(EmailTemplate, template_id)
    if found is None:
        raise TemplateNotFound()
    return found


def _name_taken() -> TemplateRefused:
    return TemplateRefused("Another template has that name.", field="name")


def clean_subject(raw: str | None) -> str:
    """A subject as typed (a template's or a one-off email's), on one line; raises ServiceError."""
    subject = " ".join((raw or "").split())
    if not subject:
        raise TemplateRefused("Give the email a subject.", field="subject")
    if len(subject) > SUBJECT_LIMIT:
        raise TemplateRefused(f"Keep the subject to {SUBJECT_LIMIT} characters.", field="subject")
    return subject


def clean_body(raw: str | None, limit: int, field: str, empty: str) -> str:
    """A body as typed, trimmed; raises ServiceError(field) with `empty` when there is none."""
    body = (raw or "").strip()
    if not body:
        raise TemplateRefused(empty, field=field)
    if len(body) > limit:
        raise TemplateRefused(f"Keep the {'body' if field == 'body_html' else 'email'} to {limit:,} characters.",
                              field=field)
    return body


def _clean(settings: TemplateSettings, existing_id: int | None) -> TemplateSettings:
    name = " ".join((settings.name or "").split())
    if not name:
        raise TemplateRefused("Give the template a name.", field="name")
    if len(name) > NAME_LIMIT:
        raise TemplateRefused(f"Keep the name to {NAME_LIMIT} characters.", field="name")
    subject = clean_subject(settings.subject)
    body = clean_body(settings.body_html, BODY_LIMIT, "body_html", "Write the email's body.")
    clash = db.session.scalar(select(EmailTemplate.id).where(func.lower(EmailTemplate.name) == name.lower(),
                                                             EmailTemplate.id != (existing_id or 0)))
    if clash is not None:
        raise _name_taken()
    check(subject, body)
    return TemplateSettings(name, subject, body)


def create_template(settings: TemplateSettings, actor_id: int | None = None) -> EmailTemplate:
    """Save a new template; raises TemplateRefused naming the field (and the line) it cannot take."""
    with taken_as(_name_taken), atomic():
        if db.session.scalar(select(func.count()).select_from(EmailTemplate)) >= TEMPLATE_LIMIT:
            raise ServiceError(f"A team keeps at most {TEMPLATE_LIMIT:,} templates.")
        clean = _clean(settings, None)
        now = utcnow()
        template = EmailTemplate(name=clean.name, subject=clean.subject, body_html=clean.body_html,
                                 created_at=now, updated_at=now, created_by_id=actor_id)
        db.session.add(template)
        audit.record(actor_id, "template.added", f"Template {clean.name}")
        db.session.flush()
    return template


def update_template(template_id: int, settings: TemplateSettings, actor_id: int | None = None) -> EmailTemplate:
    """Change a template; raises TemplateNotFound, or TemplateRefused naming the field and line."""
    with taken_as(_name_taken), atomic():
        template = get_template(template_id)
        clean = _clean(settings, template.id)
        audit.record(actor_id, "template.changed", f"Template {clean.name}")
        template.name, template.subject, template.body_html = clean.name, clean.subject, clean.body_html
        template.updated_at = utcnow()
    return template


def preview(subject: str, body_html: str, lead: Lead | None, sender: User | None) -> Rendered:
    """What a template (saved or not) makes for this lead (or the sample values, without one);
    raises TemplateRefused as saving would."""
    context = context_for(lead, sender) if lead is not None else sample_context()
    check(subject, body_html, context)
    return Rendered(*render_parts(subject, body_html, context))


def preview_lead(typed: str | None) -> tuple[Lead | None, str]:
    """The lead the editor previews for: the best match for what was typed (the navigation search's
    rule), or the newest lead when nothing was; and a note when there is none."""
    from app.services.search import search  # noqa: PLC0415 (search -> leads -> ... -> templates)
    typed = (typed or "").strip()
    if typed:
        try:
            found = search(typed, per_page=1).leads
        except ServiceError as exc:
            return None, exc.message
        return (found[0], "") if found else (None, f"No lead matches “{typed}”; showing sample values.")
    newest = db.session.scalars(select(Lead).order_by(Lead.created_at.desc(), Lead.id.desc()).limit(1)).first()
    return newest, "" if newest else "There are no leads yet; showing sample values."


def rename_custom_key(old: str, new: str) -> int:
    """A custom field's key renamed: every template naming `lead.custom.<old>` (or
    `lead.custom["<old>"]`) names the new key, in the rename's transaction. Returns how many changed."""
    pattern = re.compile(r"(\blead\.custom\.)" + re.escape(old) + r"\b|(\blead\.custom\[\s*)(['\"])" + re.escape(old) + r"\3")

    def renamed(text: str) -> str:
        return pattern.sub(lambda m: m.group(1) + new if m.group(1) else m.group(2) + m.group(3) + new + m.group(3), text)
    changed = 0
    for template in db.session.scalars(select(EmailTemplate).where(
            EmailTemplate.subject.contains(old) | EmailTemplate.body_html.contains(old))):
        subject, body = renamed(template.subject), renamed(template.body_html)
        if (subject, body) != (template.subject, template.body_html):
            template.subject, template.body_html, template.updated_at = subject, body, utcnow()
            changed += 1
    return changed
