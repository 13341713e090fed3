"""The bytes a batch sends are written directly (outbox.message_bytes), not by the email package:
for every kind of row they cover they are exactly what smtplib's send_message writes for
build_message(row), envelope sender included; any other row is left to the email package."""
import io
import random
from email.generator import BytesGenerator
from email.utils import getaddresses

import pytest

from app.models import OutboxEmail
from app.services import outbox

NURTURE = ("<p>Hello {name},</p><p>" + "Here is what teams like yours did with their leads this month. " * 12
           + "</p><p>Best regards,<br>The team</p>")
NAMES = ["Prospect No. 5", "Smith, John", ("Smith, John " * 10).strip(), "Åsa Öberg-Ångström", "Ünïcødé " * 24,
         'Dr. "Doc" O\'Brien (Sales) <boss@evil.example>, Eve; x@y.example', ""]
SUBJECTS = ["Three ideas for your pipeline", "Ideas for Åsa", "A subject " * 12, "=?utf-8?q?already_encoded?=",
            'Re: [Leads] (3) <you> "quoted" & more: a;b,c', "Tab\tand  two  spaces", ""]
BODIES = [
    ("Hello,\nshort ASCII lines.\n", "<p>Hello</p>"),
    (NURTURE.format(name="Åsa"), NURTURE.format(name="Åsa")),  # one long line: quoted-printable
    ("Grüße\n" * 30, "<p>" + "Ünïcødé ✓ " * 40 + "</p>"),  # short non-ASCII lines (8bit); base64-worthy
    ("windows\r\nline\rends\r\n.\nFrom the start\n", "<p>x</p>\n" + "y" * 200 + "\n" * 12),
    ("", ""),
]
SENDERS = ["Acme Sales <sales@acme.example>", '"Max Member at Leadboard" <leadboard@localhost>',
           '"Åsa at Acme, Berlin" <team@acme.example>', "plain@acme.example"]
EXTRA = [None, {"List-Unsubscribe": "<https://crm.example/u/" + "t0ken" * 20 + ">",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
         {"List-Unsubscribe": "<https://crm.example/u/" + "x" * 1200 + ">"}, {"X-Note": "Grüße"}]


def row(**values) -> OutboxEmail:
    fields = dict(kind="nurture", sender=SENDERS[0], to_address="p5@example.com", to_name=NAMES[0], reply_to=None,
                  subject=SUBJECTS[0], text_body=BODIES[0][0], html_body=BODIES[0][1], attachments=[],
                  message_id="<170000000000.12345.6789012345678901234@acme.example>",
                  date_header="Thu, 03 Dec 2026 19:33:04 GMT", extra_headers=None)
    return OutboxEmail(**{**fields, **values})


def as_smtplib_sends(message) -> tuple[str, bytes]:
    """What smtplib.SMTP.send_message hands to sendmail for this message (no Bcc, ASCII addresses)."""
    sender = getaddresses([message["From"]])[0][1]
    out = io.BytesIO()
    BytesGenerator(out).flatten(message, linesep="\r\n")
    return sender, out.getvalue()


def both(email: OutboxEmail, seed: int = 7):
    """message_bytes and the email package's bytes, each making its boundary from the same random state."""
    random.seed(seed)
    direct = outbox.message_bytes(email)
    random.seed(seed)
    return direct, as_smtplib_sends(outbox.build_message(email))


CASES = ([dict(to_name=name) for name in NAMES] + [dict(subject=subject) for subject in SUBJECTS]
         + [dict(text_body=text, html_body=html) for text, html in BODIES]
         + [dict(sender=sender) for sender in SENDERS] + [dict(extra_headers=extra) for extra in EXTRA]
         + [dict(kind="lead_email", reply_to="max@example.com"), dict(kind="appointment_invite"),
            dict(date_header="Mon, 01 Jan 2024 00:00:00 -0000"), dict(date_header="not a date"),
            dict(message_id="<a.b@c>"), dict(message_id="<odd id@x>"), dict(message_id="<" + "1" * 70 + "@x.example>")])


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_the_bytes_sent_are_the_email_packages_byte_for_byte(case):
    direct, package = both(row(**case))

    assert direct == package


def test_mixed_rows_come_out_byte_for_byte_as_well():
    chooser = random.Random(13)
    for n in range(60):
        text, html = chooser.choice(BODIES)
        email = row(to_name=chooser.choice(NAMES), subject=chooser.choice(SUBJECTS), text_body=text, html_body=html,
                    sender=chooser.choice(SENDERS), extra_headers=chooser.choice(EXTRA),
                    reply_to=chooser.choice([None, "max@example.com"]), kind=chooser.choice(["nurture", "lead_email"]))
        direct, package = both(email, seed=n)
        assert direct == package, n


def test_rows_outside_the_usual_shape_are_left_to_the_email_package():
    attachment = {"filename": "a.txt", "content_type": "text/plain", "content": "hi"}
    assert outbox.message_bytes(row(attachments=[attachment])) is None
    assert outbox.message_bytes(row(to_address="åsa@example.com")) is None
    assert outbox.message_bytes(row(sender="Not an address")) is None


def test_a_header_that_cannot_be_written_fails_as_in_the_email_package():
    with pytest.raises(ValueError):
        outbox.build_message(row(subject="two\nlines"))
    with pytest.raises(ValueError):
        outbox.message_bytes(row(subject="two\nlines"))


@pytest.mark.parametrize("text", [plain for plain, _ in BODIES] + [html for _, html in BODIES])
def test_the_fallback_for_the_email_packages_private_text_encoder_gives_its_answer(text):
    """outbox leans on email.contentmanager._encode_text where Python has it; without it, reading the
    same answer off a part set_content made must give the same encoding and bytes."""
    from email.contentmanager import _encode_text
    from email.policy import SMTP
    assert outbox._encode_text_by_set_content(text, "utf-8", None, SMTP) == _encode_text(text, "utf-8", None, SMTP)
