"""Health checks for supervisors and load balancers: /livez (the process answers), /readyz (it can
serve: the database answers), beside /healthz (every dependency, for monitoring)."""


def test_livez_and_readyz_answer_ok_without_signing_in(make_app):
    client = make_app().test_client()
    live, ready = client.get("/livez"), client.get("/readyz")
    assert (live.status_code, live.json) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json) == (200, {"status": "ok"})
    assert ready.headers["Cache-Control"] == "no-store"


def test_a_redis_outage_keeps_the_process_ready_but_healthz_reports_it(make_app):
    client = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client()
    assert client.get("/readyz").status_code == 200  # pages work without Redis: stay in rotation
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["down"] == ["redis"]


def test_a_database_outage_makes_the_process_unready_but_alive(make_app):
    make_app()  # this test's own database, emptied afterwards as usual
    client = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/nothing").test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["status"] == "error"
    assert client.get("/livez").status_code == 200


def test_probes_are_not_rate_limited_as_healthz_is(make_app):
    client = make_app(RATELIMIT_ENABLED=True).test_client()
    assert all(client.get("/readyz").status_code == 200 for _ in range(150))
    assert all(client.get("/livez").status_code == 200 for _ in range(150))
    assert [client.get("/healthz").status_code for _ in range(125)].count(429) == 5
