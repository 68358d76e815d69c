"""python -m sim.app.screenshots: regenerate the workshop guide's pictures from the app itself.

Starts the app (python -m sim.app) on a free local port, opens each exercise's prepared page
(a query string: sim.app.levers.from_query) in headless Chromium driven by Playwright, runs it
to the end and saves a PNG per exercise in docs/workshop/. Debian's chromium is used
(/usr/bin/chromium, or $CHROMIUM): Playwright never downloads a browser of its own. The browser
test (tests/test_app_browser.py) uses the same helpers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
OUT = Path(__file__).resolve().parents[2] / "docs" / "workshop"

# name -> (query string, what it shows); docs/workshop.md explains each. Every page runs to the
# end of the horizon (months=60) on the default seed.
FLOOD50 = "flood=1&flood_month=19&return_period=50"
SHOTS = {
    "0-side-by-side-flood": (f"scenario=4321&compare=2:8&{FLOOD50}&months=60",
                             "4321 and 2:8 side by side, same seed, same 1-in-50 flood"),
    "1-funds-too-small": (f"scenario=4321&{FLOOD50}&pool.size=0.1&pool.city_size=0&months=60",
                          "4321, 1-in-50 flood, pool 0.1 bn, prefecture funds 0"),
    "1-smallest-fund": (f"scenario=4321&{FLOOD50}&pool.size=0.1&pool.city_size=0.1&months=60",
                        "4321, 1-in-50 flood, pool 0.1 bn, prefecture funds 0.1 bn"),
    "2-two-to-eight-vs-zero-to-ten": ("scenario=2:8&tranche.bank=0&tranche.guarantor=100&compare=2:8&months=60",
                                      "0:10 (2:8 with the bank's slider at 0) beside 2:8"),
    "3-leverage-cap": ("scenario=4321&guarantor.leverage_cap=0.5&months=60", "4321 with the leverage cap at 0.5x"),
    "4-data-sharing": ("scenario=4321&bank.data_coverage=90&months=60",
                       "4321 with 90% of firms on the credit-data platform"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(port: int | None = None, timeout: float = 90.0):
    """Run `python -m sim.app` on 127.0.0.1 and yield its base URL once it answers; stop it after."""
    port = port or free_port()
    log = open(os.devnull, "w")
    proc = subprocess.Popen([sys.executable, "-m", "sim.app", "--port", str(port), "--no-open"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with code {proc.returncode} before answering")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser():
    """Headless Debian Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def wait_drawn(page, timeout_ms: float = 60_000) -> None:
    """Wait until the page has drawn the model (it first shows "Loading app")."""
    page.wait_for_selector(".zyd-map .zyd-tile", timeout=timeout_ms)
    page.wait_for_selector(".zyd-charts img", timeout=timeout_ms)


def month(page) -> int:
    return int(page.inner_text(".zyd-month"))


def wait_month(page, m: int, timeout_ms: float = 60_000) -> None:
    page.wait_for_function(f"() => document.querySelector('.zyd-month')?.textContent == '{m}'",
                           timeout=timeout_ms)


def shrink(path: Path) -> None:
    """Save the screenshot with a 128-colour palette: a third of the size, the text as sharp."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with serve() as url, browser() as b:
        for name, (query, _) in SHOTS.items():
            page = b.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{url}/?{query}")
            wait_drawn(page)
            wait_month(page, 60)
            page.wait_for_timeout(1500)  # the chart image of the last month
            path = OUT / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shrink(path)
            page.close()
            print(f"wrote {path.relative_to(OUT.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
