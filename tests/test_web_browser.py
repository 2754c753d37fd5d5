"""The web desk in a real browser (Debian's chromium and chromium-driver, driven by
Selenium), over a real Dovecot, the real SMTP receiver and the shipped model (trained on
the bundled seed data, as `triaje demo` does): log in, review three cases from the keyboard
alone and correct one, see the re-routed mail reach the team and the report's figures
change. Every page is saved as a 1280x800 screenshot in build/test-output/web_browser/
(or $TRIAJE_TEST_OUTPUT) for a person to look at."""

from __future__ import annotations

import email
import os
import shutil
import threading
import time
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from conftest import make_mail
from dovecot import free_port
from helpers import build_env, run_cycle
from smtp_receiver import Receiver
from test_web_http import explode_on

from pipeline import demo
from pipeline.outbound import sender
from pipeline.web import users
from pipeline.web.app import create_app

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.dovecot, pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                 reason="chromium and chromium-driver are installed by tests/run.sh")]
OUTPUT = Path(os.environ.get("TRIAJE_TEST_OUTPUT", Path(__file__).parents[1] / "build" / "test-output")) \
    / "web_browser"
TEAMS = {"network": "redes@example.org", "hardware": "puesto@example.org",
         "applications": "apps@example.org", "access": "accesos@example.org",
         "procurement": "compras@example.org"}
MAILS = (("No funciona la VPN desde casa",
          "Desde esta mañana la VPN no conecta, da un error de certificado."),
         ("Solicito acceso a la carpeta de Finanzas",
          "Necesito permisos de lectura en la carpeta compartida."),
         ("The printer on floor 3 is jammed", "It shows paper jam even after removing all the paper."),
         ("Pedido de un portátil nuevo", "Mi portátil tiene seis años; quisiera pedir uno nuevo."),
         ("¿Cómo cambio mi contraseña?", "No encuentro dónde se cambia la contraseña del correo."))


class Server:
    """uvicorn on loopback in a thread: the desk exactly as `triaje web` serves it."""

    def __init__(self, env) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(env.config, env.engine),
                                                    host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}",
                "--window-size=1280,800", "--lang=es-ES", "--no-first-run"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "es-ES,es"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the page itself: 1280x800
        "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def shot(driver, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def misclassified(driver, base: str, head: str) -> int:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/report")
    where = (By.CSS_SELECTOR, f'#summary tr[data-head="{head}"] td.wrong')
    try:
        row = WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located(where))
    except TimeoutException:  # say what the page showed instead (it failed once in CI)
        shot(driver, "report-without-figures")
        shown = driver.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"{driver.current_url}: {shown}") from None
    return int(row.text)


def press(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def current_case(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "case").get_attribute("data-case")


def test_review_in_a_browser(deskbox, tmp_path, monkeypatch, receiver, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    cfg = deskbox.config(tmp_path, monkeypatch)
    cfg["smtp"] = {"url": receiver.url, "from": "Mesa de servicio <desk@example.org>"}
    cfg["routing"] = {"default": "n1@example.org", "triage": "triage@example.org",
                      "rules": [{"queue": [q], "to": [a]} for q, a in TEAMS.items()]}
    cfg["tracking"] = {"audit_fraction": 1.0}  # every confident case is in the audit sample
    demo.ensure_model(cfg["classifier"]["models_dir"], progress=False)
    env = build_env(cfg, with_model=True)
    for n, (subject, body) in enumerate(MAILS):
        deskbox.append(make_mail(subject=subject, body=body, sender=f"user{n}@example.com"))
    deskbox.append(make_mail(subject="BOOM: <b>factura</b> adjunta", sender="zoe@example.com"))
    with monkeypatch.context() as patched:  # one message a stage cannot handle: quarantined
        explode_on(patched, "BOOM")
        run_cycle(env)
    users.add(env.engine, "rita", "reviewer", "rita-password-1")
    # a page that reloads under the check leaves stale elements: look again, do not fail
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,))

    with Server(env) as base:
        browser.get(f"{base}/review")
        wait.until(lambda d: "/login" in d.current_url)
        shot(browser, "01-login")
        browser.find_element(By.ID, "username").send_keys("rita")
        browser.find_element(By.ID, "password").send_keys("rita-password-1", Keys.ENTER)
        # not endswith("/review"): the login page's own address, /login?next=/review, ends so
        # too, and the report was then asked for before the login had set the cookie
        wait.until(lambda d: urlsplit(d.current_url).path == "/review")
        before = misclassified(browser, base, "queue")
        shot(browser, "02-report-before")
        browser.get(f"{base}/review")
        shot(browser, "03-review")

        first = current_case(browser)
        press(browser, "a")  # accept every head of the first case
        wait.until(lambda d: current_case(d) != first)
        second = current_case(browser)
        queue = browser.find_element(By.ID, "f-queue")
        predicted = queue.get_attribute("data-standing")
        wanted = "network" if predicted != "network" else "hardware"
        press(browser, "c")  # the queue's choice, from the keyboard
        assert browser.switch_to.active_element == queue
        options = [o.get_attribute("value") for o in queue.find_elements(By.TAG_NAME, "option")]
        steps = options.index(wanted) - options.index(predicted)
        press(browser, *([Keys.ARROW_DOWN] * steps if steps > 0 else [Keys.ARROW_UP] * -steps))
        assert queue.get_attribute("value") == wanted
        press(browser, "n")
        press(browser, "Corregida la cola desde el teclado", Keys.ESCAPE)
        shot(browser, "04-review-correcting")
        press(browser, Keys.ENTER)
        wait.until(lambda d: current_case(d) != second)
        notice = browser.find_element(By.CSS_SELECTOR, ".notice").text
        assert TEAMS[wanted] in notice
        shot(browser, "05-review-saved")
        third = current_case(browser)
        press(browser, "a")
        wait.until(lambda d: not d.find_elements(By.ID, "case") or current_case(d) != third)

        sender.drain(env.engine, env.config.outbound)
        rerouted = [email.message_from_bytes(m.data, policy=policy.default)
                    for m in receiver.messages if TEAMS[wanted] in m.rcpt_tos]
        assert rerouted, [m.rcpt_tos for m in receiver.messages]
        assert any("SD-" in m["Subject"] for m in rerouted)

        # a large desk may show the previous figures for a moment (pipeline/web/reportdata.py)
        wait.until(lambda d: misclassified(d, base, "queue") == before + 1)
        assert not browser.find_elements(By.CSS_SELECTOR, ".stale")
        shot(browser, "06-report-after")
        browser.get(f"{base}/quarantine")
        shot(browser, "07-quarantine")
        browser.find_element(By.CSS_SELECTOR, "td a[href^='/quarantine/']").click()
        assert "<b>factura</b>" in browser.find_element(By.CSS_SELECTOR, "pre.raw").text
        shot(browser, "07b-quarantine-show")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/retry'] button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))
        assert not browser.find_elements(By.CSS_SELECTOR, "td a[href^='/quarantine/']")
        for name, path in (("08-outbox", "/outbox"), ("09-models", "/models"), ("10-account", "/account")):
            browser.get(f"{base}{path}")
            assert browser.find_element(By.TAG_NAME, "h1").text
            shot(browser, name)
        browser.find_element(By.CSS_SELECTOR, "#language option[value=en]").click()
        browser.find_element(By.CSS_SELECTOR, "form[action='/account/language'] button").click()
        wait.until(lambda d: "My account" in d.find_element(By.TAG_NAME, "h1").text)
        browser.get(f"{base}/report")
        assert "Error rate" in browser.page_source
        shot(browser, "11-report-english")
    from PIL import Image

    sizes = {p.name: Image.open(p).size for p in OUTPUT.glob("*.png")}
    assert len(sizes) >= 12 and set(sizes.values()) == {(1280, 800)}, sizes
