"""Headless Chromium driven over the DevTools protocol (CDP), for the
dashboard tests: Debian's `chromium` and python3-websocket, nothing from npm.

    with Browser(tmp_path) as b:
        page = b.new_page()
        page.goto("http://127.0.0.1:8545/")
        page.wait_for("document.querySelector('#head-height').textContent.startsWith('#')")
        page.screenshot("explorer.png")
        assert not page.errors  # console errors, uncaught exceptions, CSP violations, failed loads

Traffic stays on loopback: Chromium starts with its background networking,
component updates, sync and QUIC off and no proxy of its own.
"""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import time

import websocket

CHROMIUM = os.environ.get("CONET_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT = 60  # seconds for Chromium to open its DevTools port (ASan runs load the machine)
COMMAND_TIMEOUT = 60


def chromium_available():
    return shutil.which(CHROMIUM) is not None


class Browser:
    def __init__(self, tmp):
        self.dir = pathlib.Path(tmp) / "chromium-profile"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = open(pathlib.Path(tmp) / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--no-proxy-server", "--mute-audio",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.dir}", "--window-size=1280,1400", "about:blank"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        port_file = self.dir / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError("chromium did not open its DevTools port; see " + str(self.log.name))
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=COMMAND_TIMEOUT,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []  # (session id, method, params) not yet looked at

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def send(self, method, params=None, session=None, timeout=COMMAND_TIMEOUT):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append((answer.get("sessionId"), answer["method"], answer.get("params", {})))
            if time.monotonic() > deadline:
                raise AssertionError(f"{method}: no answer in {timeout}s")

    def pump(self, seconds):
        """Reads events for up to `seconds` (they arrive only while we read)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                answer = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                return
            if "method" in answer:
                self.events.append((answer.get("sessionId"), answer["method"], answer.get("params", {})))

    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)


class Page:
    def __init__(self, browser, session):
        self.b = browser
        self.session = session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.errors = []  # every console error, uncaught exception, CSP violation or failed load

    def send(self, method, params=None, timeout=COMMAND_TIMEOUT):
        result = self.b.send(method, params, self.session, timeout)
        self._collect()
        return result

    def _collect(self):
        keep = []
        for session, method, params in self.b.events:
            if session != self.session:
                keep.append((session, method, params))
                continue
            if method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                self.errors.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                self.errors.append("console." + params["type"] + ": " +
                                   " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                e = params["entry"]
                self.errors.append(f"{e['source']}: {e['text']} {e.get('url', '')}".strip())
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                self.errors.append(f"load failed: {params.get('errorText')} ({params.get('blockedReason', '')})")
        self.b.events = keep

    def goto(self, url, timeout=COMMAND_TIMEOUT):
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise AssertionError(f"{url}: {answer['errorText']}")
        self.wait_for("document.readyState === 'complete'", timeout)

    def eval(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails'].get('text')} "
                                 f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r["result"].get("value")

    def text(self, selector):
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")

    def wait_for(self, expression, timeout=COMMAND_TIMEOUT, what=None):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or expression}; "
                                     f"page errors: {self.errors}")
            self.b.pump(0.2)
            self._collect()

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_bytes(base64.b64decode(data))
        return path
