"""The explorer in a real headless browser (Debian's chromium through its chromedriver, driven by
selenium; nothing is downloaded): the pages render and show what the chain holds, and the verify
action checks a disclosure chosen in the page's file input.

Without chromium and chromedriver on PATH (scripts/toolchain/setup.sh installs them with apt when
it can) the tests are skipped with that reason, except in CI (CI=true), where that is a failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest
from brownie import web3

from tests.oracle.integration.test_explorer import deployment  # noqa: F401  (module fixture)
from tests.oracle.integration.test_verify_disclosure import _disclose, scored  # noqa: F401

WAIT_S = 20


@pytest.fixture(scope="module")
def browser():
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        message = f"{' and '.join(missing)} not on PATH (apt install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _serve(app):
    """Run `app` with uvicorn on a free local port in a thread; returns (base URL, stop)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline, "the explorer did not start"
        time.sleep(0.05)

    def stop():
        server.should_exit = True
        thread.join(WAIT_S)

    return f"http://127.0.0.1:{port}", stop


def _text(driver, css):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text


def test_pages_render_in_chromium_and_show_the_chain(browser, deployment):  # noqa: F811
    from selenium.webdriver.common.by import By

    lm = deployment["system"].loan_manager
    base, stop = _serve(deployment["app"])
    try:
        browser.get(base + "/")
        assert _text(browser, "#loan-count") == str(lm.loanCount())
        assert _text(browser, "#chain-id") == str(web3.eth.chain_id)
        browser.find_element(By.LINK_TEXT, "loans").click()
        rows = browser.find_elements(By.CSS_SELECTOR, "#loans tr[data-loan]")
        assert len(rows) == lm.loanCount()
        repaid = deployment["repaid"]
        browser.find_element(By.LINK_TEXT, str(repaid)).click()
        assert _text(browser, "#state") == "Repaid"
        loan = lm.getLoan(repaid)
        assert _text(browser, "#principal") == str(loan["principal"])
        assert _text(browser, "#pd") == f"{loan['pdBps'] / 100:.2f} %"
        events = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#history td.event")]
        assert events == ["ScoreRequested", "LoanApproved", "LoanFunded", "LoanRepaid", "LoanFullyRepaid"]
        browser.get(base + "/rules")
        assert _text(browser, "#threshold") == str(deployment["system"].score_registry.threshold())
        browser.get(base + "/charts")  # one bar per band row (below band 1 and the rule set's three)
        bars = browser.find_elements(By.CSS_SELECTOR, "#scores-by-band rect")
        assert len(bars) == 4 and sum(float(b.get_attribute("width")) > 0 for b in bars) == 2
    finally:
        stop()


def test_the_verify_page_checks_a_disclosure_chosen_in_the_browser(browser, scored, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from oracle.chain import Chain
    from oracle.explorer.app import create_app
    from oracle.explorer.view import ChainView
    from oracle.settings import load_settings

    c, batch = scored
    out = tmp_path / "disclosure.json"
    _disclose(c, batch, out)
    view = ChainView(web3, c.system.loan_manager.address, data_anchor=c.system.data_anchor.address)
    chain = Chain(load_settings(env={}, registry_address=c.system.score_registry.address), w3=web3)
    base, stop = _serve(create_app(view, chain=chain, model_path=c.model_path))
    try:
        for path, verdict in ((out, "All checks passed."), (None, "Some checks FAILED.")):
            if path is None:  # the same disclosure with one feature changed
                d = json.loads(out.read_text())
                name = next(iter(d["features"]))
                d["features"][name] = (d["features"][name] or 0) + 1
                path = tmp_path / "changed.json"
                path.write_text(json.dumps(d))
            browser.get(base + "/verify")
            browser.find_element(By.ID, "disclosure").send_keys(str(path))
            browser.find_element(By.ID, "verify-button").click()
            WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "verdict")))
            assert _text(browser, "#verdict") == verdict
            rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.get_attribute("class")
                    for r in browser.find_elements(By.CSS_SELECTOR, "#checks tr.pass, #checks tr.fail")}
            assert len(rows) == 14
            if verdict.startswith("All"):
                assert set(rows.values()) == {"pass"}
            else:
                assert rows["features_commitment"] == "fail"
    finally:
        stop()
