"""Assignment rules on a real database: every way in routes a new lead by the first rule with someone
available, round-robin turns are kept in the database and taken in turn under concurrency, and a
broken rule never stops a capture."""
from __future__ import annotations

import csv
import io
import threading
import time
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AssignmentRule, AssignmentTally, AssignmentTurn, CaptureForm, Lead, Notification, TimelineEntry, User,
)
from app.services import assignment, capture_forms as form_service
from app.services.availability import set_availability
from app.services.capture import capture_lead
from app.services.imports import create_import, run_import

NOW = datetime(2026, 12, 2, 10, 0)  # a Wednesday, 10:00 UTC


@pytest.fixture
def team(make_user):
    """Three members, in id order: Ann, Ben, Cat."""
    return [make_user("member", name=name, email=f"{name.lower()}@example.com") for name in ("Ann", "Ben", "Cat")]


@pytest.fixture
def sales(team):
    return assignment.save_group(None, name="Sales", members={u.id: 1 for u in team})


def rule(name="Everyone", condition=None, target="round_robin", group=None, user=None, cap=None):
    return assignment.save_rule(None, name=name, condition=condition or {}, target=target,
                                group_id=group.id if group else None, user_id=user.id if user else None, cap=cap)


def capture(n: int, **fields) -> Lead:
    fields.setdefault("email", f"lead{n}@example.com")
    return capture_lead({"first_name": f"Lead{n}", **fields}, via="test", now=NOW).lead


def owners(leads) -> list[str | None]:
    names = {u.id: u.name for u in db.session.scalars(select(User))}
    return [names.get(db.session.get(Lead, lead.id).owner_id) for lead in leads]


def assigned_entries(lead_id: int) -> list[dict]:
    return [e.data for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead_id, TimelineEntry.kind == "assigned"))]


# --- routing ---------------------------------------------------------------------------------------


def test_round_robin_gives_each_member_a_lead_in_turn_with_a_timeline_entry_and_a_notification(stages, sales, team):
    r = rule("Germany → sales DACH", group=sales)
    leads = [capture(n) for n in range(5)]
    assert owners(leads) == ["Ann", "Ben", "Cat", "Ann", "Ben"]
    assert assigned_entries(leads[0].id) == [{"to": "Ann", "rule": "Germany → sales DACH", "rule_id": r.id}]
    notices = list(db.session.scalars(select(Notification).where(Notification.user_id == team[0].id)))
    assert [n.lead_id for n in notices] == [leads[0].id, leads[3].id]
    assert "Lead0" in notices[0].message and "Germany → sales DACH" in notices[0].message


def test_the_turn_is_kept_in_the_database_and_survives_a_restart(make_app, stages, sales):
    r = rule(group=sales)
    capture(1)
    assert db.session.get(AssignmentTurn, r.id).turn == 1
    restarted = make_app()
    with restarted.app_context():
        second = capture(2)
        assert owners([second]) == ["Ben"]


def test_weighted_round_robin_spreads_turns_by_weight(stages, team):
    group = assignment.save_group(None, name="Weighted", members={team[0].id: 3, team[1].id: 1})
    rule(target="weighted", group=group)
    leads = [capture(n) for n in range(8)]
    got = owners(leads)
    assert got.count("Ann") == 6 and got.count("Ben") == 2
    assert got[:4] == ["Ann", "Ann", "Ben", "Ann"]  # spread out, not AAAB


def test_least_loaded_picks_the_member_with_fewest_open_leads_and_skips_capped_ones(stages, sales, team, make_lead):
    for _ in range(2):
        make_lead(owner=team[0])
    make_lead(owner=team[1])
    make_lead(owner=team[2], stage="Won")  # a closed lead does not count
    rule(target="least_loaded", group=sales, cap=1)
    first, second = capture(1), capture(2)
    # Cat holds no open lead; then Cat holds one, and Ann (2) and Ben (1) are at or over the cap of 1.
    assert owners([first, second]) == ["Cat", None]


def test_a_rule_whose_people_are_all_away_falls_through_to_the_next(stages, team):
    set_availability(team[0].id, date(2026, 12, 5), {}, now=NOW)
    rule("Ann's", target="person", user=team[0])
    rule("Ben's", target="person", user=team[1])
    lead = capture(1)
    assert owners([lead]) == ["Ben"]
    assert assigned_entries(lead.id)[0]["rule"] == "Ben's"


def test_a_member_outside_working_hours_or_deactivated_is_skipped(stages, sales, team):
    from datetime import time as clock
    from app.services.users import set_active
    set_availability(team[0].id, None, {2: (clock(13, 0), clock(17, 0))}, now=NOW)  # Wednesdays 13-17 UTC only
    set_active(team[1].id, False)
    rule(group=sales)
    assert owners([capture(1), capture(2)]) == ["Cat", "Cat"]


def test_the_first_matching_rule_wins_and_no_match_leaves_the_lead_in_the_pool(stages, team, make_lead):
    from app.services import atomic
    rule("Germany", condition={"field": "country", "op": "equals", "value": "DE"}, target="person", user=team[0])
    rule("Referrals", condition={"field": "source", "op": "equals", "value": "Referral"}, target="person",
         user=team[1])
    german = make_lead(source="Referral")  # made without routing; a territory as capture will set it
    german.country = "DE"
    db.session.commit()
    verdicts, winner = assignment.try_lead(german, NOW)
    assert winner.rule.name == "Germany" and winner.owner.name == "Ann"
    assert verdicts[1].matched is None and "earlier rule" in verdicts[1].why
    with atomic():
        routed = assignment.route(german, NOW)
    assert (routed.owner_name, routed.rule_name) == ("Ann", "Germany")
    referral, nobody = capture(2, source="Referral"), capture(3, source="Fair")
    assert owners([german, referral, nobody]) == ["Ann", "Ben", None]
    assert assigned_entries(nobody.id) == []


def test_a_turned_off_rule_is_skipped(stages, team):
    off = rule("Off", target="person", user=team[0])
    rule("On", target="person", user=team[1])
    assignment.set_enabled(off.id, False)
    assert owners([capture(1)]) == ["Ben"]


def test_a_broken_rule_never_stops_a_capture_and_admins_are_told_once(stages, team, admin, make_user):
    other_admin = make_user("admin", name="Other Admin")
    form = form_service.create_form(form_service.FormSettings(name="Fair", fields={"email": "required"}))
    form_service.create_form(form_service.FormSettings(name="Website", fields={"email": "required"}))
    broken = rule("From the fair", condition={"field": "form", "op": "equals", "value": form.id},
                  target="person", user=team[0])
    rule("Everyone else", target="person", user=team[1])
    form_service.delete_form(form.id)
    leads = [capture(1), capture(2)]
    assert owners(leads) == ["Ben", "Ben"]  # the broken rule is skipped; the next one takes them
    db.session.refresh(broken)
    assert broken.broken_since == NOW and "condition" in broken.broken_reason
    told = list(db.session.scalars(select(Notification).where(Notification.lead_id.is_(None))))
    assert sorted(n.user_id for n in told) == sorted([admin.id, other_admin.id])  # once each, not per lead
    assert "From the fair" in told[0].message
    # Saving the rule clears the flag.
    assignment.save_rule(broken.id, name="From the fair", condition={}, target="person", user_id=team[0].id)
    assert db.session.get(AssignmentRule, broken.id).broken_since is None


def test_a_group_emptied_behind_the_rules_back_leaves_leads_in_the_pool(stages, sales, team):
    from app.models import AssignmentGroupMember
    rule(group=sales)
    db.session.execute(AssignmentGroupMember.__table__.delete())
    db.session.commit()
    lead = capture(1)
    assert owners([lead]) == [None]
    assert "nobody" in db.session.scalar(select(AssignmentRule.broken_reason))


def test_an_existing_lead_resubmitted_is_not_routed_again(stages, sales):
    rule(group=sales)
    first = capture(1)
    again = capture_lead({"first_name": "Lead1", "email": "lead1@example.com"}, via="test", now=NOW)
    assert not again.created and again.routed is None
    assert len(assigned_entries(first.id)) == 1


def test_the_history_counts_leads_per_rule_and_member_this_week(stages, sales):
    rule("Everyone", group=sales)
    for n in range(4):
        capture(n)
    rows = assignment.history(NOW)
    assert [(r.rule_name, r.counts, r.total) for r in rows] == [("Everyone", [("Ann", 2), ("Ben", 1), ("Cat", 1)], 4)]
    assert assignment.history(NOW + timedelta(days=7)) == []  # next week starts empty
    assert db.session.scalar(select(func.sum(AssignmentTally.count))) == 4


# --- every way in ------------------------------------------------------------------------------------


def test_the_api_routes_a_new_lead_unless_it_names_an_owner(app, stages, sales, team):
    from app.services.api_keys import create_key
    from tests.integration.test_api import Api
    rule(group=sales)
    api = Api(app, create_key("Website")[1])
    routed = api.post("/leads", {"email": "grace@example.com"}).get_json()
    named = api.post("/leads", {"email": "alan@example.com", "owner_id": team[2].id}).get_json()
    assert (routed["owner_id"], named["owner_id"]) == (team[0].id, team[2].id)
    assert assigned_entries(routed["id"])[0]["rule"] == "Everyone"


def test_a_web_form_submission_is_routed(app, stages, sales):
    from tests.conftest import Web
    from tests.integration.test_capture_forms import human
    form = form_service.create_form(form_service.FormSettings(name="Contact", fields={"email": "required"}))
    rule(group=sales)
    Web(app.test_client()).post("/f/contact", human(form, email="grace@example.com"), csrf=False)
    lead = db.session.scalar(select(Lead))
    assert owners([lead]) == ["Ann"]
    assert assigned_entries(lead.id)[0]["to"] == "Ann"


def _import(apply_rules: bool) -> list[Lead]:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["Email", "First name"], ["a@example.com", "A"], ["b@example.com", "B"]])
    imp = create_import(io.BytesIO(buffer.getvalue().encode()), "test.csv", None)
    imp.status, imp.apply_rules = "queued", apply_rules
    db.session.commit()
    run_import(imp.id)
    return list(db.session.scalars(select(Lead).order_by(Lead.id)))


def test_an_import_applies_the_rules_only_when_asked(stages, sales):
    rule(group=sales)
    assert owners(_import(apply_rules=False)) == [None, None]
    db.session.execute(Lead.__table__.delete())
    db.session.commit()
    assert owners(_import(apply_rules=True)) == ["Ann", "Ben"]


def test_the_import_mapping_screen_offers_the_rules_and_saves_the_choice(as_member, stages):
    from tests.integration.test_import import latest_import, upload
    upload(as_member, b"Email,First name\na@example.com,A\n")
    imp = latest_import()
    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert 'name="apply_rules"' in page and "by the assignment rules" in page


def test_manual_entry_chooses_the_rules_me_a_teammate_or_the_pool_and_the_stage(web, stages, sales, team):
    rule(group=sales)
    me, teammate = team[2], team[1]
    web.login(me)
    page = web.get("/leads/new").get_data(as_text=True)
    assert '<option selected value="rules">By the assignment rules</option>' in page
    choices = {"rules": "Ann", "me": "Cat", str(teammate.id): "Ben", "pool": None}
    for n, (choice, owner) in enumerate(choices.items()):
        response = web.post("/leads/new", {"first_name": f"Lead{n}", "owner": choice,
                                           "stage": str(stages["Qualified"].id)})
        assert response.status_code == 302
        lead = db.session.scalar(select(Lead).where(Lead.first_name == f"Lead{n}"))
        assert owners([lead]) == [owner] and lead.stage_id == stages["Qualified"].id
    shown = web.get(f"/leads/{db.session.scalar(select(Lead.id).order_by(Lead.id).limit(1))}").get_data(as_text=True)
    assert "Assigned to Ann by rule “Everyone”" in shown


def test_manual_entry_without_rules_defaults_to_me_and_refuses_a_stranger_as_owner(as_member, stages):
    page = as_member.get("/leads/new").get_data(as_text=True)
    assert '<option selected value="me">Me</option>' in page and "By the assignment rules" not in page
    response = as_member.post("/leads/new", {"first_name": "Grace", "owner": "999999"}, htmx=True)
    assert response.status_code == 422 and "not an active user" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0


# --- fairness under concurrency ---------------------------------------------------------------------


def test_simultaneous_captures_take_round_robin_turns_in_order(app, database_url, stages, sales, team):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; PostgreSQL's row lock is what is tested here")
    rule(group=sales)
    start, errors = threading.Barrier(9), []

    def one(n):
        with app.app_context():
            try:
                start.wait(timeout=10)
                capture(100 + n)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    # The timeline entries are written while holding the turn's lock: in id order, the turns cycle.
    given = [e.data["to"] for e in db.session.scalars(
        select(TimelineEntry).where(TimelineEntry.kind == "assigned").order_by(TimelineEntry.id))]
    assert given == ["Ann", "Ben", "Cat"] * 3
    counts = dict(db.session.execute(select(Lead.owner_id, func.count()).group_by(Lead.owner_id)).all())
    assert counts == {u.id: 3 for u in team}


def test_a_rule_can_route_by_score_band_which_capture_scores_first(stages, team):
    from app.models import ScoringRule
    db.session.add(ScoringRule(position=0, label="trade fair", points=60, enabled=True, created_at=NOW,
                               updated_at=NOW, condition={"field": "source", "op": "equals", "value": "Fair"}))
    db.session.commit()
    rule("Hot leads", condition={"field": "score_band", "op": "equals", "value": "Hot"}, target="person",
         user=team[0])
    hot, cold = capture(1, source="Fair"), capture(2, source="Web")
    assert owners([hot, cold]) == ["Ann", None]
    assert "Score band is “Hot”" in assignment.describe_condition(assignment.rules()[0])


def test_scoring_rules_cannot_ask_for_the_score(app):
    from app.services import ServiceError, conditions
    with pytest.raises(ServiceError):
        conditions.check({"field": "score_band", "op": "equals", "value": "Hot"})
    assert conditions.check({"field": "score_band", "op": "equals", "value": "hot"}, with_score=True)["value"] == "Hot"


def test_a_capture_during_an_import_batch_waits_for_one_lead_not_the_batch(app, database_url, stages, sales, team):
    """An import routing by the rules commits after each lead that took a turn: a form capture routed
    by the same rule meanwhile is not held up by the rest of the import's batch."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; PostgreSQL's row lock is what is tested here")
    from sqlalchemy import text

    from app.services.tags import ensure_tags
    from tests.integration.test_import import csv_bytes, queued
    rule(group=sales)
    ensure_tags(["Held"])
    db.session.commit()
    imp = queued(csv_bytes([["Email", "First name", "Tags"], ["a@example.com", "A", ""],
                            ["b@example.com", "B", "Held"], ["c@example.com", "C", ""]]), apply_rules=True)
    # Another transaction keeps the tag "Held" locked: the import stops on row B, mid-batch, after
    # row A took Ann's turn.
    holder = db.engine.connect()
    holding = holder.begin()
    holder.execute(text("SELECT id FROM tags WHERE name_key = 'held' FOR UPDATE"))
    errors = []

    def importing():
        with app.app_context():
            try:
                run_import(imp.id)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))
            finally:
                db.session.remove()

    def waiting() -> int:  # a connection of its own: pg_stat_activity is a snapshot per transaction
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock'")).scalar()

    worker = threading.Thread(target=importing)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not waiting():
            assert time.monotonic() < deadline, "the import never reached the held row"
            time.sleep(0.05)
        # Into another stage: row B holds its own stage's row (card positions) until B is done.
        db.session.execute(text("SET lock_timeout = '3s'"))  # waiting on the batch would fail here
        later = sorted(stages.values(), key=lambda s: s.position)[1]  # the import fills the first
        lead = capture_lead({"first_name": "Form", "email": "form@example.com"}, via="test", now=NOW,
                            stage_id=later.id).lead
        db.session.execute(text("RESET lock_timeout"))
        db.session.commit()
    finally:
        holding.rollback()
        holder.close()
        worker.join(timeout=60)
    assert errors == []
    assert owners([lead]) == ["Ben"]
    imported = list(db.session.scalars(select(Lead).where(Lead.id != lead.id).order_by(Lead.email)))
    assert [lead.email for lead in imported] == ["a@example.com", "b@example.com", "c@example.com"]
    assert owners(imported) == ["Ann", "Cat", "Ann"]
