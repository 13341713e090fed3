"""Saved views: a pool or board filter kept under a name, private or shared, listed in the
navigation, opened by its address; what it names that was deleted since is left out with a notice."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import SavedView
from app.services import custom_fields as cf, saved_views, stages as stage_service
from app.services.custom_fields import FieldSettings


def nav(web) -> str:
    """The navigation's Views menu, as it loads when opened."""
    menu = web.get("/views/menu", htmx=True)
    assert menu.status_code == 200 and "<html" not in menu.get_data(as_text=True)
    return menu.get_data(as_text=True)


def save(web, name: str, query: str, target: str = "pool", shared: bool = False):
    data = {"name": name, "target": target, "query": query}
    if shared:
        data["shared"] = "y"
    return web.post("/views", data)


def test_a_private_view_is_listed_and_opened_by_its_owner_only(web, make_user, stages):
    ana, ben = make_user(name="Ana Owner"), make_user(name="Ben Other")
    web.login(ana)
    response = save(web, "  My  hot leads ", f"q=acme&stage={stages['New'].id}&after=cursor123&sort=score&dir=desc")
    view = db.session.scalar(select(SavedView))
    assert response.status_code == 302 and response.headers["Location"] == f"/views/{view.id}"
    assert (view.name, view.owner_id, view.shared, view.target) == ("My hot leads", ana.id, False, "pool")
    assert view.query == f"q=acme&stage={stages['New'].id}&sort=score&dir=desc"  # the page it was on is not kept
    opened = web.get(f"/views/{view.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == f"/leads?{view.query}"
    assert "My hot leads" in nav(web)
    other = type(web)(web.app.test_client())
    other.login(ben)
    assert "My hot leads" not in nav(other)
    assert other.get(f"/views/{view.id}").status_code == 404
    assert other.post(f"/views/{view.id}/delete").status_code == 404
    assert db.session.get(SavedView, view.id) is not None


def test_a_shared_view_is_listed_for_the_team_and_only_its_owner_or_an_admin_changes_it(web, make_user, admin, stages):
    ana, ben = make_user(name="Ana Owner"), make_user(name="Ben Other")
    web.login(ana)
    save(web, "Hot on the board", "band=Hot&sort=score", target="board", shared=True)
    view = db.session.scalar(select(SavedView))
    ben_web = type(web)(web.app.test_client())
    ben_web.login(ben)
    assert "Hot on the board" in nav(ben_web)
    assert ben_web.get(f"/views/{view.id}").headers["Location"] == "/board?band=Hot&sort=score"
    assert ben_web.post(f"/views/{view.id}/rename", {"name": "Mine now"}).status_code == 403
    assert ben_web.post(f"/views/{view.id}/delete").status_code == 403
    assert "Rename" not in ben_web.get("/views").get_data(as_text=True)
    renamed = web.post(f"/views/{view.id}/rename", {"name": "Hottest"})
    assert renamed.status_code == 302 and db.session.get(SavedView, view.id).name == "Hottest"
    admin_web = type(web)(web.app.test_client())
    admin_web.login(admin)
    view_id = view.id
    assert admin_web.post(f"/views/{view_id}/delete").status_code == 302
    assert db.session.get(SavedView, view_id) is None


def test_an_admin_cannot_touch_someone_elses_private_view(web, make_user, admin, stages):
    ana = make_user(name="Ana Owner")
    view = saved_views.save_view(ana.id, "Secret", "pool", "q=x")
    web.login(admin)
    assert web.get(f"/views/{view.id}").status_code == 404
    assert web.post(f"/views/{view.id}/delete").status_code == 404
    assert db.session.get(SavedView, view.id) is not None


def test_bad_names_are_refused_beside_the_field_and_nothing_is_saved(as_member, member, stages):
    empty = save(as_member, "   ", "q=x")
    body = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "Give the view a name." in body and 'aria-invalid="true"' in body
    long = save(as_member, "x" * 81, "q=x")
    assert long.status_code == 422 and "Keep the name under 80 characters." in long.get_data(as_text=True)
    assert save(as_member, "Mine", "q=x").status_code == 302
    twice = save(as_member, "Mine", "q=y")
    assert twice.status_code == 422 and "You already have a view called “Mine”" in twice.get_data(as_text=True)
    odd = save(as_member, "Odd", "q=x", target="reports")
    assert odd.status_code == 422 and "lead pool or of the board" in odd.get_data(as_text=True)
    too_long = save(as_member, "Huge", "q=" + "y" * 3000)
    assert too_long.status_code == 422 and "too long to save" in too_long.get_data(as_text=True)
    assert db.session.scalars(select(SavedView.name)).all() == ["Mine"]
    view = db.session.scalar(select(SavedView))
    bad_rename = as_member.post(f"/views/{view.id}/rename", {"name": ""})
    page = bad_rename.get_data(as_text=True)
    assert bad_rename.status_code == 422 and f'id="rename-{view.id}-error"' in page and "Give the view a name." in page


def test_a_view_naming_a_deleted_stage_or_field_opens_with_a_notice_not_a_500(as_member, member, admin, stages):
    extra = stage_service.add_stage("Trade shows", "#123456")
    cf.create_field(FieldSettings("Industry", key="industry", kind="text"))
    view = saved_views.save_view(member.id, "Shows", "pool",
                                 f"stage={extra.id}&field=industry&field_value=retail&sort=cf:industry&q=acme")
    board = saved_views.save_view(member.id, "Board shows", "board", "field=industry&field_value=retail")
    board.query += "&band=Gone"  # as if saved before a band was renamed
    db.session.commit()
    assert as_member.get(f"/views/{view.id}").headers["Location"] == f"/leads?{view.query.replace(':', '%3A')}"
    stage_service.delete_stage(extra.id, None, admin.id)
    cf.delete_field(cf.fields_by_key()["industry"].id, admin.id)
    opened = as_member.get(f"/views/{view.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/leads?q=acme"
    page = as_member.get("/leads?q=acme").get_data(as_text=True)
    assert "The stage this view filtered on has been deleted" in page
    assert "The custom field this view filtered on has been deleted" in page
    board_open = as_member.get(f"/views/{board.id}")
    assert board_open.headers["Location"] == "/board"
    board_page = as_member.get("/board")
    assert board_page.status_code == 200 and "score band “Gone”" in board_page.get_data(as_text=True)


def test_the_pool_and_board_offer_to_save_what_they_show(as_member, stages):
    pool = as_member.get("/leads?q=acme&band=Hot").get_data(as_text=True)
    assert "Save this view" in pool and re.search(r'name="query" value="q=acme&amp;band=Hot"', pool)
    assert 'name="target" value="pool"' in pool
    board = as_member.get("/board?band=Hot").get_data(as_text=True)
    assert "Save this view" in board and 'name="target" value="board"' in board
    views = as_member.get("/views").get_data(as_text=True)
    assert "No saved views yet" in views


def test_filters_naming_what_does_not_exist_or_refused_by_the_page_are_not_saved(as_member, member, admin, stages):
    gone = stage_service.add_stage("Trade shows", "#123456")
    stage_service.delete_stage(gone.id, None, admin.id)
    cases = {f"stage={gone.id}&q=acme": "The stage these filters name no longer exists.",
             "field=nothing&field_value=x": "The field filter is not valid",
             "band=Lukewarm": "The score band “Lukewarm” no longer exists.",
             "min_score=abc": "The min score filter is not valid",
             "sort=nonsense": "The sort filter is not valid",
             "foo=bar&__proto__=1": "which the page does not filter by",
             "https://evil.example/?band=Hot": "which the page does not filter by"}
    for query, message in cases.items():
        refused = save(as_member, "Broken", query)
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), query
    board = save(as_member, "Broken board", "owner=someone", target="board")
    assert board.status_code == 422 and "The owner filter is not valid" in board.get_data(as_text=True)
    assert db.session.scalars(select(SavedView.name)).all() == []


def test_deleting_a_stage_leaves_the_views_on_it_so_a_new_stage_with_its_id_is_not_shown(as_member, member, admin,
                                                                                        stages):
    doomed = stage_service.add_stage("Trade shows", "#123456")
    view = saved_views.save_view(member.id, "Shows", "pool", f"stage={doomed.id}&q=acme")
    stage_service.delete_stage(doomed.id, None, admin.id)
    db.session.expire_all()
    assert db.session.get(SavedView, view.id).query == "stage=deleted&q=acme"
    opened = as_member.get(f"/views/{view.id}")
    assert opened.headers["Location"] == "/leads?q=acme"


def test_a_name_differing_only_in_case_is_the_same_name(as_member, member):
    assert save(as_member, "Hot leads", "q=x").status_code == 302
    again = save(as_member, "HOT LEADS", "q=y")
    assert again.status_code == 422 and "You already have a view called “HOT LEADS”" in again.get_data(as_text=True)
    other = saved_views.save_view(member.id, "Cold", "pool", "q=z")
    renamed = as_member.post(f"/views/{other.id}/rename", {"name": "hot LEADS"})
    assert renamed.status_code == 422 and "There is already a view called" in renamed.get_data(as_text=True)
    assert sorted(db.session.scalars(select(SavedView.name))) == ["Cold", "Hot leads"]
    assert as_member.post(f"/views/{other.id}/rename", {"name": "COLD"}).status_code == 302  # its own name, recased
