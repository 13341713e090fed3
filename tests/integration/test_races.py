"""Simultaneous actions, each in its own thread with its own app context and database session,
as they would be in a server: exactly one of two conflicting changes wins, and no rule breaks."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, Role, Stage, TimelineEntry, User
from app.services.leads import StaleLead, create_lead, move_lead
from app.services.stages import UnknownStage, delete_stage
from app.services.users import LastAdmin, change_role, set_active
from tests.conftest import Web


def together(app, *actions):
    """Run the actions at the same moment, one thread each; returns each one's result or exception."""
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(i, action):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = action()
            except Exception as exc:  # the outcome under test, not a test failure
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_eight_saves_of_one_lead_version_save_exactly_one(app, make_user, make_lead):
    users = [make_user() for _ in range(8)]
    lead = make_lead(first_name="Original")
    lead_id, version = lead.id, lead.version
    clients = [Web(app.test_client()) for _ in users]
    for client, user in zip(clients, users):
        client.login(user)

    def save(i):
        return lambda: clients[i].post(f"/leads/{lead_id}/edit", {
            "first_name": f"Writer{i}", "last_name": "Lead", "version": version})

    responses = together(app, *(save(i) for i in range(8)))

    assert not [r for r in responses if isinstance(r, Exception)], responses
    saved = [i for i, r in enumerate(responses) if r.status_code == 302]
    refused = [r for r in responses if r.status_code == 409 or r.status_code == 422]
    assert len(saved) == 1 and len(refused) == 7
    assert all("Someone else edited this lead" in r.get_data(as_text=True) for r in refused)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.first_name == f"Writer{saved[0]}" and lead.version == version + 1
    updates = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                             TimelineEntry.kind == "updated")).all()
    assert len(updates) == 1 and updates[0].data["changes"]["first_name"] == ["Original", f"Writer{saved[0]}"]


def test_eight_moves_of_one_card_version_move_it_once(app, make_user, make_lead, stages):
    lead = make_lead()
    lead_id, version, actor_id = lead.id, lead.version, make_user().id
    targets = [stages[name].id for name in ("Contacted", "Qualified", "Won", "Lost") * 2]
    results = together(app, *(lambda target=target: move_lead(lead_id, target, None, version, actor_id)
                              for target in targets))
    assert sum(isinstance(r, Lead) for r in results) == 1, results
    assert sum(isinstance(r, StaleLead) for r in results) == 7, results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.lead_id == lead_id, TimelineEntry.kind == "stage_changed")) == 1


def _admins() -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True))))


@pytest.mark.parametrize("how", ["demote", "deactivate"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(app, make_user, how):
    survivor = make_user("admin")
    for _ in range(4):  # a race either way, several times
        newcomer = make_user("admin")
        pair = [survivor.id, newcomer.id]  # plain ids: the threads must not touch this session
        remove = (lambda uid: change_role(uid, Role.member.value)) if how == "demote" else \
            (lambda uid: set_active(uid, False))
        results = together(app, *(lambda uid=uid: remove(uid) for uid in pair))
        assert sum(isinstance(r, LastAdmin) for r in results) == 1, results
        assert sum(isinstance(r, User) for r in results) == 1, results
        admins = _admins()
        assert len(admins) == 1 and admins[0] in pair
        survivor = db.session.get(User, admins[0])


def test_leads_created_at_once_each_get_their_own_place_in_the_column(app, make_user, stages):
    actor_id, stage_id = make_user().id, stages["New"].id
    results = together(app, *(lambda i=i: create_lead({"first_name": f"Lead{i}"}, actor_id, stage_id=stage_id)
                              for i in range(8)))
    assert all(isinstance(r, Lead) for r in results), results
    db.session.expire_all()
    positions = db.session.scalars(select(Lead.position).where(Lead.stage_id == stages["New"].id)).all()
    assert len(positions) == 8 and len(set(positions)) == 8


def test_a_card_dropped_between_two_leads_created_at_once_lands_between_them(app, make_user, stages):
    actor = make_user()
    actor_id, stage_id = actor.id, stages["New"].id
    first, second = together(app, *(lambda i=i: create_lead({"first_name": f"Twin{i}"}, actor_id,
                                                            stage_id=stage_id).id for i in range(2)))
    mover = create_lead({"first_name": "Mover"}, actor.id, stage_id=stages["Contacted"].id)
    upper, lower = db.session.scalars(select(Lead).where(Lead.id.in_([first, second]))
                                      .order_by(Lead.position)).all()
    move_lead(mover.id, stages["New"].id, upper.id, mover.version, actor.id)
    column = db.session.scalars(select(Lead.first_name).where(Lead.stage_id == stages["New"].id)
                                .order_by(Lead.position, Lead.id)).all()
    assert column == [upper.first_name, "Mover", lower.first_name]


def test_a_card_moved_into_a_stage_as_it_is_deleted_is_never_lost(app, make_user, make_lead, stages):
    actor = make_user()
    for round_ in range(4):
        doomed = Stage(name=f"Doomed {round_}", position=100 + round_, colour="#000000", kind="open")
        db.session.add(doomed)
        db.session.commit()
        lead = make_lead(stage="Contacted")
        ids = doomed.id, stages["Qualified"].id, actor.id, lead.id, lead.version
        doomed_id, qualified_id, actor_id, lead_id, version = ids
        results = together(app, lambda: delete_stage(doomed_id, qualified_id, actor_id),
                           lambda: move_lead(lead_id, doomed_id, None, version, actor_id))
        assert results[0] is None, results  # the deletion always succeeds
        assert results[1] is None or isinstance(results[1], (Lead, UnknownStage)), results
        db.session.expire_all()
        assert db.session.get(Stage, doomed_id) is None
        moved = isinstance(results[1], Lead)
        # Moved first: the deletion carried it on to Qualified. Refused: it stayed where it was.
        assert db.session.get(Lead, lead_id).stage_id == stages["Qualified" if moved else "Contacted"].id


def test_moving_a_card_into_a_deleted_stage_answers_409_and_refreshes_the_board(as_member, make_lead, stages,
                                                                                admin):
    lead = make_lead()
    doomed = Stage(name="Doomed", position=100, colour="#000000", kind="open")
    db.session.add(doomed)
    db.session.commit()
    doomed_id = doomed.id
    delete_stage(doomed_id, None, admin.id)
    response = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": doomed_id, "version": lead.version,
                                              "from_stage_id": stages["New"].id}, htmx=True)
    assert response.status_code == 409 and response.headers["HX-Refresh"] == "true"
    assert "stage no longer exists" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id
    page = as_member.get("/board").get_data(as_text=True)  # the reloaded board says what happened
    assert "stage no longer exists" in page and "Doomed" not in page

