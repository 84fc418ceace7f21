"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium).

The page loads from the app alone (no network beyond loopback), prices arrive
and change on screen, and the mode buttons switch the service's mode. A
screenshot is kept in artifacts/dashboard.png.
"""

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By

from tests.support.net import wait_for
from tests.support.service import Service

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
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
    assert "ok" in texts(browser, "#status", "class")[0]
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
