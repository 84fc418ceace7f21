"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium).

The page loads from the app alone (no network beyond loopback), prices arrive
and change on screen, the mode buttons switch the service's mode, and the
charts keep their past across a reload (history from /candles) while the
interval picker changes the candles. In a wide market the page shows and
streams its watchlist only, and the symbol picker adds any symbol to it.
Screenshots are kept in artifacts/ (dashboard.png, dashboard-candles.png,
dashboard-wide.png).
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
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.support.net import wait_for
from tests.support.service import Service

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# The dashboard's default watchlist, in its order; a wide market is them and 495 more.
LEADERS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "TONUSDT", "DOGEUSDT"]
WIDE_MARKET = [*LEADERS, *(f"ALT{i:04d}USDT" for i in range(495))]
EXCHANGES = ["test-exchange1", "test-exchange2", "test-exchange3"]


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
    # The default configuration follows the five leaders: all of them are the default watchlist, a chart each.
    assert texts(browser, "#charts [data-chart]", "data-chart") == LEADERS
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
    """Evaluate an expression over what the page holds (``window.marketflow``): the charts' data, the watchlist,
    what the stream delivered, the picker's searches."""
    return driver.execute_script(
        f"const {{ state, history, watch, stream, search }} = window.marketflow; return {script};"
    )


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


def rows(driver: webdriver.Chrome) -> list[str]:
    return texts(driver, "#prices tbody tr[data-symbol]", "data-symbol")


def streamed(driver: webdriver.Chrome) -> dict[str, int]:
    """Ticks the page's WebSocket delivered, per symbol (whether or not the page still shows it)."""
    counts: dict[str, int] = {}
    for key, n in held(driver, "stream.received").items():
        symbol = key.split("|")[1]
        counts[symbol] = counts.get(symbol, 0) + n
    return counts


def search_for(driver: webdriver.Chrome, typed: str, expected: list[str], gap: float = 0.0) -> None:
    """Type into the picker (emptied first), ``gap`` seconds between keys, and wait until it lists ``expected``."""
    picker = driver.find_element(By.ID, "picker")
    picker.clear()
    for key in typed if gap else [typed]:
        picker.send_keys(key)
        time.sleep(gap)
    wait_for(
        lambda: (
            texts(driver, "#picker-list li", "data-symbol") == expected
            and texts(driver, "#picker-popup", "hidden") == [None]
        ),
        message=f"the picker lists {expected} for {typed!r}",
    )


def test_a_wide_market_shows_the_watchlist_and_the_picker_adds_any_symbol(
    browser: webdriver.Chrome, make_config: Callable[..., dict], start_service: Callable[[dict], Service]
) -> None:
    """500 symbols on 3 exchanges (each read in 2 shards), 3,000 trades/s: the page shows and streams the watchlist
    only; the picker finds any symbol by part of its name; the list survives a reload and stops at 20."""
    sources = {"test": {"exchanges": EXCHANGES, "rate_per_symbol": 2.0, "shards": 2}}
    service = start_service(make_config(mode="test", symbols=WIDE_MARKET, sources=sources))
    browser.get(service.base + "/")

    # Nothing saved: the leaders, a row and a live chart each, and the only choices of the candle chart.
    wait_for(lambda: rows(browser) == LEADERS, timeout=15, message="the default watchlist's rows")
    assert texts(browser, "#charts [data-chart]", "data-chart") == LEADERS
    assert texts(browser, "#history-symbol option") == LEADERS
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(LEADERS), message="the stream asked for them")
    wait_for(lambda: texts(browser, "#followed") == ["· 1,500 pairs followed"], message="the pairs followed")
    assert texts(browser, "#watch-count") == ["5/20"]

    # Four keystrokes 50 ms apart, as a quick typist, make one search; a dash is dropped, not sent to be refused.
    search_for(browser, "0123", ["ALT0123USDT"], gap=0.05)
    assert held(browser, "search.queries") == 1
    assert texts(browser, "#picker-summary") == ["3 followed pairs match “0123”"]
    assert texts(browser, "#picker-list li .pair") == [f"{exchange} live" for exchange in EXCHANGES]
    browser.find_element(By.ID, "picker").send_keys("-")
    time.sleep(0.5)  # past the typing pause: a search would have gone
    assert held(browser, "search.queries") == 1
    assert texts(browser, "#picker-list li", "data-symbol") == ["ALT0123USDT"]
    assert texts(browser, "#watch-note") == [""]

    # A removed row stops streaming: once the server confirmed, not one more DOGEUSDT tick.
    browser.find_element(By.CSS_SELECTOR, 'button[data-remove="DOGEUSDT"]').click()
    wait_for(lambda: rows(browser) == LEADERS[:4], message="the row removed")
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(LEADERS[:4]), message="the filter without it")
    assert texts(browser, "#charts [data-chart]", "data-chart") == LEADERS[:4]

    # Mouse: the option clicked is added, and its prices stream in from every exchange.
    search_for(browser, "0123", ["ALT0123USDT"])
    browser.find_element(By.CSS_SELECTOR, '#picker-list li[data-symbol="ALT0123USDT"]').click()
    watched = [*LEADERS[:4], "ALT0123USDT"]
    wait_for(lambda: rows(browser) == watched, message="its row")
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(watched), message="the stream asked for it")
    doge_ticks = streamed(browser).get("DOGEUSDT", 0)
    assert doge_ticks > 0  # it did stream while watched
    wait_for(
        lambda: all(
            held(browser, f"stream.received['{exchange}|ALT0123USDT'] || 0") > 0
            and cell_text(browser, "ALT0123USDT", exchange).replace(".", "").isdigit()
            for exchange in EXCHANGES
        ),
        timeout=20,
        message="live ALT0123USDT prices from every exchange",
    )
    assert texts(browser, "#charts [data-chart]", "data-chart") == watched
    assert texts(browser, "#history-symbol option") == watched

    # Keyboard: two steps down from the first of ten options, and Enter.
    search_for(browser, "alt000", [f"ALT000{i}USDT" for i in range(10)])
    picker = browser.find_element(By.ID, "picker")
    picker.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    assert texts(browser, '#picker-list li[aria-selected="true"]', "data-symbol") == ["ALT0002USDT"]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-wide.png"))
    picker.send_keys(Keys.ENTER)
    # Typed in one go and Enter at once: no wait for the pause, the exact name is picked.
    picker.send_keys("alt0042usdt", Keys.ENTER)
    watched += ["ALT0002USDT", "ALT0042USDT"]
    wait_for(lambda: rows(browser) == watched, message="both added")
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(watched), message="and streamed")

    # Only what was watched ever came over the WebSocket, though ALT0000USDT alone trades ~70 times a second.
    assert set(streamed(browser)) <= {*LEADERS, *watched}
    assert streamed(browser).get("DOGEUSDT", 0) == doge_ticks

    # Shards are rows of their own, in order, with their pairs and connections.
    feeds = [f"{exchange}/{shard}" for exchange in EXCHANGES for shard in (0, 1)]
    wait_for(lambda: texts(browser, "#sources tbody tr", "data-source") == feeds, message="one row per shard")
    pairs = [tuple(map(int, cell.split("/"))) for cell in texts(browser, "#sources td.pairs")]
    assert [live == followed for live, followed in pairs] == [True] * 6
    assert [pairs[i][1] + pairs[i + 1][1] for i in (0, 2, 4)] == [500, 500, 500]
    assert texts(browser, "#sources td.connections") == ["1/1"] * 6

    # The list as left survives a reload, and the new page streams it alone.
    browser.refresh()
    wait_for(lambda: rows(browser) == watched, timeout=15, message="the watchlist after a reload")
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(watched), message="streamed after the reload")
    wait_for(lambda: sum(streamed(browser).values()) > 0, message="ticks after the reload")
    assert set(streamed(browser)) <= set(watched)

    # A second tab removes a row: this one follows, so neither later overwrites the other's list.
    first_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(service.base + "/")
    wait_for(lambda: rows(browser) == watched, timeout=15, message="the watchlist in a second tab")
    browser.find_element(By.CSS_SELECTOR, 'button[data-remove="ALT0042USDT"]').click()
    browser.close()
    browser.switch_to.window(first_tab)
    watched.remove("ALT0042USDT")
    wait_for(lambda: rows(browser) == watched, message="the first tab follows")
    wait_for(lambda: held(browser, "stream.subscribed") == sorted(watched), message="and so does its stream")

    # A saved symbol the service does not know (saved against another configuration) stays listed, marked, and
    # out of the stream's filter, so the others stream. Full at 20: the 21st is refused, said so, the list kept.
    full = [*watched, "NOSUCHUSDT", *(f"ALT{i:04d}USDT" for i in range(300, 319 - len(watched)))]
    browser.execute_script("localStorage.setItem('marketflow.watchlist', JSON.stringify(arguments[0]))", full)
    browser.refresh()
    wait_for(lambda: rows(browser) == full, timeout=15, message="20 rows")
    known = sorted(set(full) - {"NOSUCHUSDT"})
    wait_for(lambda: held(browser, "stream.subscribed") == known, message="the others streamed")
    assert texts(browser, '#prices tr[data-symbol="NOSUCHUSDT"] td.symbol small') == ["not known to the service"]
    wait_for(lambda: sum(streamed(browser).values()) > 0, message="ticks with 19 symbols")
    assert set(streamed(browser)) <= set(known)
    search_for(browser, "0400", ["ALT0400USDT"])
    browser.find_element(By.ID, "picker").send_keys(Keys.ENTER)
    wait_for(
        lambda: texts(browser, "#watch-note") == ["The watchlist is full (20 symbols): remove one to add another."],
        message="the cap said",
    )
    assert rows(browser) == full
    assert texts(browser, "#watch-count") == ["20/20"]
    assert browser.execute_script("return JSON.parse(localStorage.getItem('marketflow.watchlist'))") == full
