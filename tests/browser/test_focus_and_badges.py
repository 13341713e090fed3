"""Focus you can see (a 3:1 ring on every control, kept in forced-colours mode) and badges that say
what they mean without colour and never share a colour across meanings."""
from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

from playwright.sync_api import expect

from app.models.appointment import STATUS_LABELS
from tests.browser.conftest import sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# What the focused element's ring looks like, and the colour it sits on: outline-offset puts the ring
# outside the element, on its nearest ancestor with a background.
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  let behind = el.parentElement, bg = "rgba(0, 0, 0, 0)";
  while (behind) {
    bg = getComputedStyle(behind).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(bg) && bg !== "transparent") break;
    behind = behind.parentElement;
  }
  if (!behind) bg = "rgb(255, 255, 255)";
  return {tag: el.tagName, text: (el.textContent || el.name || el.id || "").trim().slice(0, 40),
          style: style.outlineStyle, width: parseFloat(style.outlineWidth), colour: style.outlineColor, behind: bg};
}"""


def rgb(colour: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", colour)[:3])


def contrast(a: str, b: str) -> float:
    def luminance(c):
        channels = [v / 255 for v in rgb(c)]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def tab_through(page, presses: int) -> list[dict]:
    """What each Tab press focused (past the last control focus leaves the page: not counted)."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))
    return [f for f in seen if f["tag"] != "BODY"]


def test_every_control_tabbed_to_shows_a_ring_with_three_to_one_contrast(seeded, new_page):
    seeded.lead("Fiona", "Focus", company="Ring Ltd")
    for viewport in ({"width": 1280, "height": 800}, {"width": 375, "height": 812}):
        page = new_page(viewport=viewport)
        sign_in(page, seeded.admin)
        page.goto("/leads")
        focused = tab_through(page, 30)  # the skip link, the dark top bar, then the pool's filters and table
        assert len(focused) >= 20
        assert any(f["behind"] == "rgb(15, 23, 42)" for f in focused), focused  # the top bar was crossed
        for f in focused:
            assert f["style"] == "solid" and f["width"] >= 3, f
            assert contrast(f["colour"], f["behind"]) >= 3, f


def test_the_public_form_shows_the_same_ring(seeded, new_page):
    from app.services import capture_forms
    with seeded.live.db():
        form = capture_forms.create_form(capture_forms.FormSettings(name="Contact us", fields={"email": "required"}))
        slug = form.slug
    page = new_page()
    page.goto(f"/f/{slug}")
    focused = tab_through(page, 3)
    assert any(f["tag"] == "INPUT" for f in focused), focused
    for f in focused:
        assert f["style"] == "solid" and f["width"] >= 3 and contrast(f["colour"], f["behind"]) >= 3, f


def test_the_focus_ring_survives_forced_colours(seeded, new_page):
    page = new_page()
    page.emulate_media(forced_colors="active")
    sign_in(page, seeded.admin)
    page.goto("/leads")
    for f in tab_through(page, 12):
        assert f["style"] == "solid" and f["width"] >= 3, f
    page.goto("/login")  # and signed out
    assert all(f["style"] == "solid" and f["width"] >= 3 for f in tab_through(page, 3))


# Every badge kind: its classes, and the words it shows. A badge class added to a template that is not
# here fails test_every_badge_class_in_the_templates_is_in_the_list.
BADGES = {"Pool": "pool-tag", "Stale": "stale-badge", "Bounced": "bounce-badge",
          **{label: f"appt-badge appt-{status}" for status, label in STATUS_LABELS.items()},
          "On track": "sla-badge sla-running", "Due soon": "sla-badge sla-due_soon", "Overdue": "sla-badge sla-breached"}
# Coloured by the team's own choices (stage colour, score band), not by what they mean here.
USER_COLOURED = {"stage-badge", "score-badge"}


def test_every_badge_class_in_the_templates_is_in_the_list():
    found = set()
    for path in TEMPLATES.rglob("*.html"):
        for classes in re.findall(r'class="([^"]*)"', path.read_text()):
            found |= {c for c in classes.split() if c.endswith("-badge") or c == "pool-tag"}
    listed = {c for classes in BADGES.values() for c in classes.split()} | USER_COLOURED
    assert found <= listed, found - listed


def test_each_badge_meaning_has_its_own_colours_and_a_cue_besides_colour(admin_page):
    page = admin_page
    page.goto("/board")
    styles = page.evaluate("""(badges) => {
      const host = document.createElement("p");
      document.querySelector("main").append(host);
      const out = {};
      for (const [label, classes] of Object.entries(badges)) {
        const badge = document.createElement("span");
        badge.className = classes; badge.textContent = label; host.append(badge);
        const s = getComputedStyle(badge), before = getComputedStyle(badge, "::before");
        out[label] = {colour: s.color, background: s.backgroundColor, border: s.borderTopStyle + " " + s.borderTopColor,
                      line: s.textDecorationLine, mark: before.content};
      }
      return out;
    }""", BADGES)
    assert styles["Pool"]["background"] != styles["Awaiting answer"]["background"]
    for (a, sa), (b, sb) in combinations(styles.items(), 2):
        assert sa["background"] != sb["background"], (a, b, sa["background"])
        assert (sa["colour"], sa["border"]) != (sb["colour"], sb["border"]), (a, b)
    for label, s in styles.items():
        # Beyond its words and colour, each badge has a border, a mark or a line through it.
        assert s["border"].split()[0] != "none" or s["mark"] not in ("none", "normal") or s["line"] != "none", label
    cues = {(s["border"].split()[0], s["mark"], s["line"]) for s in styles.values()}
    assert len(cues) == len(styles), styles  # and no two share the same non-colour cue
    for label, s in styles.items():
        assert contrast(s["colour"], s["background"]) >= 4.5, (label, s)
    expect(page.locator("main p").last).to_contain_text("Awaiting answer")
