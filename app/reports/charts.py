"""A horizontal bar chart as numbers an SVG template draws: no styles, only geometry and classes."""
from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 190  # the category names, right-aligned before the bars
VALUE_WIDTH = 110  # the value printed after each bar
BAR_HEIGHT = 22
GAP = 8
MAX_BARS = 20  # a chart longer than this is unreadable; the table beside it has every row


@dataclass(frozen=True)
class Bar:
    y: int
    width: float
    label: str
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bar_x: int
    text_y_offset: int
    bars: list[Bar]
    shown: int
    total: int


def bar_chart(items: list[tuple[str, float | None, str]]) -> Chart:
    """items: (label, value, value as text); a None value draws no bar but keeps its row."""
    total = len(items)
    items = items[:MAX_BARS]
    top = max((v for _, v, _ in items if v is not None and v > 0), default=0)
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 10
    bars = []
    for i, (label, value, text) in enumerate(items):
        width = round(span * float(value) / float(top), 1) if top and value and value > 0 else 0
        bars.append(Bar(y=i * (BAR_HEIGHT + GAP), width=max(width, 1 if value else 0),
                        label=label if len(label) <= 28 else label[:27] + "…", text=text))
    height = max(len(bars) * (BAR_HEIGHT + GAP) - GAP, BAR_HEIGHT)
    return Chart(width=WIDTH, height=height, bar_x=LABEL_WIDTH + 10, text_y_offset=BAR_HEIGHT // 2 + 5,
                 bars=bars, shown=len(bars), total=total)
