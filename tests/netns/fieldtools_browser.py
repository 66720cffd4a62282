"""Run INSIDE the LAN client namespace (a phone on the node's Wi-Fi): open the status page in
real headless Chromium, save a screenshot, print what the page shows as one JSON line.

    ip netns exec <client> python tests/netns/fieldtools_browser.py URL SCREENSHOT.png
"""

from __future__ import annotations

import json
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rows(page: object, section: str) -> list[str]:
    """Each row of one section as 'label<TAB>value'."""
    return [t.strip() for t in page.locator(f"#{section} tr").all_inner_texts()]  # type: ignore[attr-defined]


def main() -> int:
    """Open the page in Indonesian (the default), then switch to English."""
    url, shot = sys.argv[1], sys.argv[2]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 412, "height": 915}, locale="id-ID")
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            resp = page.goto(url, wait_until="load", timeout=15000)
            out = {
                "status": resp.status if resp else None,
                "csp": (resp.headers.get("content-security-policy") if resp else None),
                "lang": page.get_attribute("html", "lang"),
                "title": page.title(),
                "headline": page.inner_text("#headline").strip(),
                "sections": page.locator("h2").all_inner_texts(),
                "uplinks": rows(page, "uplinks"),
                "users": rows(page, "users"),
                "refresh": page.get_attribute('meta[http-equiv="refresh"]', "content"),
                "value_font_px": page.eval_on_selector(
                    "td.v", "e => parseFloat(getComputedStyle(e).fontSize)"),
                "scripts": page.locator("script").count(),
                "overflow_x": page.evaluate(
                    "document.documentElement.scrollWidth > window.innerWidth"),
            }
            page.screenshot(path=shot, full_page=True)
            page.click("a.lang")
            page.wait_for_load_state("load")
            out["en_lang"] = page.get_attribute("html", "lang")
            out["en_sections"] = page.locator("h2").all_inner_texts()
            out["en_uplinks"] = rows(page, "uplinks")
            out["errors"] = errors
        finally:
            browser.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
