"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium).

The page loads from the app alone (no network beyond loopback), prices arrive
and change on screen, the mode buttons switch the service's mode, and the
charts keep their past across a reload (history from /candles) while the
interval picker changes the candles. Screenshots are kept in artifacts/
(dashboard.png, dashboard-candles.png).
"""

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support.net import wait_for
from tests.support.service import Service

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser(start_service: Callable[[dict], Service]) -> Iterator[webdriver.Chrome]:
    """Headless Chromium, closed before the test's service stops (it depends on ``start_service`` for that
    order): a page left open polls over kept-alive connections, and gunicorn's worker serves them until its
    graceful timeout (20 s) ends the shutdown."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise RuntimeError("Chromium is not installed: run `make test-servers` (Debian: chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="mf-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=driver_path), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def texts(driver: webdriver.Chrome, selector: str, attribute: str | None = None) -> list[str]:
    """Read every match in one script call: the page re-renders its tables
    several times a second, so a found element can go stale before `.text`."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " e => arguments[1] ? e.getAttribute(arguments[1]) : e.textContent.trim());",
        selector,
        attribute,
    )


def cell_text(driver: webdriver.Chrome, symbol: str, exchange: str) -> str:
    cells = texts(driver, f'#prices tr[data-symbol="{symbol}"] td[data-exchange="{exchange}"]')
    return cells[0] if cells else ""


def test_dashboard_shows_live_prices_and_switches_mode(
    browser: webdriver.Chrome, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test", sources={"test": {"rate_per_symbol": 5.0}}))
    browser.get(service.base + "/")
    assert browser.title == "marketflow"

    first = wait_for(
        lambda: (
            cell_text(browser, "BTCUSDT", "test-exchange1").replace(".", "").isdigit()
            and cell_text(browser, "BTCUSDT", "test-exchange1")
        ),
        timeout=15,
        message="a BTCUSDT price on screen",
    )
    assert 50_000 < float(first) < 200_000
    wait_for(lambda: cell_text(browser, "BTCUSDT", "test-exchange1") not in ("", first), timeout=15, message="it moves")
    [spread] = texts(browser, '#prices tr[data-symbol="BTCUSDT"] td.spread')
    assert float(spread) >= 0
    assert len(texts(browser, "#charts canvas")) == 5
    assert texts(browser, "#mode") == ["test"]
    # The badge follows /health's poll (every 2 s): the first one may have found the feeds still connecting.
    wait_for(lambda: "ok" in texts(browser, "#status", "class")[0], message="the status badge ok")
    sources = texts(browser, "#sources tbody tr", "data-source")
    assert sources == ["test-exchange1", "test-exchange2", "test-exchange3"]

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    browser.find_element(By.ID, "mode-live").click()
    wait_for(lambda: service.get("/mode")[1]["mode"] == "live", message="the service switched")
    wait_for(lambda: texts(browser, "#mode") == ["live"], message="the page shows it")
    browser.find_element(By.ID, "mode-test").click()
    wait_for(lambda: service.get("/mode")[1]["mode"] == "test", message="and back")


def test_dashboard_switches_mode_once_the_admin_token_is_entered(
    browser: webdriver.Chrome, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    token = "dashboard-t0ken-0123456789"
    service = start_service(make_config(mode="test", http={"admin_token": token}))
    browser.get(service.base + "/")
    wait_for(lambda: texts(browser, "#mode") == ["test"], message="the page shows the mode")
    browser.find_element(By.ID, "mode-live").click()
    wait_for(
        lambda: (
            texts(browser, "#control-error")
            == ["this request changes the service: send Authorization: Bearer <admin token>"]
        ),
        message="the refusal on screen",
    )
    assert service.get("/mode")[1]["mode"] == "test"
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "token-save").click()
    assert browser.execute_script("return sessionStorage.getItem('marketflow.adminToken')") == token
    browser.find_element(By.ID, "mode-live").click()
    wait_for(lambda: service.get("/mode")[1]["mode"] == "live", message="the service switched")
    wait_for(lambda: texts(browser, "#mode") == ["live"], message="the page shows it")
    assert texts(browser, "#control-error") == [""]


def held(driver: webdriver.Chrome, script: str) -> object:
    """Evaluate an expression over what the page's charts hold (``window.marketflow``)."""
    return driver.execute_script(f"const {{ state, history }} = window.marketflow; return {script};")


def test_after_a_reload_the_charts_show_the_past_and_the_interval_picker_works(
    browser: webdriver.Chrome, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    service = start_service(make_config(mode="test", sources={"test": {"rate_per_symbol": 5.0}}))
    # Some seconds of ticks before the page is ever opened.
    wait_for(lambda: service.get("/health")[1]["pipeline"]["cached"] >= 200, timeout=20, message="ticks cached")
    browser.get(service.base + "/")
    wait_for(lambda: held(browser, "history.candles.length") > 0, timeout=15, message="candles on first open")
    reloaded_at = int(time.time() * 1000)
    browser.refresh()
    # The past comes back: the 1m candle chart and the live lines both hold points from before the reload.
    wait_for(
        lambda: held(browser, f"history.interval === '1m' && history.candles.some(c => c.t < {reloaded_at})"),
        timeout=15,
        message="1m candles from before the reload",
    )
    wait_for(
        lambda: held(
            browser, f"(state.series.BTCUSDT?.['test-exchange1'] || []).filter(p => p[0] < {reloaded_at}).length > 1"
        ),
        timeout=15,
        message="live line points from before the reload (1s candles)",
    )
    assert held(browser, "history.symbol") == "BTCUSDT"
    assert all(t % 60_000 == 0 for t in held(browser, "history.candles.map(c => c.t)"))

    Select(browser.find_element(By.ID, "history-interval")).select_by_visible_text("1s")
    wait_for(
        lambda: held(browser, "history.interval === '1s' && history.candles.length > 2"),
        timeout=15,
        message="1s candles",
    )
    starts = held(browser, "history.candles.map(c => c.t)")
    assert all(t % 1000 == 0 for t in starts)
    assert any(t % 60_000 for t in starts)  # seconds, not minutes
    assert starts == sorted(set(starts))
    assert "candles of 1s" in texts(browser, "#history-note")[0]
    wait_for(lambda: texts(browser, "#history", "data-drawn")[0].startswith("1s:"), message="1s candles drawn")
    browser.execute_script("document.querySelector('#history').scrollIntoView()")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard-candles.png"
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")

    Select(browser.find_element(By.ID, "history-exchange")).select_by_visible_text("test-exchange2")
    Select(browser.find_element(By.ID, "history-interval")).select_by_visible_text("5m")
    wait_for(
        lambda: (
            held(browser, "history.interval === '5m' && history.exchange === 'test-exchange2'")
            and "candles of 5m" in texts(browser, "#history-note")[0]
        ),
        timeout=15,
        message="5m candles of one exchange",
    )
    assert all(t % 300_000 == 0 for t in held(browser, "history.candles.map(c => c.t)"))
    assert held(browser, "history.candles.length") >= 1
