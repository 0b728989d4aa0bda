"""Open dashboards in headless Chromium and report what every chart holder shows.

Runs in *Superset's* virtualenv (selenium lives there), as a script; it imports nothing of the
project: ``<superset venv>/bin/python bi/browser_check.py SPEC.json`` with
``{"url", "session_cookie", "slugs", "screens", "timeout"}``; prints one JSON object per line:
``{"slug", "charts", "rendered", "alerts", "empty", "tables", "seconds", "screenshot"}`` (``tables``: the
header and the rows shown, up to 200, of every table chart, as text).

The ``session`` cookie of a logged-in user is copied into the browser (no login form driving).
A chart holder counts as rendered when it holds a chart's canvas or svg, a table or a big
number, and no alert; a holder still showing a spinner ("Waiting on ...") is not. Any element
with ``role=alert`` on the page is reported with its text.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1600,1400"]
HOLDER = '[data-test="dashboard-component-chart-holder"]'
# what the page reports per holder: rendered / alert / still loading (as JSON)
PROBE = """
const holders = Array.from(document.querySelectorAll('HOLDER'));
const alerts = Array.from(document.querySelectorAll('[role=alert]')).map(a => a.innerText.trim().slice(0, 300));
return JSON.stringify({
  holders: holders.map(h => ({
    rendered: !h.querySelector('[role=alert]') && !!h.querySelector(
      'canvas, table, .echarts-for-react svg, [class*="big_number"], [class*="big-number"]'),
    alert: !!h.querySelector('[role=alert]'),
    loading: !!h.querySelector('.loading, [aria-label="Loading"], [aria-label="loading"]')
      || /Waiting on|Loading/.test(h.innerText),
    text: h.innerText.slice(0, 200),
    // a table chart draws its sticky header and its body as separate <table>s: one entry per holder
    tables: h.querySelector('table') ? [{
      headers: Array.from((Array.from(h.querySelectorAll('table')).find(t => t.querySelector('thead th'))
                           || h).querySelectorAll('thead th')).map(th => th.textContent.trim()),
      rows: Array.from(h.querySelectorAll('tbody tr')).slice(0, 200).map(
        tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim()))}] : []})),
  alerts: alerts});
""".replace("HOLDER", HOLDER)


def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def check(browser, url: str, slug: str, screens: Path, timeout: float) -> dict:
    started = time.monotonic()
    browser.get(f"{url}/superset/dashboard/{slug}/?standalone=1")
    state: dict = {"holders": [], "alerts": []}
    while time.monotonic() - started < timeout:
        state = json.loads(browser.execute_script(PROBE))
        holders = state["holders"]
        if holders and all((h["rendered"] or h["alert"]) and not h["loading"] for h in holders):
            break
        if state["alerts"] and holders and all(h["rendered"] or h["alert"] for h in holders):
            break
        time.sleep(0.25)
    seconds = time.monotonic() - started
    time.sleep(0.5)  # let the last animation finish before the screenshot
    screens.mkdir(parents=True, exist_ok=True)
    shot = screens / f"{slug}.png"
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1600, max(900, min(int(height) + 50, 4000)))
    browser.save_screenshot(str(shot))
    holders = state["holders"]
    return {"slug": slug, "charts": len(holders), "rendered": sum(h["rendered"] for h in holders),
            "alerts": state["alerts"], "empty": [h["text"] for h in holders if not h["rendered"]],
            "tables": [table for h in holders for table in h["tables"]],
            "seconds": round(seconds, 2), "screenshot": str(shot)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    browser = driver()
    try:
        browser.get(f"{spec['url']}/health")
        browser.add_cookie({"name": "session", "value": spec["session_cookie"], "path": "/"})
        for slug in spec["slugs"]:
            print(json.dumps(check(browser, spec["url"], slug, Path(spec["screens"]), float(spec.get("timeout", 60)))),
                  flush=True)
    finally:
        browser.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
