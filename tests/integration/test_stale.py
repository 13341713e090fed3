"""The stale flag: a per-stage "stale after N days without a touch" setting, the badge on board cards
and the lead page, and the pool's stale=1 filter, which reads the (stage_id, last_touch_at) index."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Lead, Stage
from app.services import activities as activity_service, utcnow
from app.services.touches import stale_clause
from tests.plans import plan


def days_ago(lead, entered: int, touched: int | None = None) -> None:
    now = utcnow()
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(
        stage_entered_at=now - timedelta(days=entered),
        last_touch_at=None if touched is None else now - timedelta(days=touched)))
    db.session.commit()


def stale_after(stage, days: int | None) -> None:
    db.session.execute(update(Stage).where(Stage.id == stage.id).values(stale_days=days))
    db.session.commit()


def edit_stage(client, stage, stale_days: str):
    return client.post(f"/settings/stages/{stage.id}", {"name": stage.name, "colour": stage.colour,
                                                        "kind": stage.kind, "stale_days": stale_days}, htmx=True)


def test_admins_set_a_stages_stale_days_in_the_stage_editor(as_admin, stages):
    new = stages["New"]
    assert edit_stage(as_admin, new, "7").status_code == 204
    db.session.refresh(new)
    assert new.stale_days == 7
    form = as_admin.get(f"/settings/stages/{new.id}/edit").get_data(as_text=True)
    assert re.search(r'id="stale_days"[^>]*value="7"', form)
    assert "stale after 7 days" in as_admin.get("/settings/stages").get_data(as_text=True)
    assert edit_stage(as_admin, new, " ").status_code == 204
    db.session.refresh(new)
    assert new.stale_days is None


@pytest.mark.parametrize("typed", ["0", "366", "-3", "seven", "1.5"])
def test_a_stale_setting_outside_1_to_365_is_refused_beside_the_field(as_admin, stages, typed):
    new = stages["New"]
    stale_after(new, 30)
    response = edit_stage(as_admin, new, typed)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert re.search(r'<p class="error" id="stale_days-error">Give a whole number of days from 1 to 365', body)
    db.session.refresh(new)
    assert new.stale_days == 30


def test_members_cannot_change_stage_settings(as_member, stages):
    assert edit_stage(as_member, stages["New"], "7").status_code == 403
    db.session.refresh(stages["New"])
    assert stages["New"].stale_days is None


def test_the_pool_board_and_lead_page_flag_leads_untouched_too_long_in_their_stage(as_member, make_lead, member, stages):
    stale_after(stages["New"], 7)
    quiet = make_lead(first_name="Quiet", owner=member)
    days_ago(quiet, entered=10)  # never touched, in New for 10 days
    lapsed = make_lead(first_name="Lapsed", owner=member)
    days_ago(lapsed, entered=20, touched=8)
    recent = make_lead(first_name="Recent", owner=member)
    days_ago(recent, entered=20, touched=2)
    newcomer = make_lead(first_name="Newcomer", owner=member)
    days_ago(newcomer, entered=2)
    elsewhere = make_lead(first_name="Elsewhere", stage="Contacted", owner=member)  # no setting there
    days_ago(elsewhere, entered=90)

    pool = as_member.get("/leads?stale=1", htmx=True).get_data(as_text=True)
    shown = set(re.findall(r'href="/leads/(\d+)"', pool))
    assert shown == {str(quiet.id), str(lapsed.id)}
    assert "Quiet Lead" in pool and "Recent Lead" not in pool
    board = as_member.get("/board").get_data(as_text=True)
    card = lambda lead: re.search(rf'<li class="card" id="card-{lead.id}".*?</li>', board, re.S).group(0)
    assert "stale-badge" in card(quiet) and "stale-badge" in card(lapsed)
    assert all("stale-badge" not in card(lead) for lead in (recent, newcomer, elsewhere))
    assert '<span class="stale-badge">Stale</span>' in as_member.get(f"/leads/{quiet.id}").get_data(as_text=True)

    # A touch takes the flag away.
    activity_service.log_activity(quiet.id, member.id, "call", outcome="reached")
    assert '<span class="stale-badge">' not in as_member.get(f"/leads/{quiet.id}").get_data(as_text=True)
    pool = as_member.get("/leads?stale=1", htmx=True).get_data(as_text=True)
    assert set(re.findall(r'href="/leads/(\d+)"', pool)) == {str(lapsed.id)}


def test_an_unknown_stale_value_is_refused_beside_it_and_no_setting_anywhere_matches_nothing(as_member, make_lead, stages):
    days_ago(make_lead(), entered=400)
    unknown = as_member.get("/leads?stale=yes")  # the pool without it, and a message saying so
    assert unknown.status_code == 422 and "Stale only: " in unknown.get_data(as_text=True)
    pool = as_member.get("/leads?stale=1").get_data(as_text=True)
    assert "No leads match these filters." in pool


def test_the_stale_filter_reads_the_stage_touch_index(app, stages):
    stale_after(stages["New"], 7)
    stale_after(stages["Qualified"], 30)
    query = select(Lead.id).where(stale_clause(utcnow()))
    # On PostgreSQL 20,000 leads, nearly all touched lately, so the planner weighs real statistics.
    found = plan(query, "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, "
                 "updated_at, stage_entered_at, last_touch_at, score) SELECT 'L', 'N' || g, :stage, g, 1, now(), "
                 "now(), now() - interval '60 days', now() - (g % 5) * interval '1 day', 0 "
                 "FROM generate_series(1, 20000) g", stage=stages["New"].id)
    assert "ix_leads_stage_touch" in found, found
