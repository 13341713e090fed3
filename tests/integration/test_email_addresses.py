"""Recipients survive header folding: however long or odd a display name is, the To header of the
bytes on the wire parses back to exactly one address, the one we meant, with the name intact."""
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.policy import SMTP, compat32, default
from email.utils import getaddresses

import pytest

from app.services import atomic, outbox
from tests.conftest import SmtpSink, serving

NAMES = [
    "Lena Lindqvist",
    "Smith, John",
    ("Smith, John " * 10).strip(),
    ("Smith, John " * 10 + "Åsa Öberg-Ångström").strip(),
    'Dr. "Doc" O\'Brien (Sales) <boss@evil.example>, Eve; x@y.example ' * 3,
    "Ünïcødé " * 24,
]


def addresses_in(raw: bytes, header: str) -> list[tuple[str, str]]:
    """(name, address) pairs as a reader that follows RFC 2047 sees them: the header taken whole,
    split into addresses, and each name's encoded words decoded."""
    value = BytesParser(policy=compat32).parsebytes(raw)[header]
    return [(str(make_header(decode_header(name))), address) for name, address in getaddresses([value])]


class RawSmtpSink(SmtpSink):
    """The SMTP sink, keeping each message's bytes as they came over the wire too."""

    def __init__(self):
        super().__init__()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content or envelope.content)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def raw_smtp_server():
    """A real SMTP server on loopback that keeps the raw bytes it received."""
    yield from serving(RawSmtpSink())


def queued(to_name: str, to_address: str = "john@example.com"):
    with atomic():
        return outbox.queue_email(kind="test", to_address=to_address, to_name=to_name, subject="Hello",
                                  text_body="Hello", html_body="<p>Hello</p>")


@pytest.mark.parametrize("name", NAMES)
def test_a_long_or_odd_display_name_never_turns_into_another_address(app, name):
    row = queued(name)

    raw = outbox.build_message(row).as_bytes(policy=SMTP)

    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head.decode()
    assert addresses_in(raw, "To") == [(" ".join(name.split())[:200], "john@example.com")]
    parsed = BytesParser(policy=default).parsebytes(raw)  # the email package reads one address too
    assert [a.addr_spec for a in parsed["To"].addresses] == ["john@example.com"]


def test_recipients_named_smith_comma_john_ten_times_each_receive_one_email_addressed_to_them(
        make_app, raw_smtp_server):
    app = make_app(SMTP_URL=raw_smtp_server.url, MAIL_FROM='"Acme Sales, Berlin" <sales@acme.example>')
    names = [("Smith, John " * 10).strip(), ("Smith, John " * 10 + "Åsa Öberg").strip()]
    with app.app_context():
        for n, name in enumerate(names):
            row = queued(name, f"john{n}@example.com")
            assert outbox.deliver(row.id).outcome == "sent"

    raw_smtp_server.wait_for(2)
    for n, (name, raw) in enumerate(zip(names, raw_smtp_server.raw)):
        assert addresses_in(raw, "To") == [(name, f"john{n}@example.com")]
        assert addresses_in(raw, "From") == [("Acme Sales, Berlin", "sales@acme.example")]
        assert [a.addr_spec for a in raw_smtp_server.messages[n]["To"].addresses] == [f"john{n}@example.com"]
