"""Jinja filters: how numbers, money and ages read to a person."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Flask

from app.services.custom_fields import display


def money(value) -> str:
    if value is None or value == "":
        return ""
    value = Decimal(value)
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


def age(then: datetime | None, now: datetime) -> str:
    """How long ago, briefly: <1m, 5m, 3h, 2d, 6w."""
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


def when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y, %H:%M UTC") if moment else ""


def custom_value(value, kind: str = "") -> str:
    """A custom field's value as a person reads it (money with separators, Yes/No, options joined)."""
    if kind == "money" and value not in (None, ""):
        return money(value)
    return display(value)


def register(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(custom_value)
    app.add_template_filter(age)
    app.add_template_filter(when)
    app.add_template_filter(lambda n: f"{n:,}", "thousands")
