"""A real browser: headless Chromium (Debian's, driven by Debian's chromedriver) logs in as
an agent, finds a call, picks a purpose and plays it; the access log then shows that
listen. Another agent finds no such call and gets "not found" for its page."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from callrec.access.roles import CallScope
from callrec.cli import main
from callrec.domain.history import NewCall
from callrec.pause.model import PauseEnd, PauseMethod, PauseStart
from callrec.storage.pauses_dao import SqlPauses
from tests.web.live import live_server
from tests.web.world import PASSWORD, World, open_live_call, write_config_file

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(tempfile.gettempdir())
WAIT = 15
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
         "--window-size=1366,900")

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver "
                    "(bash dev.sh test installs them)", pytrace=False)
    # Never let Selenium Manager fetch a browser or driver: use Debian's.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.fail(f"headless Chromium did not start: {exc.msg}", pytrace=False)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: webdriver.Chrome, url: str, username: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    WebDriverWait(driver, WAIT).until(expected_conditions.url_contains("/calls"))
    assert driver.find_element(By.ID, "current-user").text == username


def search_by_number(driver: webdriver.Chrome, number: str) -> list[str]:
    field = driver.find_element(By.ID, "number")
    field.clear()
    field.send_keys(number)
    driver.find_element(By.ID, "search-button").click()
    WebDriverWait(driver, WAIT).until(expected_conditions.url_contains("number="))
    return [link.get_attribute("data-call-id") or ""
            for link in driver.find_elements(By.CSS_SELECTOR, "a.call-link")]


def test_an_agent_plays_a_call_and_the_listen_is_logged(
        browser: webdriver.Chrome, world: World, tmp_path: Path, database_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    call_id = world.calls["agent1"]
    with live_server(world.context) as url:
        log_in(browser, url, "agent1")
        found = search_by_number(browser, "040 123 4567")
        assert call_id in found and world.calls["agent2"] not in found
        browser.save_screenshot(str(SCREENSHOTS / "callrec-browser-agent1-results.png"))
        browser.find_element(By.CSS_SELECTOR, f'a[data-call-id="{call_id}"]').click()
        WebDriverWait(browser, WAIT).until(expected_conditions.url_contains(call_id))
        play = browser.find_element(By.ID, "play-button")
        assert not play.is_enabled()             # no purpose chosen yet
        Select(browser.find_element(By.ID, "purpose")).select_by_value("complaint")
        assert world.context.access_log.entries() == []
        play.click()
        WebDriverWait(browser, WAIT).until(
            expected_conditions.text_to_be_present_in_element((By.ID, "listen-status"),
                                                              "Playing"))
        WebDriverWait(browser, WAIT).until(lambda driver: driver.execute_script(
            "const p = document.getElementById('player');"
            "return p.currentTime > 0 || p.ended;"))
        browser.save_screenshot(str(SCREENSHOTS / "callrec-browser-agent1-playing.png"))

        [entry] = world.context.access_log.entries()
        assert (entry.event.username, entry.event.role, entry.event.call_id,
                entry.event.action, entry.event.purpose, entry.event.client) == (
            "agent1", "agent", call_id, "play", "complaint", "127.0.0.1")
        assert f"access #{entry.seq}" in browser.find_element(By.ID, "listen-status").text

        config = write_config_file(tmp_path, database_url)
        assert main(["--config", str(config), "audit", "list"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert len(listed) == 2 and "agent1" in listed[1] and call_id in listed[1] \
            and "complaint" in listed[1]
        assert main(["--config", str(config), "audit", "verify"]) == 0

        browser.find_element(By.ID, "logout").click()
        WebDriverWait(browser, WAIT).until(expected_conditions.url_contains("/login"))
        log_in(browser, url, "agent2")
        found = search_by_number(browser, "040 123 4567")
        assert call_id not in found and world.calls["agent2"] in found
        assert call_id not in browser.page_source
        browser.get(f"{url}/calls/{call_id}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
        assert browser.find_elements(By.ID, "player") == []
        browser.save_screenshot(str(SCREENSHOTS / "callrec-browser-agent2-not-found.png"))
    assert len(world.context.access_log.entries()) == 1


def test_the_agent_pauses_and_resumes_their_live_call_from_its_page(
        browser: webdriver.Chrome, world: World,
        make_call: Callable[..., NewCall]) -> None:
    """The live-call card's buttons, then the paused span on the finished call's
    timeline; the muter is the world's stand-in (test_pause.py mutes a real MixMonitor)."""
    live = open_live_call(world, make_call)
    with live_server(world.context) as url:
        log_in(browser, url, "sup")
        browser.get(f"{url}/calls/{live.id}")
        assert browser.find_elements(By.ID, "pause-button") == []   # may only resume
        log_in(browser, url, "agent1")
        browser.get(f"{url}/calls/{live.id}")
        assert browser.find_element(By.ID, "recording-state").text == "Recording"
        browser.find_element(By.ID, "pause-button").click()
        WebDriverWait(browser, WAIT).until(expected_conditions.text_to_be_present_in_element(
            (By.ID, "recording-state"), "Recording paused"))
        assert world.muter.muted == {live.channel_id}
        assert not browser.find_element(By.ID, "pause-button").is_displayed()
        browser.find_element(By.ID, "resume-button").click()
        WebDriverWait(browser, WAIT).until(expected_conditions.text_to_be_present_in_element(
            (By.ID, "pause-status"), "Recording again"))
        assert world.muter.muted == set()
        browser.save_screenshot(str(SCREENSHOTS / "callrec-browser-live-call.png"))
        browser.get(f"{url}/calls/{live.id}")
        [item] = browser.find_element(By.ID, "pause-list").find_elements(By.TAG_NAME, "li")
        assert "paused by agent1 (web)" in item.text and "resumed by agent1" in item.text


def test_a_finished_calls_paused_span_is_marked_on_its_timeline(
        browser: webdriver.Chrome, world: World) -> None:
    call_id = world.calls["agent1"]
    record = world.context.calls.get(world_scope(), call_id)
    assert record is not None and record.recording_seconds
    total_ms = round(record.recording_seconds * 1000)
    pauses = SqlPauses(world.database)
    at = record.started_at + timedelta(seconds=5)
    opened = pauses.open_or_renew(PauseStart(call_id, at, total_ms // 4, "agent1",
                                             PauseMethod.DTMF, at + timedelta(minutes=3)))
    pauses.close(opened.id, PauseEnd(at, total_ms // 2, None, None, auto_resumed=True))
    with live_server(world.context) as url:
        log_in(browser, url, "agent1")
        browser.get(f"{url}/calls/{call_id}")
        span = browser.find_element(By.CSS_SELECTOR, "#pause-timeline .timeline-pause")
        left = browser.execute_script("return arguments[0].style.left;", span)
        width = browser.execute_script("return arguments[0].style.width;", span)
        assert (float(left.rstrip("%")), float(width.rstrip("%"))) == pytest.approx(
            (25.0, 25.0), abs=0.2)
        assert "resumed by itself" in browser.find_element(By.ID, "pause-list").text
        browser.save_screenshot(str(SCREENSHOTS / "callrec-browser-paused-span.png"))


def world_scope() -> CallScope:
    return CallScope()      # every call
