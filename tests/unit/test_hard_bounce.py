"""Which SMTP refusals mark a prospect's address undeliverable (and suppress it): only those that
name the address, never our relay's own refusal, which would mark a whole batch at once."""
import smtplib

import pytest

from app.services.outbox import hard_bounce


def rcpt(code: int, text: str) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({"ann@example.com": (code, text.encode())})


@pytest.mark.parametrize("refusal, bounced", [
    (rcpt(550, "5.1.1 <ann@example.com>: no such user"), True),
    (rcpt(550, "5.1.10 Recipient address has null MX"), True),
    (rcpt(550, "No such user here"), True),  # an old server without enhanced status codes
    (rcpt(550, "Relaying denied"), False),  # our relay's settings: every recipient would get it
    (rcpt(554, "5.7.1 Relay access denied"), False),
    (rcpt(550, "5.4.1 Recipient address rejected: Access denied"), False),
    (rcpt(552, "5.2.2 Mailbox full"), False),
    (rcpt(450, "4.2.1 Mailbox busy"), False),
    (smtplib.SMTPDataError(550, b"5.1.1 mailbox unavailable"), True),
    (smtplib.SMTPDataError(554, b"5.6.0 Message content rejected"), False),
    (smtplib.SMTPDataError(550, b"Message rejected"), False),
    (smtplib.SMTPSenderRefused(550, b"5.1.8 Bad sender", "team@example.com"), False),
])
def test_only_a_refusal_naming_the_address_is_a_hard_bounce(refusal, bounced):
    assert (hard_bounce(refusal) is not None) == bounced
