"""The team's identity: its name, logo, accent colour, currency and From address, set at
/settings/team, shown on the pages prospects see and in every email; bad input refused beside its field."""
from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxEmail, TeamSettings
from app.services.appointments import book_appointment
from app.services.outbox import build_message

BASE = {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": "", "team_name": "Acme Sales",
        "accent_colour": "#0f766e", "currency": "EUR", "mail_from": "hello@acme.example"}


def image(kind: str = "PNG", size: tuple[int, int] = (40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid PNG header claiming a vast 1-bit picture (a decompression bomb's opening)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def save(web, logo: tuple | None = None, **changes):
    data = {**BASE, **changes}
    if logo is not None:
        data["logo"] = logo
    return web.post("/settings/team", data, content_type="multipart/form-data")


def settings() -> TeamSettings:
    db.session.expire_all()
    return db.session.get(TeamSettings, 1)


def test_an_admin_saves_the_teams_identity_and_the_logo_is_served_reencoded(as_admin, web):
    response = save(as_admin, logo=(io.BytesIO(image("JPEG", (1600, 400))), "logo.jpg", "image/jpeg"))
    assert response.status_code == 302, response.get_data(as_text=True)
    row = settings()
    assert (row.team_name, row.accent_colour, row.currency, row.mail_from) == (
        "Acme Sales", "#0f766e", "EUR", "hello@acme.example")
    assert row.logo_type == "image/jpeg" and len(row.logo_version) == 16
    with Image.open(io.BytesIO(row.logo)) as stored:
        assert stored.format == "JPEG" and stored.size == (800, 200)  # scaled down as it was re-encoded

    logo = web.get(f"/brand/logo/{row.logo_version}")
    assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/jpeg" and logo.data == row.logo
    assert "immutable" in logo.headers["Cache-Control"]
    assert "immutable" not in web.get("/brand/logo/old").headers["Cache-Control"]
    style = web.get("/brand/team.css?v=0f766e")
    assert style.headers["Content-Type"].startswith("text/css") and "--accent: #0f766e" in style.get_data(as_text=True)

    # Saving again without a file keeps the logo; ticking "remove" drops it.
    assert save(as_admin).status_code == 302 and settings().logo_version == row.logo_version
    no_file_chosen = (io.BytesIO(b""), "", "application/octet-stream")  # what a browser sends for an empty input
    assert save(as_admin, logo=no_file_chosen).status_code == 302 and settings().logo_version == row.logo_version
    assert save(as_admin, remove_logo="y").status_code == 302 and settings().logo is None
    assert web.get(f"/brand/logo/{row.logo_version}").status_code == 404


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


@pytest.mark.parametrize("changes, logo, field, message", [
    ({"accent_colour": "red"}, None, "accent_colour", "six hex digits"),
    ({"accent_colour": "#12345g"}, None, "accent_colour", "six hex digits"),
    ({"currency": "XYZ"}, None, "currency", "Pick a currency from the list"),
    ({"mail_from": "not an address"}, None, "mail_from", "Enter an email address"),
    ({}, (SVG, "logo.svg", "image/svg+xml"), "logo", "SVG is not accepted"),
    ({}, (b"just some text\n", "logo.png", "image/png"), "logo", "not a PNG, JPEG or WebP"),
    ({}, (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024), "big.png", "image/png"), "logo", "larger than 1 MB"),
    ({}, (b"", "logo.png", "image/png"), "logo", "That file is empty"),  # chosen, but nothing in it: not "saved"
    ({}, (png_claiming(60_000, 60_000), "bomb.png", "image/png"), "logo", "too large to read"),
    ({}, (png_claiming(8_000, 6_000), "wide.png", "image/png"), "logo", "(8,000 × 6,000 pixels)"),
])
def test_bad_identity_input_is_refused_beside_its_field_and_nothing_is_saved(as_admin, changes, logo, field, message):
    response = save(as_admin, logo=(io.BytesIO(logo[0]), *logo[1:]) if logo else None, **changes)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page.split(f'id="{field}-error"')[1].split("</p>")[0]
    row = db.session.get(TeamSettings, 1)
    assert row is None or row.team_name is None


def test_amounts_show_in_the_teams_currency_on_the_pool_board_and_lead_page(app, as_admin, admin, make_lead):
    lead = make_lead(first_name="Lena", value="1200.50", owner=admin)
    make_lead(first_name="Pool", value="3000")
    db.session.commit()
    assert "$1,200.50" in as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert save(as_admin, currency="EUR").status_code == 302
    assert "€1,200.50" in as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "€3,000" in as_admin.get("/leads").get_data(as_text=True)
    board = as_admin.get("/board").get_data(as_text=True)
    assert "€1,200.50" in board and "$" not in board.split("<main", 1)[1].split("</main>")[0]
    assert save(as_admin, currency="JPY").status_code == 302
    assert "¥1,200" in as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)  # no decimals in yen


def test_an_invitation_comes_from_the_owner_at_the_team_with_reply_to_the_owner(app, as_admin, member, make_lead):
    assert save(as_admin, team_name="Acme Sales", mail_from="hello@acme.example").status_code == 302
    lead = make_lead(first_name="Lena", email="lena@example.com", owner=member)
    book_appointment(lead.id, member.id, starts_at=datetime.now(timezone.utc) + timedelta(days=2),
                     duration_minutes=30, location="https://meet.example/acme?room=1&x=<b>")
    db.session.commit()
    row = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "appointment_invite")).one()
    assert row.sender == '"Max Member at Acme Sales" <hello@acme.example>' and row.reply_to == "max@example.com"
    message = build_message(row)
    assert message["From"].addresses[0].display_name == "Max Member at Acme Sales"
    assert message["From"].addresses[0].addr_spec == "hello@acme.example"
    assert message["Reply-To"] == "max@example.com"
    # The meeting link is a link in the email, escaped.
    assert '<a href="https://meet.example/acme?room=1&amp;x=&lt;b&gt;">' in row.html_body
    # An email that is the team's (not a person's) names the team.
    from app.services.email_templates import team_name
    assert team_name() == "Acme Sales"


@pytest.mark.parametrize("location, linked", [("https://zoom.example/j/1", True), ("javascript:alert(1)", False),
                                              ("Office, 2nd floor", False)])
def test_the_location_is_a_link_on_the_public_page_only_when_it_is_a_web_address(
        app, web, member, make_lead, location, linked):
    from app.services.appointment_emails import links
    lead = make_lead(first_name="Pia", email="pia@example.com", owner=member)
    appointment = book_appointment(lead.id, member.id, starts_at=datetime.now(timezone.utc) + timedelta(days=2),
                                   duration_minutes=30, location=location, prospect_timezone="America/New_York")
    db.session.commit()
    page = web.get(urlsplit(links(appointment)["confirm"]).path).get_data(as_text=True)
    assert (f'<a href="{location}"' in page) is linked and location.split(",")[0] in page
    assert "Eastern Time (New York)" in page and "America/New_York" not in page
    assert '<span class="brand-name">' in page


def test_public_pages_show_the_teams_name_logo_and_accent(as_admin, web):
    assert save(as_admin, logo=(io.BytesIO(image("WEBP")), "logo.webp", "image/webp")).status_code == 302
    version = settings().logo_version
    page = web.get("/unsubscribe/not-a-token").get_data(as_text=True)
    assert '<span class="brand-name">Acme Sales</span>' in page
    assert f'src="/brand/logo/{version}"' in page and 'href="/brand/team.css?v=0f766e"' in page
    assert web.get(f"/brand/logo/{version}").headers["Content-Type"] == "image/webp"


def test_the_lead_page_reads_times_in_one_zone_and_books_in_the_leads_country_zone(as_member, member, make_lead):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "America/New_York")
    lead = make_lead(first_name="Lena", email="lena@example.com", country="DE", owner=member)
    starts = (datetime.now(timezone.utc) + timedelta(days=30)).replace(hour=14, minute=0, second=0, microsecond=0)
    book_appointment(lead.id, member.id, starts_at=starts, duration_minutes=30, prospect_timezone="Europe/Berlin")
    local = starts.astimezone(ZoneInfo("America/New_York"))
    db.session.commit()
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Times on this page are in Eastern Time (New York)." in page and " UTC<" not in page
    # The booking on the timeline reads in the reader's zone too, not the prospect's.
    assert (f"Booked an appointment: {local:%A} {local.day} {local:%B %Y}, {local:%H:%M}–{local:%H}:30, "
            "Eastern Time (New York).") in page
    assert re.search(r"<input[^>]*name=\"timezone\"[^>]*value=\"Europe/Berlin\"", page), re.findall(r"<input[^>]*name=\"timezone\"[^>]*>", page)
    options = as_member.get("/leads/timezones?v=1").get_data(as_text=True)
    assert '<option value="Europe/Berlin" label="Central European Time (Berlin)">' in options
    assert 'value="US/Eastern"' not in options  # old aliases are not offered


def test_an_invitation_email_names_the_team_with_its_logo_and_accent(as_admin):
    assert save(as_admin, logo=(io.BytesIO(image("PNG")), "logo.png", "image/png")).status_code == 302
    version = settings().logo_version
    assert as_admin.post("/settings/invitations", {"email": "kim@example.com", "role": "member"}).status_code == 302
    [email] = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "account_invitation")).all()
    assert email.subject == "Ada Admin invited you to join Acme Sales on Leadboard"
    assert "invited you to join Acme Sales on Leadboard" in email.text_body
    assert "invited you to join Acme Sales on Leadboard" in email.html_body
    assert f"/brand/logo/{version}" in email.html_body and "border-top:4px solid #0f766e" in email.html_body


def test_an_invitation_from_a_team_not_named_yet_does_not_say_leadboard_twice(as_admin):
    assert as_admin.post("/settings/invitations", {"email": "kim@example.com", "role": "member"}).status_code == 302
    [email] = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "account_invitation")).all()
    assert email.subject == "Ada Admin invited you to join Leadboard"
    assert "invited you to join Leadboard." in email.text_body and "Leadboard on Leadboard" not in email.text_body
    assert "invited you to join Leadboard." in email.html_body and "Leadboard on Leadboard" not in email.html_body
