"""A horizontal bar chart as numbers a template draws: each bar's length as a share of the longest,
its label and its value as text. The template lays the rows out in HTML (label, bar, value; at phone
width the label above its bar), so the text keeps its size at any width and nothing scrolls sideways;
each bar is a tiny SVG stretched to its track, its length an attribute (the CSP forbids styles)."""
from __future__ import annotations

from dataclasses import dataclass

MAX_BARS = 20  # a chart longer than this is unreadable; the table beside it has every row


@dataclass(frozen=True)
class Bar:
    share: float  # the bar's length, 0 to 100 (% of the track)
    label: str
    text: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    shown: int
    total: int


def bar_chart(items: list[tuple[str, float | None, str]]) -> Chart:
    """items: (label, value, value as text); a None value draws no bar but keeps its row."""
    total = len(items)
    items = items[:MAX_BARS]
    top = max((v for _, v, _ in items if v is not None and v > 0), default=0)
    bars = []
    for label, value, text in items:
        share = round(100 * float(value) / float(top), 1) if top and value and value > 0 else 0
        bars.append(Bar(share=max(share, 0.5 if value else 0), label=label, text=text))
    return Chart(bars=bars, shown=len(bars), total=total)
