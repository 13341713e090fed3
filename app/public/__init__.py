from flask import Blueprint

from app.extensions import csrf

# Prospects post capture forms from other websites: there is no session to protect, so no CSRF;
# a honeypot, a minimum fill time and a per-address rate limit keep spam out instead.
bp = Blueprint("public", __name__)
csrf.exempt(bp)

from app.public import appointments, brand, routes, unsubscribe  # noqa: E402,F401
