#!/usr/bin/env python3
"""test_console.py — the web console in a real headless Chromium (Selenium,
chromium-driver) against a real incidentd (all stages + --api) on the test
bed's Kafka and Redis.

A triggered alert appears in the console's table without a reload; the
Technical Manager opens it, acknowledges, adds a preventive task, resolves it
and submits the review (which comes after the resolution), and the timeline shows each step with the TM as actor; a viewer's
token cannot acknowledge (the console shows the refusal in words). Screenshots
of the list and of the incident page go to $INCIDENTD_BROWSER_OUT (the build
directory's browser/).

Run by CTest (label "browser", fixture "testbed"); exits 77 (skipped) with the
reason when Chromium, its driver or Selenium is missing.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

SKIP = 77
TM_TOKEN = "tm-browser-token-0123456789"
VIEWER_TOKEN = "viewer-browser-token-0123456789"
WAIT_S = 90


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    skip(f"python3-selenium is not installed ({e})")


def testbed_env():
    env = dict(os.environ)
    path = os.environ.get("INCIDENTD_TESTBED_ENV", "")
    if path and os.path.exists(path):
        for line in open(path):
            k, _, v = line.strip().partition("=")
            if k:
                env.setdefault(k, v)
    for k in ("INCIDENTD_TEST_BROKERS", "INCIDENTD_TEST_REDIS"):
        if not env.get(k):
            sys.exit(f"test bed setting {k} missing: run through ctest (fixture testbed)")
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the API on port {port} never answered")


class Daemon:
    def __init__(self, env, bindir, prefix, port, log):
        self.conf = f"/tmp/{prefix}console.conf"
        with open(self.conf, "w") as f:
            f.write(f"people.tina.token = {TM_TOKEN}\npeople.tina.role = technical_manager\n"
                    f"people.vic.token = {VIEWER_TOKEN}\npeople.vic.role = viewer\n"
                    "rotation.ops.members = tina, vic\nrotation.ops.every = 7d\n"
                    "rotation.ops.start = 2026-01-05T09:00+01:00\n"
                    'maintenance.nightly.matchers = {"service": "batch"}\n'
                    "maintenance.nightly.every = daily\nmaintenance.nightly.at = 02:00\n"
                    "maintenance.nightly.for = 1h\nmaintenance.nightly.tz = +01:00\n")
        self.env = env
        self.bindir = bindir
        self.prefix = prefix
        self.log = log
        args = [os.path.join(bindir, "incidentd"), "--brokers", env["INCIDENTD_TEST_BROKERS"],
                "--redis", env["INCIDENTD_TEST_REDIS"], "--topic-prefix", prefix,
                "--config", self.conf, "--api", f"127.0.0.1:{port}", "--stages", "all",
                "--set", "timer.poll=200ms", "--set", "batch.ms=5"]
        # incidentd refuses INCIDENTD_ variables that are not its settings
        self.clean = {k: v for k, v in env.items() if not k.startswith("INCIDENTD_")}
        denv = dict(self.clean, INCIDENTD_TOPICS_PARTITIONS="3")
        self.proc = subprocess.Popen(args, env=denv, stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def publish(self, key, summary):
        subprocess.run([os.path.join(self.bindir, "incidentctl"), "--brokers",
                        self.env["INCIDENTD_TEST_BROKERS"], "--redis", self.env["INCIDENTD_TEST_REDIS"],
                        "--topic-prefix", self.prefix, "publish", "trigger", "--dedup-key", key,
                        "--severity", "critical", "--site", "paris", "--site", "lyon",
                        "--service", "checkout", "--summary", summary],
                       check=True, stdout=subprocess.DEVNULL, env=self.clean)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        os.unlink(self.conf)
        return rc


def browser():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not chrome:
        skip("Chromium is not installed (Debian package chromium)")
    if not os.path.exists(driver):
        skip("chromedriver is not installed (Debian package chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--no-first-run"):
        opts.add_argument(a)
    try:
        return webdriver.Chrome(service=Service(driver), options=opts)
    except Exception as e:  # noqa: BLE001 - report why Chromium cannot run here
        skip(f"Chromium cannot start here: {e}")


STEP = ["start"]


def full_page_screenshot(drv, path):
    """The whole page, top to bottom (headless Chromium: a window that tall)."""
    size = drv.get_window_size()
    height = drv.execute_script("return document.documentElement.scrollHeight;")
    drv.set_window_size(size["width"], min(int(height) + 100, 6000))
    drv.execute_script("window.scrollTo(0, 0);")
    drv.save_screenshot(path)
    drv.set_window_size(size["width"], size["height"])


def step(name):
    STEP[0] = name
    print(f"step: {name}", flush=True)


def timeline_has(drv, action, actor):
    for li in drv.find_elements(By.CSS_SELECTOR, "#timeline li"):
        a = li.find_elements(By.CSS_SELECTOR, ".action")
        w = li.find_elements(By.CSS_SELECTOR, ".actor")
        if a and w and a[0].text == action and w[0].text == actor:
            return True
    return False


def sign_in(drv, wait, token):
    wait.until(lambda d: d.find_element(By.ID, "login-view").is_displayed())
    drv.find_element(By.ID, "token").send_keys(token)
    drv.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def controls(drv, wait, out):
    """Silences, maintenance windows and rotations: create and expire a
    silence, put someone on call with an override and take it back."""
    step("silences and on-call")
    drv.find_element(By.ID, "nav-controls").click()
    wait.until(lambda x: x.find_element(By.ID, "controls-view").is_displayed())
    wait.until(lambda x: "nightly" in x.find_element(By.ID, "windows").text)
    assert "daily 02:00 (UTC+01:00)" in drv.find_element(By.ID, "windows").text
    comment = f"db upgrade {uuid.uuid4().hex[:6]}"
    form = drv.find_element(By.ID, "f-silence")
    form.find_element(By.NAME, "service").send_keys("checkout-db")
    form.find_element(By.NAME, "comment").send_keys(comment)
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(lambda x: comment in x.find_element(By.ID, "silences").text)
    row = drv.find_element(By.XPATH, f"//table[@id='silences']//tr[contains(., '{comment}')]")
    assert "service=checkout-db" in row.text and "active" in row.text and "tina" in row.text, row.text
    wait.until(lambda x: "ops" in x.find_element(By.ID, "rotations").text)
    ovr = drv.find_element(By.ID, "f-override")
    ovr.find_element(By.NAME, "person").send_keys("vic")
    ovr.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(lambda x: "vic (override)" in x.find_element(By.CSS_SELECTOR,
                                                            "tr[data-rotation=ops] .on-call").text)
    full_page_screenshot(drv, os.path.join(out, "console-controls.png"))
    # the tables are redrawn after every change: find the row again
    drv.find_element(By.XPATH, f"//table[@id='silences']//tr[contains(., '{comment}')]//button").click()
    wait.until(lambda x: comment not in x.find_element(By.ID, "silences").text)
    drv.find_element(By.CSS_SELECTOR, "tr[data-rotation=ops] [data-override] button").click()
    wait.until(lambda x: "(scheduled)" in x.find_element(By.CSS_SELECTOR,
                                                         "tr[data-rotation=ops] .on-call").text)
    drv.find_element(By.CSS_SELECTOR, "#nav a").click()
    wait.until(lambda x: x.find_element(By.ID, "list-view").is_displayed())


def run(drv, d, port, out):
    wait = WebDriverWait(drv, WAIT_S, ignored_exceptions=[StaleElementReferenceException])
    drv.get(f"http://127.0.0.1:{port}/")
    sign_in(drv, wait, TM_TOKEN)
    wait.until(lambda x: x.find_element(By.ID, "list-view").is_displayed())
    wait.until(lambda x: x.find_element(By.ID, "who").text == "tina (technical manager)")
    wait.until(lambda x: "live" in x.find_element(By.ID, "live").get_attribute("class").split() or
               x.find_element(By.ID, "live").get_attribute("class") == "live on")
    # the page is never reloaded: a marker set now must still be there
    drv.execute_script("window.__noReload = 42;")

    key = f"browser-{uuid.uuid4().hex[:10]}"
    summary = f"Checkout errors {key}"
    step("alert appears in the table")
    d.publish(key, summary)
    # the table is redrawn on every transition: read it in one go in the page
    find_row = """
        for (const tr of document.querySelectorAll('#incidents tbody tr'))
            if (tr.textContent.includes(arguments[0]) && tr.textContent.includes('escalated'))
                return [tr.dataset.id, tr.textContent];
        return null;"""
    inc_id, text = wait.until(lambda x: x.execute_script(find_row, summary))
    assert drv.execute_script("return window.__noReload;") == 42, "the page was reloaded"
    assert "critical" in text and "global" in text, text
    drv.save_screenshot(os.path.join(out, "console-list.png"))

    step("open the incident")
    wait.until(lambda x: x.find_element(By.CSS_SELECTOR, f'tr[data-id="{inc_id}"] td:last-child').click()
               or True)
    wait.until(lambda x: x.find_element(By.ID, "incident-view").is_displayed())
    wait.until(lambda x: timeline_has(x, "escalated", "incidentd/scoped"))
    chain = drv.find_element(By.ID, "chain").text
    assert "verified" in chain and "from Redis timeline" in chain, chain

    step("acknowledge")
    drv.find_element(By.CSS_SELECTOR, "#f-ack button").click()
    wait.until(lambda x: timeline_has(x, "acknowledged", "tina"))

    step("preventive task")
    drv.find_element(By.CSS_SELECTOR, "#f-task input[name=text]").send_keys("Add a canary for checkout")
    drv.find_element(By.CSS_SELECTOR, "#f-task input[name=preventive]").click()
    drv.find_element(By.CSS_SELECTOR, "#f-task button").click()
    wait.until(lambda x: timeline_has(x, "task_added", "tina"))

    step("resolve (a review comes after the resolution)")
    drv.find_element(By.CSS_SELECTOR, "#f-resolve input[name=text]").send_keys("rolled back")
    drv.find_element(By.CSS_SELECTOR, "#f-resolve button").click()
    wait.until(lambda x: timeline_has(x, "resolved", "tina"))
    step("review")
    drv.find_element(By.CSS_SELECTOR, "#f-review input[name=root_cause]").send_keys("a bad deploy")
    drv.find_element(By.CSS_SELECTOR, "#f-review textarea[name=text]").send_keys("rolled back")
    drv.find_element(By.CSS_SELECTOR, "#f-review button").click()
    wait.until(lambda x: timeline_has(x, "review_submitted", "tina"))
    wait.until(lambda x: "(preventive)" in x.find_element(By.ID, "tasks").text)
    full_page_screenshot(drv, os.path.join(out, "console-incident.png"))

    controls(drv, wait, out)

    # a viewer reads but cannot acknowledge: the refusal in words, nothing recorded
    step("viewer cannot acknowledge")
    drv.find_element(By.ID, "logout").click()
    sign_in(drv, wait, VIEWER_TOKEN)
    drv.get(f"http://127.0.0.1:{port}/#/incident/{inc_id}")
    wait.until(lambda x: timeline_has(x, "review_submitted", "tina"))
    drv.find_element(By.CSS_SELECTOR, "#f-ack button").click()
    wait.until(lambda x: x.find_element(By.ID, "error").is_displayed())
    err = drv.find_element(By.ID, "error").text
    assert "You may not do this" in err and "viewer" in err, err
    acks = [li for li in drv.find_elements(By.CSS_SELECTOR, "#timeline li .action")
            if li.text == "acknowledged"]
    assert len(acks) == 1, f"{len(acks)} acknowledged records"
    step("a viewer sees the controls but not the forms")
    drv.get(f"http://127.0.0.1:{port}/#/controls")
    wait.until(lambda x: x.find_element(By.ID, "controls-view").is_displayed())
    wait.until(lambda x: x.find_element(By.ID, "who").text == "vic (viewer)")
    assert not drv.find_element(By.ID, "f-silence").is_displayed()
    assert not drv.find_element(By.ID, "f-override").is_displayed()
    print(f"ok: incident {inc_id}; screenshots in {out}")


def main():
    env = testbed_env()
    bindir = os.environ.get("INCIDENTD_BIN") or sys.exit("INCIDENTD_BIN missing")
    out = os.environ.get("INCIDENTD_BROWSER_OUT") or os.path.join(os.path.dirname(bindir), "browser")
    os.makedirs(out, exist_ok=True)
    drv = browser()
    prefix = f"browser-{os.getpid()}-{uuid.uuid4().hex[:6]}."
    port = free_port()
    log = os.path.join(out, "incidentd.log")
    d = Daemon(env, bindir, prefix, port, log)
    try:
        wait_http(port, time.time() + WAIT_S)
        run(drv, d, port, out)
    except (AssertionError, TimeoutException) as e:
        drv.save_screenshot(os.path.join(out, "console-failure.png"))
        print(f"error shown: {drv.find_element(By.ID, 'error').text!r}")
        print(f"timeline: {drv.find_element(By.ID, 'timeline').text[-1500:]!r}")
        print(f"FAILED at step {STEP[0]!r}: {e!r}; page: {out}/console-failure.png; daemon log: {log}")
        sys.exit(1)
    finally:
        drv.quit()
        rc = d.stop()
    if rc != 0:
        sys.exit(f"incidentd exited {rc} on SIGTERM; log {log}")


if __name__ == "__main__":
    main()
