"""A report's figures, the one place the page, its CSV and the worker get them from: computed by
services.reports, kept by services.report_cache, and kept warm by the worker for the views someone
looked at lately (at most report_cache.MAX_WATCHED of them, each computed again when its kept
figures are half as old as REPORT_STALE_SECONDS), so a first look of the day at the usual views
reads kept figures instead of aggregating every lead while the manager waits.

A view is written down as a recipe: plain JSON (report, dates, owner, source, zone) that the worker's
job turns back into the same Filters. A view on the default range is written as such, and warmed for
the range that is the default on the day the worker computes it."""
from __future__ import annotations

from typing import Callable

from app import queue
from app.services import report_cache, reports
from app.services.reports import Filters

COMPUTE: dict[str, Callable[[Filters], list[dict]]] = {
    "funnel": reports.funnel,
    "conversion-source": reports.conversion_by_source,
    "conversion-form": reports.conversion_by_form,
    "conversion-campaign": reports.conversion_by_campaign,
    "speed-member": reports.speed_by_member,
    "speed-source": reports.speed_by_source,
    "ageing": reports.stage_ageing,
    "activity": reports.team_activity,
    "lost-reasons": reports.lost_reasons,
    "sequences": reports.sequence_results,
    "forecast": reports.forecast,
}
WARM_BATCH = 10  # views asked to be computed again per sweep, the most recently viewed first


def compute(slug: str, f: Filters) -> dict:
    """The report's rows and its extras (the stuck list, the team's speed), computed now."""
    figures = {"rows": COMPUTE[slug](f)}
    if slug == "ageing":
        figures["stuck"] = reports.stuck_leads(f)
    if slug.startswith("speed-"):
        figures["overall"] = reports.speed_overall(f)
    return figures


def _parts(slug: str, f: Filters) -> tuple:
    return slug, f.start, f.end, f.owner_id, f.source, f.zone


def recipe(slug: str, f: Filters, *, default_range: bool) -> dict:
    return {"report": slug, "start": f.start.isoformat(), "end": f.end.isoformat(), "owner": f.owner_id,
            "source": f.source, "zone": f.zone, "default": bool(default_range)}


def filters_of(given: dict) -> tuple[str, Filters] | None:
    """The report and Filters a recipe names (the default range as of today, in its zone), or None
    when it names no report this version knows."""
    from datetime import date
    slug = given.get("report")
    if slug not in COMPUTE:
        return None
    zone = str(given.get("zone") or "UTC")
    try:
        if given.get("default"):
            start, end = reports.default_range(slug, reports.local_today(zone))
        else:
            start, end = date.fromisoformat(given["start"]), date.fromisoformat(given["end"])
    except (KeyError, TypeError, ValueError):
        return None
    owner = given.get("owner")
    return slug, Filters(start, end, owner if isinstance(owner, int) else None, given.get("source") or None, zone)


def look(slug: str, f: Filters, *, default_range: bool, fresh: bool = False) -> report_cache.Kept:
    """The figures a person looks at: kept ones when young enough (older ones shown while the worker
    computes newer), else computed now; the view is noted as worth keeping warm."""
    given = recipe(slug, f, default_range=default_range)
    report_cache.watch(given)
    return report_cache.figures(_parts(slug, f), lambda: compute(slug, f), fresh=fresh,
                                refresh=lambda: _ask(given))


def _ask(given: dict) -> None:
    queue.enqueue("app.jobs.reports.refresh", given)


def refresh(given: dict) -> None:
    """The worker's job: compute one view's figures and keep them."""
    found = filters_of(given)
    if found is not None:
        slug, f = found
        report_cache.store(_parts(slug, f), lambda: compute(slug, f))


def warm_watched() -> int:
    """Housekeeping: ask the worker to compute again the watched views whose kept figures are missing
    or past half of REPORT_STALE_SECONDS, so they never run out. Returns how many were asked."""
    if not report_cache.enabled():
        return 0
    due_after = report_cache.stale_seconds() / 2
    asked = 0
    for given in report_cache.watched():
        if asked >= WARM_BATCH:
            break
        found = filters_of(given)
        if found is None:
            continue
        slug, f = found
        age = report_cache.age_of(_parts(slug, f))
        if age is not None and age < due_after:
            continue
        if report_cache.ask_refresh(_parts(slug, f), lambda: _ask(given)):
            asked += 1
    return asked
