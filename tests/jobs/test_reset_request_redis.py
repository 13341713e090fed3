"""A password-reset request for an address with no account costs the same Redis round trip as one
for an address with an account (whose email is enqueued after its commit): a slow or hanging Redis
must not make the known address's answer the slower one, which would tell the two apart."""
import pytest

from app.services import accounts

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        yield app


def _connections(redis) -> int:
    return redis.info("stats")["total_connections_received"]


def test_an_unknown_address_touches_redis_as_a_known_one_does(app, redis, member):
    before = _connections(redis)
    accounts.request_password_reset(member.email)
    known = _connections(redis) - before  # our own INFO reuses its connection
    before = _connections(redis)
    accounts.request_password_reset("nobody-here@example.com")
    unknown = _connections(redis) - before
    assert known >= 1, "the known address's email was not enqueued"
    assert unknown == known
