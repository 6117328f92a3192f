"""What a labeler waits on in the browser: alviz's map beside a naive Streamlit + Plotly map; prints JSON.

One run starts two servers on the same data: alviz (``streamlit run app.py``) and the anchor
(``benchmarks/_naive_app.py``: one Scattergl trace on the same PCA coordinates, ``on_select`` rerun, a label
button that resends the recolored figure). Each is driven in its own headless Chromium (software WebGL), and per
repeat the two take turns (alviz first on even repeats, the anchor first on odd ones), so load from other work on
the machine falls on both. Every repeat labels a fresh lasso with a fresh class name.

Measured per repeat (times are wall seconds from the mouse release or the click):
  lasso_to_server_s    alviz: the server has the selection (the map's ``data-ack`` equals its ``data-sent``)
  lasso_to_panel_s     alviz: the right panel says "N items selected"
  label_to_recolor_s   alviz: "Label N items" clicked -> a newer frame applied and the legend names the class
  zoom_5_steps_s       alviz: five wheel steps, each waited for until the map has drawn again
  anchor_lasso_to_server_s   the anchor page shows the server's count of the selection
  anchor_label_to_recolor_s  the anchor's button clicked -> the redrawn figure's title names the class
Also per action, from its start until the websocket has been quiet for 0.4 s: payload bytes each way (Playwright
frame events) and CPU seconds of the server's process group (/proc; background work such as alviz's neighbour
index, which the first selection starts, counts where it lands). After each action the browser's JS heap (CDP);
peak server RSS and browser PSS (the whole Chromium process group: renderer, GPU process and all) are sampled
every half second. An anchor step that fails or passes ``--timeout`` is recorded as null with its reason, and the
anchor stops there (Plotly at 1M points: a big selection closes the websocket).

    .venv/bin/python benchmarks/interaction.py --n 10000 --repeats 2
    .venv/bin/python benchmarks/interaction.py --n 100000 --repeats 5 --out benchmarks/results/interaction-100000.json
    .venv/bin/python benchmarks/interaction.py --data fashion-mnist

The last line of stdout is one JSON object: medians at the top level, the per-repeat samples under "samples".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
TARGETS = {  # issue 12: headless Chromium, software WebGL, 2 cores
    100_000: {"lasso_to_server_s": 0.3, "label_to_recolor_s": 0.5},
    1_000_000: {"lasso_to_server_s": 1.0, "label_to_recolor_s": 1.0, "zoom_5_steps_s": 1.0, "browser_mb": 1024},
}
ERROR = "[data-testid=stException], [data-testid=stAlertContentError]"  # an error on the page: stop waiting
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The map's root element, wherever the component put it (the page DOM or an open shadow root); cached per page.
FIND_MAP = """(() => {
  let r = window.__alvizMap;
  if (r && r.isConnected) return r;
  r = document.querySelector('.alviz-map');
  if (!r) for (const e of document.querySelectorAll('*')) {
    if (e.shadowRoot && (r = e.shadowRoot.querySelector('.alviz-map'))) break;
  }
  window.__alvizMap = r;
  return r;
})()"""


# ------------------------------------------------------------------------------------------------ processes
def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from "state" on; the name may hold spaces


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def group_pids(pgid: int) -> list[int]:
    """Live processes of one process group (a server started in its own session, a Chromium with its children)."""
    out = []
    for pid in _pids():
        st = _stat(pid)
        if st is not None and int(st[2]) == pgid:
            out.append(pid)
    return out


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the group's live processes and of the children they have waited for."""
    total = 0
    for pid in group_pids(pgid):
        st = _stat(pid)
        if st is not None:
            total += sum(int(v) for v in st[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def group_rss_mb(pgid: int) -> float:
    total = 0
    for pid in group_pids(pgid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total * PAGE / 2**20


def group_pss_mb(pgid: int) -> float:
    """Proportional set size of a group: shared pages split between the processes that map them (a browser's
    renderer, GPU and utility processes share most of their libraries; their RSS added up counts them often)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError):
            pass
    return total / 1024


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        st = _stat(pid)
        if st is None:
            return False
        pid = int(st[1])
    return False


def chromium_groups() -> set[int]:
    """Process groups led by a Chromium that this process started (Playwright starts each browser detached)."""
    out = set()
    for pid in _pids():
        st = _stat(pid)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if st is not None and "chrom" in comm and int(st[2]) == pid and _descends_from(pid, os.getpid()):
            out.add(pid)
    return out


class PeakSampler(threading.Thread):
    """Samples the memory of a few process groups every ``every`` seconds (RSS for servers, PSS for browsers);
    keeps each one's peak."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.groups: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self.every = every
        self.stop = threading.Event()

    def sample(self) -> None:
        for name, pgid in list(self.groups.items()):
            size = group_pss_mb(pgid) if name.endswith("_browser") else group_rss_mb(pgid)
            self.peak[name] = max(self.peak.get(name, 0.0), size)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"{self.name} not healthy after {timeout:.0f} s: {self.tail()}")

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                if not group_pids(self.proc.pid):
                    return
            except subprocess.TimeoutExpired:
                pass


def start_server(name: str, script: str, env: dict, tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"{name}.log"
    cmd = [PYTHON, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, proc, port, log)


# --------------------------------------------------------------------------------------------------- data
def synthetic_table(n: int, path: Path, d: int = 16, k: int = 10, seed: int = 0) -> None:
    """``n`` x ``d`` float32 Gaussian blobs (``k`` centers), an id column, no labels; written as Parquet."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(k, d)).astype(np.float32)
    X = centers[rng.integers(0, k, n)] + rng.normal(0, 1, size=(n, d)).astype(np.float32)
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(d)])
    df.insert(0, "id", [f"item{i:07d}" for i in range(n)])
    df.to_parquet(path, index=False)


# ------------------------------------------------------------------------------------------------ browser
@dataclass
class Traffic:
    """Websocket payload bytes one page has sent and received, and when the last frame passed."""

    sent: int = 0
    received: int = 0
    last: float = field(default_factory=time.monotonic)
    closed: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("websocket", self._on_ws)

    def _on_ws(self, ws) -> None:
        ws.on("framesent", lambda p: self._add("sent", p))
        ws.on("framereceived", lambda p: self._add("received", p))
        ws.on("close", lambda _ws: self.closed.append(ws.url))

    def _add(self, way: str, payload) -> None:
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        setattr(self, way, getattr(self, way) + size)
        self.last = time.monotonic()

    def snapshot(self) -> tuple[int, int]:
        return self.sent, self.received


class Driven:
    """One app in its own browser: its server, page, traffic and per-action measurements."""

    def __init__(self, name: str, server: Server, browser, sampler: PeakSampler, groups_before: set[int]):
        self.name = name
        self.server = server
        self.browser = browser
        new = chromium_groups() - groups_before
        self.browser_group = min(new) if len(new) == 1 else None
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.traffic = Traffic()
        self.traffic.attach(self.page)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.sampler = sampler
        sampler.groups[f"{name}_server"] = server.proc.pid
        if self.browser_group is not None:
            sampler.groups[f"{name}_browser"] = self.browser_group
        self.samples: dict[str, list] = {}
        self.errors: list[str] = []
        self.heap_peak_mb = 0.0

    def record(self, key: str, value) -> None:
        self.samples.setdefault(key, []).append(value)

    def js_heap_mb(self) -> float:
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        mb = metrics.get("JSHeapUsedSize", 0) / 2**20
        self.heap_peak_mb = max(self.heap_peak_mb, mb)
        return mb

    def wait_quiet(self, quiet: float = 0.4, timeout: float = 30.0) -> None:
        """Until no websocket frame has passed for ``quiet`` seconds (the rerun and its frames are over)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if time.monotonic() - self.traffic.last >= quiet:
                return
            self.page.wait_for_timeout(50)

    def measured(self, action: str, fn):
        """Run ``fn`` (returns the seconds it timed, or raises); then record bytes and server CPU for it."""
        s0, r0 = self.traffic.snapshot()
        c0 = group_cpu_s(self.server.proc.pid)
        try:
            seconds = fn()
        finally:
            self.wait_quiet()
            s1, r1 = self.traffic.snapshot()
            self.record(f"{action}_bytes_sent", s1 - s0)
            self.record(f"{action}_bytes_received", r1 - r0)
            self.record(f"{action}_server_cpu_s", round(group_cpu_s(self.server.proc.pid) - c0, 3))
            self.record("js_heap_mb", round(self.js_heap_mb(), 1))
            self.sampler.sample()
        return seconds


def lasso(page, box: dict, r: int, steps: int = 24) -> float:
    """Draw an ellipse (about a third of the area's width and height) inside ``box``, released one step short
    of where it began (the map takes a release within 4 px of the press for a click, whatever the path); returns
    the monotonic time of the release. The center moves per repeat, so each repeat selects different points."""
    cx = box["x"] + box["width"] * (0.5 + 0.1 * math.cos(2.4 * r))
    cy = box["y"] + box["height"] * (0.5 + 0.1 * math.sin(2.4 * r))
    rx, ry = box["width"] * 0.2, box["height"] * 0.2
    page.mouse.move(cx + rx, cy)
    page.mouse.down()
    for k in range(1, steps):
        a = 2 * math.pi * k / steps
        page.mouse.move(cx + rx * math.cos(a), cy + ry * math.sin(a))
    t0 = time.monotonic()
    page.mouse.up()
    return t0


class AlvizDriver(Driven):
    def open(self, timeout: float) -> float:
        t0 = time.monotonic()
        self.page.goto(self.server.url, timeout=timeout * 1000)
        self.page.wait_for_function(
            f"e => {{ const r = {FIND_MAP}; return (r && +r.dataset.frames > 0) || !!document.querySelector(e); }}",
            arg=ERROR,
            timeout=timeout * 1000,
        )
        if self.page.locator(ERROR).count():
            raise RuntimeError(f"the app shows an error; server log: {self.server.tail(600)}")
        self.wait_quiet(1.0, timeout)
        self.n = int(self.attr("n"))
        return time.monotonic() - t0

    def attr(self, name: str) -> str | None:
        return self.page.evaluate(f"name => {{ const r = {FIND_MAP}; return r ? r.dataset[name] : null; }}", name)

    def wait_js(self, body: str, arg, timeout: float) -> None:
        self.page.wait_for_function(
            f"arg => {{ const r = {FIND_MAP}; return !!r && ({body}); }}",
            arg=arg,
            polling="raf",
            timeout=timeout * 1000,
        )

    def repeat(self, r: int, timeout: float) -> None:
        page = self.page
        overlay = page.locator(".alviz-map canvas.overlay")
        box = overlay.bounding_box()
        sent0 = int(self.attr("sent") or 0)
        times = {}

        def do_lasso() -> float:
            t0 = lasso(page, box, r)
            sent = self.attr("sent")
            if sent is None or int(sent) <= sent0:
                raise RuntimeError(f"lasso sent no selection (data-sent {sent}, was {sent0})")
            self.n_selected = int(self.attr("selected"))
            self.wait_js("r.dataset.ack === arg", sent, timeout)
            times["server"] = time.monotonic() - t0
            page.get_by_text(f"{self.n_selected:,} items selected", exact=True).wait_for(timeout=timeout * 1000)
            times["panel"] = time.monotonic() - t0
            return times["server"]

        self.measured("lasso", do_lasso)
        self.record("lasso_to_server_s", round(times["server"], 3))
        self.record("lasso_to_panel_s", round(times["panel"], 3))
        self.record("selected", self.n_selected)

        name = f"bench-r{r + 1}"
        page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="➕ New class…").click()
        page.get_by_label("New class name").fill(name)
        page.get_by_label("New class name").press("Enter")
        button = page.get_by_role("button", name=f"Label {self.n_selected:,} items")
        end = time.monotonic() + timeout
        while not (button.count() and button.first.is_enabled()):
            if time.monotonic() > end:
                raise TimeoutError("the Label button was not enabled")
            page.wait_for_timeout(50)
        self.wait_quiet()
        seq0 = int(self.attr("seq"))

        def do_label() -> float:
            t0 = time.monotonic()
            button.first.click()
            self.wait_js("+r.dataset.seq > arg[0] && r.textContent.includes(arg[1])", [seq0, name], timeout)
            return time.monotonic() - t0

        self.record("label_to_recolor_s", round(self.measured("label", do_label), 3))

        def do_zoom() -> float:
            c = overlay.bounding_box()
            page.mouse.move(c["x"] + c["width"] / 2, c["y"] + c["height"] / 2)
            t0 = time.monotonic()
            for _ in range(5):
                f0 = int(self.attr("frames"))
                page.mouse.wheel(0, -100)
                self.wait_js("+r.dataset.frames > arg", f0, timeout)
            return time.monotonic() - t0

        self.record("zoom_5_steps_s", round(self.measured("zoom", do_zoom), 3))
        f0 = int(self.attr("frames"))
        page.locator(".alviz-map button.reset").click()
        self.wait_js("+r.dataset.frames > arg", f0, timeout)


class AnchorDriver(Driven):
    failed: str | None = None
    events = 0
    labels = 0

    def open(self, timeout: float) -> float:
        self.events = self.labels = 0  # a new page is a new Streamlit session: no selection, no labels
        t0 = time.monotonic()
        self.page.goto(self.server.url, timeout=timeout * 1000)
        self.page.locator(".stPlotlyChart .nsewdrag").first.wait_for(timeout=timeout * 1000)
        self.page.get_by_text("no labels yet").first.wait_for(timeout=timeout * 1000)
        self.wait_quiet(1.0, timeout)
        return time.monotonic() - t0

    def fail(self, what: str, exc: BaseException) -> None:
        reason = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if self.traffic.closed:
            reason += f"; websocket closed {len(self.traffic.closed)}x"
        try:  # Streamlit's "Connection error" dialog, if it is up
            dialogs = self.page.get_by_role("dialog").all_inner_texts()
        except Exception:
            dialogs = []
        if dialogs:
            reason += f"; dialog: {' '.join(dialogs[0].split())[:200]}"
        if self.console:
            reason += f"; console: {self.console[-1][:200]}"
        self.failed = reason

    def repeat(self, r: int, timeout: float) -> None:
        """Lasso, then label it; the first step that fails ends the anchor's run (later repeats record null)."""
        got: dict[str, float | None] = {"anchor_lasso_to_server_s": None, "anchor_label_to_recolor_s": None}
        step = "lasso"
        try:
            if not self.failed:
                self._repeat(r, timeout, got)
                step = "label"
                self._label(timeout, got)
        except Exception as exc:  # Plotly at 1M: the figure or the selection too big for the websocket
            self.fail(f"repeat {r + 1}, {step}", exc)
        for key, value in got.items():
            self.record(key, value)

    def _repeat(self, r: int, timeout: float, got: dict) -> None:
        page = self.page
        box = page.locator(".stPlotlyChart .nsewdrag").first.bounding_box(timeout=timeout * 1000)
        self.events += 1
        marker = page.get_by_text(f"selection #{self.events}:").first

        def do_lasso() -> float:
            t0 = lasso(page, box, r)
            marker.wait_for(timeout=timeout * 1000)
            return time.monotonic() - t0

        got["anchor_lasso_to_server_s"] = round(self.measured("lasso", do_lasso), 3)
        self.record("selected", int(marker.inner_text().split(":")[1].split("points")[0].strip().replace(",", "")))

    def _label(self, timeout: float, got: dict) -> None:
        page = self.page
        button = page.get_by_role("button", name="Label selected as a new class")
        name = f"anchor-{self.labels + 1}"

        def do_label() -> float:
            t0 = time.monotonic()
            button.click(timeout=timeout * 1000)
            page.wait_for_function(
                "name => [...document.querySelectorAll('.gtitle')].some(e => e.textContent.includes(name))",
                arg=name,
                polling="raf",
                timeout=timeout * 1000,
            )
            return time.monotonic() - t0

        got["anchor_label_to_recolor_s"] = round(self.measured("label", do_label), 3)
        self.labels += 1


# ----------------------------------------------------------------------------------------------- the run
def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def run(args, tmp: Path) -> dict:
    from playwright.sync_api import sync_playwright

    if args.data == "synthetic":
        source = tmp / f"blobs{args.n}.parquet"
        synthetic_table(args.n, source)
        source = str(source)
    else:
        source = args.data
    env = {
        **os.environ,
        "ALVIZ_DATA": source,
        "ANCHOR_DATA": source,
        "ALVIZ_DB": str(tmp / "labels.db"),
        "ALVIZ_CACHE": str(tmp / "cache"),
        "ALVIZ_UMAP": "0",
        "ALVIZ_RETRAIN_EVERY": "0",
        "ALVIZ_ANNOTATOR": "bench",
        "PYTHONPATH": str(ROOT),
    }
    servers: list[Server] = []
    sampler = PeakSampler()
    sampler.start()
    out: dict = {"data": args.data, "repeats": args.repeats}
    try:
        # The anchor computes the same embedding into the same cache; start it second, so alviz fills the cache.
        servers.append(start_server("alviz", "app.py", env, tmp))
        servers.append(start_server("anchor", str(ROOT / "benchmarks" / "_naive_app.py"), env, tmp))
        for s in servers:
            s.wait_healthy(120)
        with sync_playwright() as pw:
            drivers = []
            for cls, server in ((AlvizDriver, servers[0]), (AnchorDriver, servers[1])):
                before = chromium_groups()
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                drivers.append(cls(server.name, server, browser, sampler, before))
            alviz, anchor = drivers
            t_open = args.timeout * 5
            out["alviz_open_s"] = round(alviz.measured("open", lambda: alviz.open(t_open)), 2)
            out["n"] = alviz.n
            try:
                out["anchor_open_s"] = round(anchor.measured("open", lambda: anchor.open(t_open)), 2)
            except Exception as exc:
                anchor.fail("open", exc)
                out["anchor_open_s"] = None
            for r in range(args.repeats):
                order = drivers if r % 2 == 0 else drivers[::-1]
                for d in order:
                    try:
                        d.repeat(r, args.timeout)
                    except Exception as exc:  # a step that failed or timed out: say so, start the page afresh
                        d.errors.append(f"repeat {r + 1}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                        print(f"{d.name}: {d.errors[-1]}", file=sys.stderr, flush=True)
                        d.open(t_open)
                print(f"repeat {r + 1}/{args.repeats} done", file=sys.stderr, flush=True)
            for d in drivers:
                d.record("browser_pss_mb", round(group_pss_mb(d.browser_group), 1) if d.browser_group else None)
            sampler.sample()
            out["samples"] = {d.name: d.samples for d in drivers}
            out["anchor_error"] = anchor.failed
            out["errors"] = {d.name: d.errors for d in drivers if d.errors}
            out["js_heap_peak_mb"] = {d.name: round(d.heap_peak_mb, 1) for d in drivers}
            for d in drivers:
                d.browser.close()
    finally:
        sampler.stop.set()
        for s in servers:
            s.stop()
    out["peak_mb"] = {k: round(v, 1) for k, v in sampler.peak.items()}
    out["server_logs_tail"] = {s.name: s.tail(400) for s in servers if "Traceback" in s.tail(20000)}
    return out


def summarize(out: dict) -> dict:
    s = out.get("samples", {})
    a, b = s.get("alviz", {}), s.get("anchor", {})
    res = {
        "n": out.get("n"),
        "data": out["data"],
        "repeats": out["repeats"],
        "lasso_to_server_s": _median(a.get("lasso_to_server_s", [])),
        "lasso_to_panel_s": _median(a.get("lasso_to_panel_s", [])),
        "label_to_recolor_s": _median(a.get("label_to_recolor_s", [])),
        "zoom_5_steps_s": _median(a.get("zoom_5_steps_s", [])),
        "anchor_lasso_to_server_s": _median(b.get("anchor_lasso_to_server_s", [])),
        "anchor_label_to_recolor_s": _median(b.get("anchor_label_to_recolor_s", [])),
        "anchor_error": out.get("anchor_error"),
        "errors": out.get("errors") or None,
        "selected": {k: _median(v.get("selected", [])) for k, v in s.items()},
        "open_s": {"alviz": out.get("alviz_open_s"), "anchor": out.get("anchor_open_s")},
    }
    per_action = {}
    for app, samples in s.items():
        per_action[app] = {}
        for action in ("open", "lasso", "label", "zoom"):
            if f"{action}_bytes_sent" in samples:
                per_action[app][action] = {
                    "bytes_sent": _median(samples[f"{action}_bytes_sent"]),
                    "bytes_received": _median(samples[f"{action}_bytes_received"]),
                    "server_cpu_s": _median(samples[f"{action}_server_cpu_s"]),
                }
    res["per_action"] = per_action
    res["peak_server_rss_mb"] = {k[: -len("_server")]: v for k, v in out["peak_mb"].items() if k.endswith("_server")}
    res["peak_browser_pss_mb"] = {k[: -len("_browser")]: v for k, v in out["peak_mb"].items() if k.endswith("_browser")}
    res["js_heap_peak_mb"] = out.get("js_heap_peak_mb")
    target = TARGETS.get(res["n"]) if out["data"] == "synthetic" else None
    if target:
        got = {**res, "browser_mb": res["peak_browser_pss_mb"].get("alviz")}
        res["targets"] = {k: {"target": v, "met": got.get(k) is not None and got[k] <= v} for k, v in target.items()}
    res["machine"] = {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)}
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    res["code"] = git.stdout.strip() or None  # the commit measured ("-dirty": with uncommitted changes)
    res["samples"] = s
    if out.get("server_logs_tail"):
        res["server_errors"] = out["server_logs_tail"]
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="synthetic points (16 features): 10000, 100000, 1000000")
    p.add_argument("--data", default="synthetic", help='"synthetic" (default) or "fashion-mnist"')
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds one action may take before it counts as failed")
    p.add_argument("--out", type=Path, help="also write the JSON object here")
    args = p.parse_args()
    if args.data not in ("synthetic", "fashion-mnist"):
        p.error("--data is synthetic or fashion-mnist")
    if args.data == "fashion-mnist" and not FASHION_MNIST.exists():
        p.error(f"{FASHION_MNIST} not found")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop the servers
    with tempfile.TemporaryDirectory(prefix="alviz-interaction-") as d:
        res = summarize(run(args, Path(d)))
    for key in (
        "lasso_to_server_s",
        "lasso_to_panel_s",
        "label_to_recolor_s",
        "zoom_5_steps_s",
        "anchor_lasso_to_server_s",
        "anchor_label_to_recolor_s",
    ):
        print(f"{key:28s} {res[key]}")
    if res["anchor_error"]:
        print(f"anchor failed: {res['anchor_error']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
