"""The report pages: which reports exist, their columns and chart, and the CSV of each. A view parses
the filters (services/reports.clean_filters), calls the report's one service function and renders."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.filters import money, reader_timezone, team_currency
from app.reports import bp
from app.reports.charts import bar_chart
from app.services import report_cache, report_figures
from app.services import iso_day, permissions, reports as service, stages as stage_service
from app.services.csv_reading import BOM, CsvLines
from app.services.users import team


@bp.before_request
@login_required
def require_login():
    pass


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, pct, money, minutes, days, week, month

    def csv_header(self, currency: str) -> str:
        """The column's name in the CSV, with the unit its plain numbers are in: "Median (minutes)"."""
        unit = {"pct": "%", "minutes": "minutes", "days": "days", "money": currency}.get(self.kind)
        return f"{self.label} ({unit})" if unit else self.label


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    summary: str
    run: Callable[[service.Filters], list[dict]]
    columns: tuple[Column, ...]
    chart: tuple[str, str]  # (label key, value key) of the rows drawn
    chart_title: str
    empty: str = "Nothing in this range. Widen the dates or clear a filter."
    chart_rows: Callable[[list[dict]], list[dict]] | None = None
    notes: tuple[str, ...] = field(default=())
    # Whether the rows hold anything worth drawing; when not, the page shows `empty_template` (or
    # `empty`) in place of the chart, and the table only if there are rows.
    worth_charting: Callable[[list[dict]], bool] = bool
    empty_template: str | None = None


def _forecastable(rows: list[dict]) -> bool:
    """Some open value is weighted by a probability and expected to close in the range: one $0 bar
    ("No close date") is nothing to forecast."""
    return any(r["month"] is not None and r["weighted"] > 0 for r in rows)


def _conversion_columns(name: str) -> tuple[Column, ...]:
    return (Column("name", name), Column("leads", "Leads", "int"), Column("won", "Won", "int"),
            Column("lost", "Lost", "int"), Column("conversion", "Conversion", "pct"),
            Column("win_rate", "Win rate", "pct"), Column("won_value", "Won value", "money"))


def _speed_columns(name: str) -> tuple[Column, ...]:
    return (Column("name", name), Column("answered", "Answered", "int"),
            Column("median_minutes", "Median", "minutes"), Column("p90_minutes", "90th percentile", "minutes"),
            Column("within_5_minutes", "Within 5 minutes", "pct"), Column("within_sla", "Within target", "pct"))


CAPTURED = "Leads captured in the range, as they stand now."
REPORTS = {r.slug: r for r in (
    Report("funnel", "Funnel", "How far the leads captured in the range got, stage by stage, and the win rate.",
           service.funnel,
           (Column("stage", "Stage"), Column("leads", "In this stage now", "int"), Column("reached", "Reached", "int"),
            Column("conversion", "From the stage before", "pct"), Column("value", "Value here", "money"),
            Column("win_rate", "Win rate", "pct")),
           ("stage", "reached"), "Leads that reached each stage",
           notes=(CAPTURED, "Reached: got this far at some time (this stage or a later open one, or won), "
                            "even if lost or moved back since. Win rate: won out of won and lost.")),
    Report("conversion-source", "Conversion by source", "Which sources bring leads that are won.",
           service.conversion_by_source, _conversion_columns("Source"), ("name", "conversion"),
           "Conversion (won out of captured) by source", notes=(CAPTURED, "The 50 largest sources.")),
    Report("conversion-form", "Conversion by form", "Which capture forms bring leads that are won.",
           service.conversion_by_form, _conversion_columns("Form"), ("name", "conversion"),
           "Conversion (won out of captured) by form", notes=(CAPTURED,)),
    Report("conversion-campaign", "Conversion by campaign", "Which UTM campaigns bring leads that are won.",
           service.conversion_by_campaign, _conversion_columns("Campaign"), ("name", "conversion"),
           "Conversion (won out of captured) by UTM campaign", notes=(CAPTURED, "The 50 largest campaigns.")),
    Report("speed-member", "Speed to lead by member", "How fast each member answered new leads the first time.",
           service.speed_by_member, _speed_columns("Member"), ("name", "median_minutes"),
           "Median time to first response, by member",
           notes=("Leads captured in the range that were answered, by who answered first.",
                  "Within target: answered before the lead's first-response target, of leads that had one.")),
    Report("speed-source", "Speed to lead by source", "How fast leads from each source were answered the first time.",
           service.speed_by_source, _speed_columns("Source"), ("name", "median_minutes"),
           "Median time to first response, by source",
           notes=("Leads captured in the range that were answered.",)),
    Report("ageing", "Stage ageing", "How long open leads have sat in their stage, and which are stuck longest.",
           service.stage_ageing,
           (Column("stage", "Stage"), Column("leads", "Open leads", "int"),
            Column("average_days", "Average time here", "days"), Column("longest_days", "Longest", "days")),
           ("stage", "average_days"), "Average days in each open stage",
           notes=("Open leads captured in the range, by the stage they are in now.",)),
    Report("activity", "Team activity", "What each member did, week by week.",
           service.team_activity,
           (Column("week", "Week of", "week"), Column("member", "Member"), Column("touches", "Touches", "int"),
            Column("tasks_done", "Tasks done", "int"), Column("booked", "Appointments booked", "int"),
            Column("confirmed", "Of those, confirmed", "int")),
           ("member", "touches"), "Touches in the range, by member", chart_rows=service.activity_totals,
           notes=("Touches: calls, emails and meetings logged, and notes written. Weeks start on Monday.",)),
    Report("lost-reasons", "Lost reasons", "Why leads were lost in the range.",
           service.lost_reasons,
           (Column("reason", "Reason"), Column("leads", "Leads lost", "int"), Column("share", "Share", "pct"),
            Column("value", "Value lost", "money")),
           ("reason", "leads"), "Leads lost, by reason", notes=("Leads closed as lost in the range.",)),
    Report("sequences", "Sequence results", "What the sequences did for the leads enrolled in the range.",
           service.sequence_results,
           (Column("sequence", "Sequence"), Column("enrolled", "Enrolled", "int"), Column("running", "Running", "int"),
            Column("finished", "Finished", "int"), Column("stopped", "Stopped early", "int"),
            Column("sent", "Emails sent", "int"), Column("won", "Won", "int"), Column("won_share", "Won share", "pct")),
           ("sequence", "enrolled"), "Leads enrolled, by sequence",
           notes=("Stopped early: the lead replied, booked, closed or unsubscribed, or someone stopped it.",)),
    Report("forecast", "Forecast", "Open value by expected close month, weighted by each stage's probability.",
           service.forecast,
           (Column("month", "Expected close", "month"), Column("leads", "Open leads", "int"),
            Column("value", "Open value", "money"), Column("weighted", "Weighted value", "money")),
           ("month", "weighted"), "Weighted open value by expected close month",
           worth_charting=_forecastable, empty_template="reports/_forecast_empty.html",
           notes=("Each stage's probability is set by admins in Settings › Stages; a stage without one counts as 0%.",)),
)}


def _month(value: str | None) -> str:
    if not value:
        return "No close date"
    year, month = value.split("-")
    return date(int(year), int(month), 1).strftime("%B %Y")


def cell(value, kind: str) -> str:
    """A value as a person reads it in the table and chart."""
    if kind == "month":
        return _month(value)
    if value is None:
        return "—"
    if kind == "int":
        return f"{value:,}"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "money":
        return money(value)
    if kind == "minutes":
        return duration(value)
    if kind == "days":
        return f"{value:,.1f} days"
    if kind == "week":
        return value.strftime("%-d %b %Y")
    return str(value)


def duration(minutes) -> str:
    """A response time as a person reads it: "45 s", "12.5 min", "3 h 20 min", "11 d 7 h"."""
    if minutes is None:
        return "—"
    minutes = float(minutes)
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    if minutes < 60:
        return f"{minutes:.1f} min".replace(".0 min", " min")
    hours, mins = divmod(round(minutes), 60)
    if hours < 24:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days:,} d {hours} h" if hours else f"{days:,} d"


def csv_cell(value, kind: str):
    """A value as a spreadsheet reads it: plain numbers, ISO days."""
    if kind == "month":
        return value or "No close date"
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _report(slug: str) -> Report:
    report = REPORTS.get(slug)
    if report is None:
        abort(404)
    return report


def _filters(report: Report) -> tuple[service.Filters | None, dict[str, str]]:
    """The filters the URL asks for, or None and a message per field."""
    try:
        return service.clean_filters(request.args, report=report.slug, viewer_id=current_user.id,
                                     see_everyone=current_user.is_admin,
                                     visible_to=permissions.visible_to(current_user)), {}
    except service.FilterError as exc:
        return None, exc.errors


def _query(f: service.Filters | None) -> dict[str, str]:
    """The filters as URL values (kept in links: the CSV, the other reports)."""
    if f is None:
        return {k: v for k, v in request.args.items() if k in ("start", "end", "owner", "source")}
    query = {"start": f.start.isoformat(), "end": f.end.isoformat()}
    if f.owner_id is not None and current_user.is_admin:
        query["owner"] = str(f.owner_id)
    if f.source:
        query["source"] = f.source
    return query


@bp.get("")
def index():
    return render_template("reports/index.html", reports=list(REPORTS.values()), query=_query(None),
                           can_see_everyone=current_user.is_admin)


def _chart_and_table(spec: Report, rows: list[dict]):
    kinds = {c.key: c.kind for c in spec.columns}
    label_key, value_key = spec.chart
    charted = spec.chart_rows(rows) if spec.chart_rows else rows
    chart = bar_chart([(cell(r[label_key], kinds[label_key]), r[value_key], cell(r[value_key], kinds[value_key]))
                       for r in charted])
    return chart, [[cell(r[c.key], c.kind) for c in spec.columns] for r in rows]


def _filter_form(f: service.Filters | None) -> dict:
    """What the filter form shows: the filters in force, or what the URL said when it was refused."""
    values = {k: request.args.get(k, "") for k in ("start", "end", "owner", "source")}
    if f is not None:
        values.update(start=f.start.isoformat(), end=f.end.isoformat(), owner=str(f.owner_id or ""),
                      source=f.source or "")
    sources = service.sources(permissions.visible_to(current_user))
    if values["source"] and values["source"] not in sources:
        sources.append(values["source"])
    # A date input blanks a value that is not a date, so a mistyped one comes back as text, as typed.
    date_types = {k: "date" if not values[k].strip() or iso_day(values[k]) else "text" for k in ("start", "end")}
    return {"values": values, "sources": sources, "can_see_everyone": current_user.is_admin,
            "people": team(include_inactive=True) if current_user.is_admin else [], "date_types": date_types}


def _owner_refused() -> bool:
    """A member's URL named someone else's figures: they see their own (clean_filters), and are told so."""
    asked = request.args.get("owner", "").strip()
    return not current_user.is_admin and bool(asked) and asked != str(current_user.id)


def _figures(spec: Report, f: service.Filters, *, fresh: bool = False) -> report_cache.Kept:
    """The report's figures as services.report_figures keeps them, so the page, a second look and
    the CSV agree and the database aggregates once."""
    default_range = not (request.args.get("start") or request.args.get("end"))
    return report_figures.look(spec.slug, f, default_range=default_range, fresh=fresh)


@bp.get("/<report>")
def show(report: str):
    spec = _report(report)
    f, errors = _filters(spec)
    if f is not None and request.args.get("fresh") and report_cache.enabled():  # "Refresh": compute now, then the plain address
        _figures(spec, f, fresh=True)
        return redirect(url_for("reports.show", report=spec.slug, **_query(f)))
    rows, extra, computed_at, stale = [], {}, None, False
    if f is not None:
        kept = _figures(spec, f)
        figures, computed_at, stale = dict(kept.figures), kept.at, kept.stale
        rows = figures.pop("rows")
        extra = figures
    chart, table = _chart_and_table(spec, rows)
    empty_state = None
    if f is not None and spec.empty_template and not spec.worth_charting(rows):
        empty_state = {"template": spec.empty_template, "can_change_settings": current_user.is_admin,
                       "probabilities_set": any(s.probability for s in stage_service.pipeline() if s.kind == "open")}
    return render_template("reports/show.html", report=spec, reports=list(REPORTS.values()), filters=f,
                           errors=errors, rows=rows, table=table, chart=chart, query=_query(f),
                           links=_links(spec, _query(f)), duration=duration, computed_at=computed_at, stale=stale,
                           kept=report_cache.enabled(), zone=reader_timezone(),
                           empty_state=empty_state, owner_refused=_owner_refused(),
                           **_filter_form(f), **extra), 400 if errors else 200


def _links(current: Report, query: dict[str, str]) -> dict[str, str]:
    """Each report's address from this one: owner and source carried over; the dates only when the
    URL chose them and the two reports read dates the same way (the forecast looks ahead, the
    others back), so each otherwise opens on its own default range."""
    chosen = "start" in request.args or "end" in request.args
    links = {}
    for slug in REPORTS:
        same_way = (slug == "forecast") == (current.slug == "forecast")
        carried = {k: v for k, v in query.items() if k not in ("start", "end") or (chosen and same_way)}
        links[slug] = url_for("reports.show", report=slug, **carried)
    return links


@bp.get("/<report>/csv")
def download(report: str):
    spec = _report(report)
    f, errors = _filters(spec)
    if f is None:
        return show(report)
    rows = _figures(spec, f).figures["rows"]
    line = CsvLines()
    currency = team_currency()
    body = BOM + line([c.csv_header(currency) for c in spec.columns]) + "".join(
        line([csv_cell(r[c.key], c.kind) for c in spec.columns]) for r in rows)
    filename = f"{spec.slug}-{f.start.isoformat()}-to-{f.end.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
