"""Every NOC page in Indonesian (real Chromium, locale id-ID, live simulated fleet): no English
word of the list below in its visible text, placeholders or labels; the pages of the admin and
budget area are never wider than a 390 px phone or a 1400 px desktop."""

from __future__ import annotations

import re
from typing import Any

from noc_live import Live, login, shot

# Words an Indonesian operator must not meet (whole words, any case). Loan words Indonesian
# uses as they are (Online, Offline, Node, Admin, Operator, Status, Data, Menu, RTT) are fine.
ENGLISH = [
    "gaps", "agent", "time", "rx", "tx", "limit", "info", "warning", "critical", "error",
    "uplink_trouble", "fibre outage", "set_throttle", "applied", "throughput", "loss", "park",
    "office", "users", "user", "accounts", "account", "settings", "budget", "fleet", "save",
    "log out", "log in", "password", "site", "sites", "role", "viewer", "download", "period",
    "daily", "monthly", "idle", "peak", "contract", "cost", "flags", "filter", "action",
    "target", "who", "when", "events", "charts", "command", "send", "throttle", "throttled",
    "failover", "failback", "resync", "kind", "state", "since", "degraded", "unregistered",
    "no data", "yes", "no", "back", "invalid", "not found", "total", "month", "show", "previous",
    "next", "page", "records", "details", "enabled", "disabled", "add", "new", "coordinates",
    "latitude", "longitude", "uplinks", "backup", "alerts", "live", "range", "none", "null",
    "undefined", "nan", "true", "false", "login", "logout", "user.create", "setting.change",
    "/api/v1", "1h", "24h", "7d", "30d", "h ago", "min ago", "just now",
]
_WORDS = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![\w-])",
                    re.IGNORECASE)
OWN_PAGES = ["/noc/budget", "/noc/users", "/noc/audit", "/noc/settings"]
SIZES = [(390, 844), (1400, 900)]

VISIBLE_TEXT = """() => {
  // what people typed (account names) is data, not the NOC's words; the switch names English
  const mine = '#lang-switch, script, style, .uname, [data-col="who"]';
  let text = document.body.innerText;
  for (const el of document.querySelectorAll(mine)) {
    if (el.innerText) text = text.split(el.innerText).join(' ');
  }
  const parts = [text];
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], option')) {
    if (el.closest(mine)) continue;
    for (const a of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(a)) parts.push(el.getAttribute(a));
    if (el.tagName === 'OPTION') parts.push(el.textContent);
  }
  return parts.join('\\n');
}"""


def english_in(page: Any) -> list[str]:
    """The English words of the list in the page's visible text, each with its context."""
    text = page.evaluate(VISIBLE_TEXT)
    return sorted({f"{m.group(1).lower()}: …{text[max(0, m.start() - 25):m.end() + 25]}…"
                   for m in _WORDS.finditer(text)})


def overflow(page: Any) -> int:
    """How many CSS px the page is wider than the viewport (0 = fits)."""
    return int(page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"))


def test_every_page_is_indonesian(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "admin", locale="id-ID")
    found: dict[str, list[str]] = {}
    try:
        pages = ["/noc/", f"/noc/nodes/{live.victim}", *OWN_PAGES, "/noc/nodes/no-such-node",
                 "/noc/no-such-page", "/noc/audit?from=kemarin"]
        for path in pages:
            page.goto(live.url + path)
            page.wait_for_load_state("networkidle")
            if path.startswith("/noc/nodes/diskominfo"):
                page.wait_for_selector("#chart-throughput canvas")  # legends drawn too
            assert page.get_attribute("html", "lang") == "id", path
            found[path] = english_in(page)
        page.context.clear_cookies()
        page.goto(f"{live.url}/noc/login?next=/noc/budget")
        found["/noc/login"] = english_in(page)
    finally:
        ctx.close()
    assert {p: w for p, w in found.items() if w} == {}


def test_admin_and_budget_pages_fit_phone_and_desktop(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "admin", locale="id-ID")
    wide: dict[str, int] = {}
    try:
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for path in [*OWN_PAGES, "/noc/nodes/no-such-node"]:
                page.goto(live.url + path)
                page.wait_for_load_state("networkidle")
                wide[f"{path}@{width}"] = overflow(page)
                if width == 390:
                    shot(page, "phone-" + path.strip("/").replace("/", "-"))
        page.context.clear_cookies()
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{live.url}/noc/login")
            wide[f"/noc/login@{width}"] = overflow(page)
    finally:
        ctx.close()
    assert {k: v for k, v in wide.items() if v > 0} == {}


def test_dark_theme_follows_the_browser(browser: Any, live: Live) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        ctx = browser.new_context(locale="id-ID", color_scheme=scheme)
        try:
            page = ctx.new_page()
            page.goto(f"{live.url}/noc/login")
            colours[scheme] = page.evaluate("""() => [document.body, document.querySelector('.card')]
                .map(el => getComputedStyle(el).backgroundColor)""")
            if scheme == "dark":
                shot(page, "login-dark")
        finally:
            ctx.close()

    def light(rgb: str) -> float:
        r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    assert all(light(c) > 0.8 for c in colours["light"]), colours
    assert all(light(c) < 0.2 for c in colours["dark"]), colours
