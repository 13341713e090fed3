"""The pool filtered by country: a select of the countries leads hold, `country=` in the address
(a name or a code), keyset paging through ix_leads_country_created_id."""
import html
import random
import re
from datetime import datetime

import pytest
from sqlalchemy import insert, select, text

from app.extensions import db
from app.models import Lead
from app.services import atomic, search
from app.services.lead_queries import PoolFilters, countries, filtered, pool_order

PER_PAGE = 4


@pytest.fixture
def spread(app, stages):
    """30 leads in Germany, France or nowhere, with tied capture times; ids in no order."""
    rng = random.Random(7)
    moments = [datetime(2026, 1, day, 9, 30) for day in (1, 2, 3)]
    rows = [{"first_name": f"Pat{n}", "last_name": "Ng", "country": rng.choice(["DE", "FR", None]),
             "stage_id": stages["New"].id, "position": n, "version": 1, "created_at": rng.choice(moments),
             "updated_at": moments[0], "stage_entered_at": moments[0]} for n in range(30)]
    with atomic():
        db.session.execute(insert(Lead).execution_options(render_nulls=True), rows)
        search.refresh_all()  # a Core insert passes the ORM's hooks: build the search documents
    return rows


@pytest.fixture
def small_pages(app):
    app.config["PAGE_SIZE"] = PER_PAGE
    yield
    app.config["PAGE_SIZE"] = 50


def row_ids(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="lead-row-(\d+)"', body)]


def next_link(body: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" data-pool-page[^>]*>Next', body)
    return html.unescape(found.group(1)) if found else None


def test_the_filter_lists_the_countries_leads_hold_by_name(spread, as_member):
    assert countries() == ["DE", "FR"]
    body = as_member.get("/leads").get_data(as_text=True)
    select_html = re.search(r'<select id="f-country" name="country">(.*?)</select>', body, re.S).group(1)
    assert re.findall(r'<option value="(\w*)"[^>]*>([^<]+)</option>', select_html) == [
        ("", "Any country"), ("FR", "France"), ("DE", "Germany")]  # by name
    assert '<label for="f-country">Country</label>' in body


def test_paging_through_a_country_shows_each_of_its_leads_once_in_order(spread, as_member, small_pages):
    germans = list(db.session.scalars(filtered(select(Lead.id), PoolFilters(country="DE"), None)
                                      .order_by(*pool_order(PoolFilters(country="DE")))))
    assert len(germans) == sum(r["country"] == "DE" for r in spread) > 2 * PER_PAGE
    url, seen = "/leads?country=germany", []
    response = as_member.get(url)
    assert response.status_code == 200  # a name is read as its code
    body = response.get_data(as_text=True)
    assert re.search(r'<option value="DE" selected>', body)
    while True:
        seen += row_ids(body)
        url = next_link(body)
        if not url:
            break
        assert "country=DE" in url and "after=" in url
        body = as_member.get(url, htmx=True).get_data(as_text=True)
    assert seen == germans


@pytest.mark.parametrize("country", ["Atlantis", "zz"])
def test_a_country_that_is_none_shows_the_pool_with_the_message_beside_the_country(spread, as_member, country):
    response = as_member.get(f"/leads?country={country}&q=pat&min_score=lots")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="lead-table"' in page and "<h1>Leads</h1>" in page
    assert re.search(r'<select id="f-country" name="country" aria-invalid="true" aria-describedby="f-country-error">',
                     page)
    assert re.search(r'<p class="error" id="f-country-error">[^<]+</p>', page)
    assert re.search(r'<p class="error" id="f-min-score-error">Give a whole number', page)
    assert 'name="q" value="pat"' in page and "30 leads" in page  # the other filters are kept
    # The table alone (a change in the filter form): the rows, and the message as a notice.
    fragment = as_member.get(f"/leads?country={country}", htmx=True)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 422 and "<html" not in body and 'id="lead-table"' in body
    assert "The country filter is not valid" in body


def test_the_country_filter_reads_its_index_on_postgresql(spread, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the plan is PostgreSQL's")
    f = PoolFilters(country="DE")
    query = filtered(select(Lead.id), f, None).order_by(*pool_order(f)).limit(PER_PAGE)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    db.session.execute(text("SET enable_seqscan = off"))
    plan = "\n".join(db.session.scalars(text("EXPLAIN " + sql)))
    db.session.rollback()
    assert "ix_leads_country_created_id" in plan
