"""How the lead page's timeline reads: a merge names the other lead's values that were not kept
(its stage too), and days and money read as they do elsewhere, not as stored."""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import TimelineEntry
from app.services import atomic, closing, custom_fields as cf, leads as lead_service
from app.services import merge as merge_service
from app.services.custom_fields import FieldSettings


def entry_text(page: str, kind: str) -> str:
    """The visible text of the lead page's first timeline entry of this kind, spaces squeezed."""
    item = re.search(rf'<li id="entry-\d+" class="entry entry-{kind}".*?</li>', page, re.S).group(0)
    return " ".join(re.sub(r"<[^>]+>", " ", item).split())


def merged_data(lead_id: int) -> dict:
    return db.session.scalars(select(TimelineEntry.data).where(TimelineEntry.lead_id == lead_id,
                                                               TimelineEntry.kind == "merged")).one()


def test_a_merge_names_the_other_leads_values_not_kept_with_its_stage_and_not_the_kept_leads_own(
        as_member, make_lead, stages, member):
    cf.create_field(FieldSettings("Plan", key="plan", kind="choice", choices=["Basic", "Pro"]))
    kept = make_lead(first_name="Jon", last_name="Smith", email="jon@acme.example", value="100")
    other = make_lead(first_name="John", last_name="Smith", email="john@acme.example", value="2500",
                      stage="Qualified", job_title="CTO")
    with atomic():
        cf.set_values(kept, cf.check_values({"plan": "Basic"}, partial=True), None)
        cf.set_values(other, cf.check_values({"plan": "Pro"}, partial=True), None)
    # The kept lead takes the other's plan (its own Basic is dropped) and keeps its own value and stage.
    merge_service.merge_leads(kept.id, other.id, {"custom_plan": "loser", "job_title": "loser"}, member.id)

    assert merged_data(kept.id)["not_kept"] == [["First name", "John"], ["Email", "john@acme.example"],
                                                ["Deal value", "$2,500"], ["Stage", "Qualified"]]
    text = entry_text(as_member.get(f"/leads/{kept.id}").get_data(as_text=True), "merged")
    assert ("Their values not kept here: First name John , Email john@acme.example , Deal value $2,500 , "
            "Stage Qualified .") in text
    assert "Basic" not in text and "Pro" not in text and "CTO" not in text


def test_a_closed_leads_day_and_value_and_an_edited_value_read_as_day_and_money(as_member, make_lead, stages,
                                                                                member):
    lead = make_lead(first_name="Deal", value="100")
    lead_service.update_lead(lead.id, {"value": "12500"}, member.id)
    details = closing.check(stages["Won"], "2026-11-30", "12500", None, None)
    lead_service.move_lead(lead.id, stages["Won"].id, None, None, member.id, details)

    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    closed = entry_text(page, "stage_changed")
    day = "30 Nov" + ("" if date.today().year == 2026 else " 2026")
    assert f"Closed on {day} at $12,500." in closed and "2026-11-30" not in closed and "12,500.00" not in closed
    edited = entry_text(page, "updated")
    assert "Value: $100 → $12,500" in edited and "12500" not in edited


def test_a_money_custom_fields_change_reads_as_money_in_the_teams_currency(as_admin, admin, make_lead):
    from tests.integration.test_team_identity import save
    assert save(as_admin, currency="EUR").status_code == 302
    cf.create_field(FieldSettings("Budget", key="budget", kind="money"))
    cf.create_field(FieldSettings("Seats", key="seats", kind="number"))
    lead = make_lead(first_name="Deal")
    with atomic():
        cf.set_values(lead, cf.check_values({"budget": "12500.5", "seats": "12500"}, partial=True), admin.id)
    page = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    entry = re.search(r'<li id="entry-\d+" class="entry entry-updated".*?</ul>', page, re.S).group(0)
    text = " ".join(re.sub(r"<[^>]+>", " ", entry).split())
    assert "Budget: empty → €12,500.50" in text and "Seats: empty → 12500" in text
