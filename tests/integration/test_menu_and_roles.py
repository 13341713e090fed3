"""The layout is told which menu entry is current, and the team page which role each person has:
the templates compare what they are given and check no endpoint name or role themselves."""
import re

import pytest

from app.extensions import db
from app.models import User


def current_entry(body: str) -> list[str]:
    # The bell sits beside the brand, outside the Menu (one tap away on a phone); its link starts
    # with its icon, then its label.
    menu = re.search(r'<header class="topbar">(.*?)</header>', body, re.S).group(1)
    return re.findall(r'<a (?:class="[^"]*" )?href="[^"]*" aria-current="page">'
                      r'(?:<svg.*?</svg><span class="bell-label">)?([^<]*)', menu)


@pytest.mark.parametrize("url, entry", [
    ("/board", "Board"), ("/leads", "Leads"), ("/notifications", "Notifications"), ("/outbox", "Outbox"),
    ("/settings/team", "Team settings"), ("/settings/stages", "Stages"), ("/settings/users", "People"),
    ("/settings/forms", "Forms"), ("/settings/forms/new", "Forms"), ("/settings/api-keys", "API keys"),
    ("/settings/sla", "Response targets"), ("/settings/sequences", "Sequences"),
])
def test_the_menu_marks_the_entry_of_the_page_it_is_on(as_admin, stages, url, entry):
    assert current_entry(as_admin.get(url).get_data(as_text=True)) == [entry]


def test_a_stage_edit_page_belongs_to_stages_and_an_account_page_to_no_entry(as_admin, stages):
    assert current_entry(as_admin.get(f"/settings/stages/{stages['Won'].id}/edit").get_data(as_text=True)) \
        == ["Stages"]
    assert current_entry(as_admin.get("/account").get_data(as_text=True)) == []


def test_each_settings_page_has_one_name_in_the_menu_and_on_the_page(as_admin, member):
    """"Team" (the people) beside "Team settings" read as one page under two names: the people are People."""
    body = as_admin.get("/settings/users").get_data(as_text=True)
    menu = dict(re.findall(r'<li><a href="(/settings/[a-z-]+)"[^>]*>([^<]*)</a></li>',
                           re.search(r'<header class="topbar">(.*?)</header>', body, re.S).group(1)))
    assert (menu["/settings/users"], menu["/settings/team"]) == ("People", "Team settings")
    assert "Team" not in menu.values() and len(set(menu.values())) == len(menu)
    assert "<title>People" in body and "<h1>People</h1>" in body
    assert "<h1>Team settings</h1>" in as_admin.get("/settings/team").get_data(as_text=True)
    assert '/settings/users">People</a>' in as_admin.get(f"/settings/users/{member.id}/deactivate").get_data(as_text=True)
    assert '/settings/users">Back to People</a>' in \
        as_admin.get(f"/settings/users/{member.id}/availability").get_data(as_text=True)


def test_the_team_page_shows_each_persons_role_selected(as_admin, admin, member):
    body = as_admin.get("/settings/users").get_data(as_text=True)
    for user, role in ((admin, "admin"), (member, "member")):
        select = re.search(rf'<select id="role-{user.id}" name="role">(.*?)</select>', body, re.S).group(1)
        options = re.findall(r'<option([^>]*)>', select)
        assert [re.search(r'value="(\w+)"', o).group(1) for o in options if " selected" in o] == [role]
    assert as_admin.post(f"/settings/users/{member.id}/role", {"role": "admin"}).status_code == 302
    assert db.session.get(User, member.id).role == "admin"


def test_the_settings_menu_groups_every_admin_page_under_a_titled_list(as_admin):
    """Sixteen settings links in one flat list were hard to scan (issue 16): each group has a title
    that labels its list, and every page keeps its link and its name."""
    body = as_admin.get("/board").get_data(as_text=True)
    menu = re.search(r'<ul class="nav-groups">(.*?)</details>', body, re.S).group(1)
    groups = re.findall(r'<span class="nav-group-title" id="(nav-group-[a-z-]+)">([^<]*)</span>\s*'
                        r'<ul aria-labelledby="([a-z-]+)">(.*?)</ul>', menu, re.S)
    found = {title: re.findall(r'<a href="[^"]*"[^>]*>([^<]*)</a>', links) for _, title, _, links in groups}
    assert all(gid == labelled for gid, _, labelled, _ in groups)
    assert found == {
        "Team &amp; people": ["Team settings", "People"],
        "Pipeline": ["Stages", "Fields", "Tags", "Scoring", "Automations"],
        "Capture": ["Forms", "Assignment"],
        "Follow-up": ["Response targets", "Email templates", "Sequences", "Suppression list"],
        "Integrations": ["API keys", "Webhooks"],
        "Data": ["Audit log", "Trash", "Outbox"],
    }
