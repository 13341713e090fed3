"""The team's logo and accent colour for the pages prospects see and the emails they get. Each is
asked for by an address that names its content (the logo's digest, the colour), so browsers and
mail clients may keep it for a year; an old address still answers, briefly cached."""
from __future__ import annotations

from flask import abort, request

from app.public import bp
from app.services import team_settings

FOREVER = "public, max-age=31536000, immutable"
BRIEFLY = "public, max-age=300"


@bp.get("/brand/logo/<digest>")
def team_logo(digest: str):
    logo = team_settings.logo()
    if logo is None:
        abort(404)
    return logo.content, 200, {"Content-Type": logo.content_type, "ETag": f'"{logo.version}"',
                               "Cache-Control": FOREVER if digest == logo.version else BRIEFLY,
                               "Content-Disposition": "inline", "Cross-Origin-Resource-Policy": "cross-origin"}


@bp.get("/brand/team.css")
def team_style():
    """The accent colour as CSS variables for public.css, with a text colour readable on it."""
    accent = team_settings.identity().accent or team_settings.DEFAULT_ACCENT
    body = (f":root {{ --accent: {accent}; --accent-text: {team_settings.text_on(accent)}; "
            f"--accent-dark: {team_settings.darker(accent)}; }}\n")
    cached = FOREVER if request.args.get("v") == accent.lstrip("#") else BRIEFLY
    return body, 200, {"Content-Type": "text/css; charset=utf-8", "Cache-Control": cached}
