"""report.html in headless Chromium: it loads offline with no console error and shows every plot.

Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
NUL-separated JSON on file descriptors 3 and 4), so the test needs nothing beyond the stdlib
and Debian's ``chromium`` (``make test`` installs it).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from visionblocks.config import config_from_dict
from visionblocks.report import make_report
from visionblocks.report.build import PLOTS
from visionblocks.runs import train_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (make test installs it)"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--remote-debugging-pipe",
]

PAGE_STATE = """JSON.stringify({
  title: document.title,
  figures: [...document.querySelectorAll('figure.plot')].map(f => f.id),
  images: [...document.images].map(i => ({
    figure: i.closest('figure') && i.closest('figure').id, complete: i.complete,
    naturalWidth: i.naturalWidth, shownWidth: i.getBoundingClientRect().width,
    shownHeight: i.getBoundingClientRect().height, src: i.src.slice(0, 22)})),
  skipped: [...document.querySelectorAll('[data-skipped]')].map(e => e.dataset.skipped),
  text: document.body.innerText,
})"""


def _high_fd(fd):
    """Moves ``fd`` above 10 so the child's dup2 onto 3 and 4 cannot clobber it."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


class HeadlessChromium:
    """A Chromium process and a minimal DevTools-protocol client over its pipe."""

    def __init__(self, profile_dir, timeout=60.0):
        cmd_r, cmd_w = map(_high_fd, os.pipe())  # we write commands, Chromium reads fd 3
        res_r, res_w = map(_high_fd, os.pipe())  # Chromium writes fd 4, we read results

        def child_fds():
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(cmd_r)
        os.close(res_w)
        self.cmd_w, self.res_r = cmd_w, res_r
        self.deadline = time.monotonic() + timeout
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self) -> dict:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.res_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None) -> dict:
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.cmd_w)
        os.close(self.res_r)


def load_page(path, profile_dir) -> tuple[dict, list[dict]]:
    """Opens ``path`` in headless Chromium; returns the page state and every event seen."""
    browser = HeadlessChromium(profile_dir)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        browser.wait_event("Page.loadEventFired")
        result = browser.send(
            "Runtime.evaluate", {"expression": PAGE_STATE, "returnByValue": True}, session=session
        )
        return json.loads(result["result"]["value"]), browser.events
    finally:
        browser.close()


def console_errors(events) -> list[str]:
    """Console errors, uncaught exceptions and error log entries among DevTools events."""
    errors = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            errors.append(f"loading failed: {params.get('errorText')}")
    return errors


def requested_urls(events) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real two-epoch run on the embedded digits (about a second), trained once."""
    out = tmp_path_factory.mktemp("runs") / "digits-run"
    cfg = {"data": "digits", "hidden_dims": [32], "epochs": 2, "print_every": 0, "out": str(out)}
    train_run(config_from_dict(cfg))
    return out


@pytest.fixture
def tiny_run(trained, tmp_path):
    """A private copy of the trained run."""
    return shutil.copytree(trained, tmp_path / "digits-run")


def test_report_html_loads_in_chromium_and_shows_every_plot(tiny_run, tmp_path):
    report = make_report(tiny_run, dpi=60)
    assert report.skipped == {}
    state, events = load_page(report.html_path, tmp_path / "profile")

    assert console_errors(events) == []
    # Self-contained: the only request is the page itself, no network, no other file.
    urls = [u for u in requested_urls(events) if not u.startswith("data:image/png;base64,")]
    assert urls == [report.html_path.resolve().as_uri()]
    assert state["figures"] == [f"plot-{k}" for k in PLOTS]
    assert state["skipped"] == []
    assert [img["figure"] for img in state["images"]] == [f"plot-{k}" for k in PLOTS]
    for img in state["images"]:
        assert img["src"].startswith("data:image/png;base64")
        assert img["complete"] and img["naturalWidth"] > 100, img
        assert img["shownWidth"] > 100 and img["shownHeight"] > 50, img
    assert "test accuracy" in state["text"] and "Configuration" in state["text"]
    assert tiny_run.name in state["title"]


def test_report_html_with_skipped_plots_still_loads_cleanly(tiny_run, tmp_path):
    (tiny_run / "last.json").unlink()  # no per-iteration history: loss per epoch instead
    for f in ("best.npz", "best.json"):
        (tiny_run / f).unlink()  # no best checkpoint: no predictions, no first layer
    report = make_report(tiny_run, dpi=60)
    assert set(report.skipped) == {"confusion", "per_class", "misclassified", "first_layer"}
    state, events = load_page(report.html_path, tmp_path / "profile")
    assert console_errors(events) == []
    assert sorted(state["skipped"]) == sorted(report.skipped)
    assert len(state["images"]) == len(PLOTS) - 4
    assert all(img["naturalWidth"] > 100 for img in state["images"])
    assert "Not shown" in state["text"] and "Not in this report" in state["text"]


def test_the_browser_check_catches_errors_broken_images_and_requests(tmp_path):
    """The harness itself: a page with a console error, a broken image and a remote image."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body>'
        '<figure class="plot" id="plot-x"><img src="data:image/png;base64,AAAA"></figure>'
        '<img src="http://127.0.0.1:9/remote.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    state, events = load_page(page, tmp_path / "profile")
    errors = console_errors(events)
    assert any("boom" in e for e in errors) and any("loading failed" in e for e in errors)
    assert "http://127.0.0.1:9/remote.png" in requested_urls(events)
    assert state["images"][0]["figure"] == "plot-x" and state["images"][0]["naturalWidth"] == 0
