"""The workshop app in a real browser: start `python -m sim.app`, open it in headless Chromium
(Debian's, driven by Playwright) with every request off this machine blocked, as on a laptop
without internet, change controls, step the model, and check that the charts and the map
changed and that every front-end file came from the app itself."""

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sim.app.screenshots import CHROMIUM, browser, month, serve, wait_drawn, wait_month

APT_PACKAGES = ("chromium", "fonts-noto-cjk")  # the browser, and CJK glyphs for the page's Chinese


def _cjk_font_installed() -> bool:
    return Path("/usr/share/fonts/opentype/noto").is_dir() and any(
        "CJK" in p.name for p in Path("/usr/share/fonts/opentype/noto").iterdir())


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium (and fonts-noto-cjk), installed with apt when missing: CI runs as root
    on a fresh machine that reaches Debian's package registry."""
    if not Path(CHROMIUM).exists() or not _cjk_font_installed():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} or the Noto CJK fonts are missing; install them: "
                        f"apt-get install {' '.join(APT_PACKAGES)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *APT_PACKAGES],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    assert Path(CHROMIUM).exists()
    return CHROMIUM


def _tiles(page) -> list[tuple[str, str, str]]:
    return page.eval_on_selector_all(
        ".zyd-map .zyd-tile", "ts => ts.map(t => [t.dataset.npl, t.dataset.flooded, t.style.background])")


def _chart(page) -> bytes:
    return page.locator(".zyd-charts img").screenshot()


def test_app_in_a_browser_offline(chromium):
    blocked, failed, bad_status = [], [], []
    with serve() as url, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1300})

        def route(r):  # no internet: anything not served by the app on this machine is refused
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("response", lambda r: bad_status.append((r.status, r.url)) if r.status >= 400 else None)
        page.goto(url + "/")
        wait_drawn(page)
        assert month(page) == 0
        tiles0, chart0 = _tiles(page), _chart(page)
        assert len(tiles0) == 14  # Hunan's prefectures
        assert all(float(npl) == 0 for npl, _, _ in tiles0) and not any(f == "1" for _, f, _ in tiles0)

        # a control: the leverage cap slider, by keyboard (0.5 a press), from 10x to 15x
        slider = page.locator(".zyd-lever", has_text="leverage cap").locator("[role=slider]")
        slider.focus()
        for _ in range(10):
            slider.press("ArrowRight")
        page.wait_for_function("() => document.body.innerText.includes('放大倍数上限: 15 x')")
        page.get_by_text("of 15x its net assets", exact=False).wait_for()
        # another: a flood next month
        page.locator(".zyd-flood-now").click()
        page.wait_for_function("() => document.body.innerText.includes('strikes in month 1 ')")

        # step five months (a loan is overdue three months before it defaults and counts as NPL)
        for m in range(1, 6):
            page.locator(".zyd-step").click()
            wait_month(page, m)
        page.wait_for_timeout(1000)  # the image of the last month
        tiles5, chart5 = _tiles(page), _chart(page)
        assert chart5 != chart0, "the charts did not change"
        assert [t[0] for t in tiles5] != [t[0] for t in tiles0], "the map's NPL did not change"
        assert any(float(npl) > 0 for npl, _, _ in tiles5)
        assert [t[2] for t in tiles5] != [t[2] for t in tiles0], "the map's colours did not change"
        assert any(f == "1" for _, f, _ in tiles5), "no flooded prefecture marked"

        # side by side: a second map and a second scheme panel, replayed to month 5
        page.locator(".zyd-compare").click()
        page.locator(".v-menu__content .v-list-item", has_text="2:8").click()
        page.wait_for_function("() => document.querySelectorAll('.zyd-map').length == 2")
        assert month(page) == 5
        assert page.locator(".zyd-explain").count() == 2

        # run plays month after month until paused
        page.locator(".zyd-run").click()
        page.wait_for_function("() => Number(document.querySelector('.zyd-month')?.textContent) >= 7")
        page.locator(".zyd-run").click()  # pause
        page.wait_for_function("() => document.querySelector('.zyd-run')?.innerText.includes('RUN')")
        paused = month(page)
        page.wait_for_timeout(1500)
        assert month(page) == paused

        # a value the model refuses: the loader's message in the page, and the model stays
        seed = page.get_by_label("seed 随机种子")
        seed.fill("-1")
        seed.press("Enter")
        page.wait_for_selector(".zyd-error")
        assert "mc.seed = -1: must be an integer >= 0" in page.inner_text(".zyd-error")
        assert month(page) == paused and page.locator(".zyd-map").count() == 2
        page.close()
    assert blocked == [], f"the page asked for files off this machine: {blocked}"
    assert failed == [], f"requests failed: {failed}"
    assert bad_status == [], f"error responses: {bad_status}"
