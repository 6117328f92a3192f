"""The wheel carries the app: after a plain `pip install` (no -e), `alviz app` starts in any directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from _helpers import ROOT

NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "build", "*.egg-info", ".*_cache", "tests", "benchmarks", "docs", "*.db*"
)


def _dotted(folder: Path, prefix: tuple[str, ...] = ()) -> set[str]:
    """The packages under ``folder`` (every folder holding a .py file), as dotted names."""
    return {".".join((*prefix, *p.parent.relative_to(ROOT).parts)) for p in folder.rglob("*.py")}


def test_pyproject_lists_every_package_of_the_library_and_the_app():
    """setuptools is given the packages by name (the app's are mapped under alviz_app): a new subpackage left out
    of pyproject.toml would be missing from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    expected = _dotted(ROOT / "alviz") | _dotted(ROOT / "views", ("alviz_app",)) | {"alviz_app"}
    assert expected <= set(config["packages"]), sorted(expected - set(config["packages"]))
    assert config["package-dir"]["alviz_app"] == "."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, a fresh venv with it installed). The venv sees the project venv's packages through a .pth file
    (a .pth inside that folder is not run, so the checkout's editable alviz stays out of reach)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCES)  # build from a copy: no build/ in the checkout, nothing stale
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), "."]
    subprocess.run(build, cwd=src, check=True, timeout=120)
    (wheel,) = tmp.glob("alviz-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_project_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True, timeout=120)
    return wheel, venv


@pytest.mark.slow
def test_the_wheel_holds_the_app_its_assets_and_no_top_level_app_or_views(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"alviz", "alviz_app"}
    for needed in (
        "alviz_app/app.py",
        "alviz_app/views/explore.py",
        "alviz_app/views/panels/shared.py",
        "alviz_app/views/panels/keys_component/index.html",
        "alviz_app/.streamlit/config.toml",  # the server's settings: local address, no usage stats, no tracebacks
        "alviz/web/map.js",
        "alviz/sample_data/fashion_mnist_sample.npz",
    ):
        assert needed in names, needed


@pytest.mark.slow
def test_alviz_app_starts_from_the_installed_wheel_outside_the_checkout(installed, tmp_path):
    _, venv = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "ALVIZ_SAMPLE_DATA")}
    env.update(ALVIZ_DB=str(tmp_path / "labels.db"), ALVIZ_UMAP="0", STREAMLIT_SERVER_SCRIPT_HEALTH_CHECK_ENABLED="1")
    python = str(venv / "bin" / "python")
    where = "import alviz, alviz.cli; print(alviz.__file__); print(alviz.cli._app_script())"
    lib, app_py = subprocess.run([python, "-c", where], cwd=tmp_path, env=env, text=True, capture_output=True,
                                 check=True).stdout.split()  # fmt: skip
    assert Path(lib).is_relative_to(venv) and Path(app_py) == Path(lib).parent.parent / "alviz_app" / "app.py"

    port = _free_port()
    cmd = [str(venv / "bin" / "alviz"), "app", "--headless", "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while _get(f"{base}/_stcore/health")[0] != 200:
            assert server.poll() is None and time.monotonic() < deadline, "the server never answered"
            time.sleep(0.3)
        status, page = _get(base)
        assert status == 200 and "<noscript>" in page  # Streamlit's page, which then loads the app
        # the health check runs app.py once: its imports of views/ and alviz must work from the install
        assert _get(f"{base}/_stcore/script-health-check") == (200, "ok")
        (streamlit,) = _children(server.pid)
        argv = Path(f"/proc/{streamlit}/cmdline").read_text().split("\0")
        assert argv[0] == python and app_py in argv  # the wheel's interpreter runs the wheel's app.py
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        finally:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
