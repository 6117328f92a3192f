"""Security: loading confined to the data root, user strings never rendered as markup, nothing unpickled,
password logins that hold."""

from __future__ import annotations

import io
import os
import pickle
import re
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import HOSTILE, HOSTILE_2, ROOT
from PIL import Image

from alviz import auth, datasets
from alviz.cli import main
from alviz.export import read_labels
from alviz.markup import md
from alviz.store import Store

# ------------------------------------------------------------------------------------------- data root


def image_folder(where: Path, classes=("a", "b"), n: int = 2) -> Path:
    for c in classes:
        (where / c).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            Image.fromarray(np.full((8, 8), 40 * k + 10, dtype=np.uint8)).save(where / c / f"{k}.png")
    return where


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    image_folder(root / "pets")
    monkeypatch.setenv("ALVIZ_DATA_ROOT", str(root))
    return root


@pytest.fixture
def outside(tmp_path) -> Path:
    return image_folder(tmp_path / "secret")


def test_a_folder_inside_the_data_root_loads(data_root):
    assert len(datasets.load(str(data_root / "pets"))) == 4


def test_a_relative_path_counts_from_the_data_root(data_root):
    assert datasets.load("pets").name == "pets"


def test_dot_dot_cannot_leave_the_data_root(data_root, outside):
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.load(str(data_root / "pets" / ".." / ".." / "secret"))
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.load("../secret")


def test_an_absolute_path_elsewhere_is_refused(data_root, outside):
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.load(str(outside))


def test_a_symlinked_folder_pointing_out_is_refused(data_root, outside):
    (data_root / "innocent").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.load(str(data_root / "innocent"))


def test_a_symlinked_table_pointing_out_is_refused(data_root, tmp_path):
    table = tmp_path / "secret.csv"
    table.write_text("id,f1,f2\na,1,2\nb,3,4\n")
    (data_root / "table.csv").symlink_to(table)
    with pytest.raises(ValueError, match="outside the data root"):
        datasets.load(str(data_root / "table.csv"))


def test_files_inside_a_folder_that_link_out_are_skipped(data_root, outside):
    (data_root / "pets" / "a" / "stolen.png").symlink_to(outside / "a" / "0.png")
    (data_root / "pets" / "b" / "linked_dir").symlink_to(outside / "b", target_is_directory=True)
    pool = datasets.load(str(data_root / "pets"))
    assert sorted(pool.ids.tolist()) == ["a/0.png", "a/1.png", "b/0.png", "b/1.png"]


def test_symlinks_that_stay_inside_the_root_are_fine(data_root):
    (data_root / "alias").symlink_to(data_root / "pets", target_is_directory=True)
    assert len(datasets.load(str(data_root / "alias"))) == 4


def test_named_datasets_need_no_data_root(data_root):
    assert datasets.load("digits").name == "digits"


def test_without_a_data_root_a_local_user_loads_anything(outside, monkeypatch):
    monkeypatch.delenv("ALVIZ_DATA_ROOT", raising=False)
    assert len(datasets.load(str(outside))) == 4


# ------------------------------------------------------------------------------------------- no pickle

SOURCES = sorted(
    [*ROOT.glob("alviz/**/*.py"), *ROOT.glob("views/**/*.py"), ROOT / "app.py", *ROOT.glob("scripts/*.py")]
)


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"allow_pickle\s*=\s*True", "numpy must not unpickle user files"),
        (r"\bpickle\.loads?\(|\bcloudpickle\b|\bjoblib\.load\(|\bdill\b", "no unpickling of files"),
        (r"read_pickle\(", "pandas' read_pickle unpickles"),
        (r"unsafe_allow_html\s*=\s*True", "user strings must never be rendered as raw HTML"),
        (r"\bst\.html\(|components\.v1\.html|components\.html\(", "no raw HTML elements"),
    ],
)
def test_the_code_never_unpickles_or_renders_raw_html(pattern, why):
    hits = [
        h
        for p in SOURCES
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(pattern, line)
        for h in [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"]
    ]
    assert not hits, f"{why}: {hits}"


def test_every_torch_load_asks_for_weights_only():
    calls = [
        (p, line)
        for p in SOURCES
        for line in p.read_text().splitlines()
        if re.search(r"\btorch\.load\(", line) and "weights_only=True" not in line
    ]
    assert not calls, f"torch.load without weights_only=True: {calls}"


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('ALVIZ_BOOM', '/tmp/alviz-boom')}",))


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".csv"])
def test_a_pickle_disguised_as_a_labels_file_is_refused_unexecuted(tmp_path, monkeypatch, suffix):
    marker = tmp_path / "boom"
    monkeypatch.setenv("ALVIZ_BOOM", str(marker))
    evil = tmp_path / f"labels{suffix}"
    evil.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError):
        read_labels(evil)
    assert not marker.exists()


def test_an_npz_with_object_arrays_is_refused_unexecuted(tmp_path, monkeypatch):
    marker = tmp_path / "boom"
    monkeypatch.setenv("ALVIZ_BOOM", str(marker))
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.zeros((2, 2)), y=np.array([_Boom(), _Boom()], dtype=object))
    with pytest.raises(ValueError, match="not Python objects"):
        datasets.load(str(path))
    assert not marker.exists()


# ------------------------------------------------------------------------------------- text, not markup


def test_md_shows_any_string_as_the_same_text():
    assert md(HOSTILE) == r"\<img src\=x onerror\=alert\(1\)\>"
    assert md(HOSTILE_2).startswith(r"\[click\]\(javascript\:alert\(1\)\) \:material\/warning\: \*\*bold")


# ----------------------------------------------------------------------------------------------- logins


def test_a_password_round_trips_and_a_wrong_one_fails():
    h = auth.hash_password("correct horse", iterations=1000)
    assert auth.verify_password("correct horse", h) and not auth.verify_password("correct hors", h)
    assert h != auth.hash_password("correct horse", iterations=1000)  # salted


def test_malformed_hashes_never_verify():
    for bad in ["", "plain", "pbkdf2_sha256$x$y$z", "md5$1$aaaa$bbbb", "pbkdf2_sha256$1000$!!$??"]:
        assert not auth.verify_password("x", bad)


def test_the_credentials_file_holds_only_hashes_and_is_private(tmp_path):
    path = tmp_path / "users"
    auth.add_user(path, "alice", "s3cret-pass", iterations=1000)
    auth.add_user(path, "bob", "other-pass", iterations=1000)
    assert "s3cret-pass" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.check(path, "alice", "s3cret-pass") and not auth.check(path, "alice", "other-pass")
    assert not auth.check(path, "carol", "s3cret-pass")


def test_adding_a_user_twice_needs_replace(tmp_path):
    path = tmp_path / "users"
    auth.add_user(path, "alice", "first-pass", iterations=1000)
    with pytest.raises(ValueError, match="already"):
        auth.add_user(path, "alice", "second-pass", iterations=1000)
    auth.add_user(path, "alice", "second-pass", replace=True, iterations=1000)
    assert auth.check(path, "alice", "second-pass")


@pytest.mark.parametrize("name", ["", "a b", "a:b", "x" * 65])
def test_user_names_that_would_break_the_file_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="user name"):
        auth.add_user(tmp_path / "users", name, "long-enough", iterations=1000)


def test_a_broken_credentials_file_is_an_error_not_an_open_door(tmp_path):
    path = tmp_path / "users"
    path.write_text("alice\n")
    with pytest.raises(ValueError, match="line 1"):
        auth.check(path, "alice", "anything")


def test_cli_user_add_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("a-long-password\n"))
    assert main(["user", "add", "alice", "--file", str(path), "--password-stdin"]) == 0
    assert auth.check(path, "alice", "a-long-password")
    assert "added alice" in capsys.readouterr().out


def test_cli_user_add_refuses_a_short_password_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("short\n"))
    assert main(["user", "add", "alice", "--file", str(tmp_path / "u"), "--password-stdin"]) == 2
    assert "at least 8" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- who can reach it


def _listening_addresses(port: int) -> set[str]:
    """Addresses with a socket listening on ``port`` (hex, from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, p = local.rpartition(":")
            if state == "0A" and int(p, 16) == port:  # 0A: LISTEN
                found.add(addr)
    return found


def test_alviz_app_listens_on_this_machine_only_by_default(tmp_path):
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, ALVIZ_DB=str(tmp_path / "l.db"), ALVIZ_CACHE=str(tmp_path / "c"), ALVIZ_UMAP="0")
    env.pop("ALVIZ_DATA_ROOT", None), env.pop("ALVIZ_CREDENTIALS", None)
    cmd = [sys.executable, "-m", "alviz.cli", "app", "--headless", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "alviz app exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "no answer on 127.0.0.1"
                time.sleep(0.3)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no 0.0.0.0 or ::
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


@pytest.mark.parametrize(
    "env, missing",
    [({}, ["ALVIZ_CREDENTIALS", "ALVIZ_DATA_ROOT"]), ({"ALVIZ_CREDENTIALS": "/x/users"}, ["ALVIZ_DATA_ROOT"])],
)
def test_sharing_the_app_on_the_network_needs_a_login_and_a_data_root(monkeypatch, capsys, env, missing):
    for k in ("ALVIZ_CREDENTIALS", "ALVIZ_DATA_ROOT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["app", "--host", "0.0.0.0", "--headless"]) == 2
    err = capsys.readouterr().err
    assert all(m in err for m in missing) and "--insecure" in err


def test_the_app_config_shows_users_no_tracebacks_and_binds_to_loopback():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["address"] == "127.0.0.1"


# --------------------------------------------------------------------------------------------- imports


def test_an_import_cannot_label_as_someone_else(tmp_path):
    from alviz.export import import_labels

    path = tmp_path / "forged.csv"
    path.write_text("item_id,label,annotator\na,cat,alice\nb,dog,alice\n")
    store = Store(tmp_path / "l.db")
    result = import_labels(store, "p", path, importer="mallory")
    events = store.events(store.project("p"))
    assert {e["annotator"] for e in events} == {"mallory"} and result["imported_from"] == ["alice"]


def test_an_admin_import_keeps_the_files_annotators(tmp_path, monkeypatch):
    from alviz.export import import_labels

    monkeypatch.setenv("ALVIZ_ADMINS", "root, carol")
    assert auth.is_admin("carol") and not auth.is_admin("mallory")
    path = tmp_path / "moved.csv"
    path.write_text("item_id,label,annotator\na,cat,alice\n")
    store = Store(tmp_path / "l.db")
    import_labels(store, "p", path, importer="carol", keep_annotators=True)
    assert [e["annotator"] for e in store.events(store.project("p"))] == ["alice"]


def test_a_tiny_parquet_that_expands_to_many_rows_is_refused_before_reading(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from alviz import export

    n = export.MAX_IMPORT_ROWS + 1
    table = pa.table({"item_id": pa.array(["x"] * n), "label": pa.array(["y"] * n)})
    path = tmp_path / "bomb.parquet"
    pq.write_table(table, path, compression="zstd")
    assert path.stat().st_size < 64_000
    with pytest.raises(ValueError, match="too large to import"):
        read_labels(path)


def test_a_csv_over_the_row_cap_is_refused(tmp_path, monkeypatch):
    from alviz import export

    monkeypatch.setattr(export, "MAX_IMPORT_ROWS", 100)
    path = tmp_path / "many.csv"
    path.write_text("item_id,label\n" + "".join(f"{k},a\n" for k in range(101)))
    with pytest.raises(ValueError, match="more than 100 rows"):
        read_labels(path)


def test_csv_export_neutralizes_formulas_and_import_restores_them(tmp_path):
    from alviz.export import export_labels, import_labels, labels_bytes

    db = tmp_path / "l.db"
    store = Store(db)
    pid = store.project("p")
    evil = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "'=already"]
    store.add_labels(pid, [f"i{k}" for k in range(len(evil))], None, "alice", "bulk")
    for k, lab in enumerate(evil):
        store.add_labels(pid, [f"i{k}"], lab, "alice", "single")
    out = tmp_path / "labels.csv"
    export_labels(str(db), out)
    cells = [c for line in out.read_text().splitlines()[1:] for c in line.split(",")]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    import_labels(store, "copy", out, importer="alice")
    assert sorted(store.current_labels(store.project("copy")).values()) == sorted(evil)
    assert set(pd.read_parquet(io.BytesIO(labels_bytes(store, "p", "parquet")))["label"]) == set(evil)


def test_item_ids_with_spaces_survive_export_then_import(tmp_path):
    from alviz.export import import_labels, labels_bytes

    store = Store(tmp_path / "l.db")
    store.add_labels(store.project("p"), [" a", "b "], "cat", "alice", "bulk")
    import_labels(store, "copy", labels_bytes(store, "p", "csv"), fmt="csv", importer="alice")
    assert sorted(store.current_labels(store.project("copy"))) == [" a", "b "]


def test_an_import_with_dates_that_are_not_dates_is_refused(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("item_id,label,created_at\na,cat,2024-01-02\nb,dog,yesterday\n")
    with pytest.raises(ValueError, match="1 rows have a time that is not a date.*yesterday"):
        read_labels(path)


def test_an_import_counts_unknown_ids_new_classes_and_skips_nul(tmp_path):
    from alviz.export import import_labels, import_summary

    path = tmp_path / "l.json"
    path.write_text('[{"id": "a", "label": "cat"}, {"id": "zz", "label": "emu"}, {"id": "b", "label": "c\\u0000t"}]')
    store = Store(tmp_path / "l.db")
    result = import_labels(store, "p", path, importer="alice", pool_ids=["a", "b"], classes=["cat", "dog"])
    assert (result["imported"], result["skipped"], result["unknown_ids"], result["new_classes"]) == (2, 1, 1, ["emu"])
    assert "1 for ids not in this pool, 1 new class (emu)" in import_summary(result)


# ----------------------------------------------------------------------------------- messages and charts


def test_plotly_text_shows_markup_and_templates_as_their_characters():
    from alviz.markup import plotly_text

    shown = plotly_text("<b>x</b> <a href='http://e'>y</a> %{y} & co")
    assert "<" not in shown and "%{" not in shown and "&amp; co" in shown


def _unescaped_messages(path: Path) -> list[str]:
    """Lines that hand an exception's text to a Markdown element without ``md``."""
    pattern = r"st\.(error|warning|info|success|toast|caption|markdown)\((str\(exc\)|f\"[^\"]*\{exc\}|exc\b)"
    return [f"{path.name}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]


@pytest.mark.parametrize(
    "path",
    [ROOT / "app.py", *sorted(ROOT.glob("views/**/*.py"))],
    ids=lambda p: p.name,
)
def test_error_messages_reach_the_page_escaped(path):
    assert not _unescaped_messages(path)


def test_an_embeddings_file_linking_out_of_the_data_root_is_ignored(data_root, tmp_path):
    secret = tmp_path / "secret-emb.npz"
    np.savez(secret, X=np.ones((4, 3)), ids=np.array(["a/0.png", "a/1.png", "b/0.png", "b/1.png"]))
    (data_root / "pets" / "embeddings.npz").symlink_to(secret)
    pool = datasets.load(str(data_root / "pets"))
    assert pool.vectors is None and any("outside the data root" in n for n in pool.notes)


def test_a_symlink_loop_in_the_data_root_is_skipped_with_a_note(data_root):
    (data_root / "pets" / "a" / "loop.png").symlink_to(data_root / "pets" / "a" / "loop.png")
    pool = datasets.load(str(data_root / "pets"))
    assert len(pool) == 4 and any("loop.png (a symlink loop)" in n for n in pool.notes)


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_note(data_root):
    name = os.fsdecode(b"bad-\xff.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(data_root / "pets" / "a" / name)
    pool = datasets.load(str(data_root / "pets"))
    assert len(pool) == 4 and pool.content_hash() and any("not UTF-8" in n for n in pool.notes)


# ------------------------------------------------------------------------------------------- the README


def test_the_readme_never_puts_a_database_password_on_the_command_line():
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"--db \S*://[^/@\s]*:[^/@\s]+@", readme)
    assert ".pgpass" in readme


def test_a_password_in_db_draws_a_warning(tmp_path, capsys):
    main(["export", "--db", "postgresql+psycopg://alviz:s3cret@127.0.0.1:1/x", "--out", str(tmp_path / "x.txt")])
    assert "--db holds a password" in capsys.readouterr().err


def test_the_readme_says_how_to_stop_framing_and_what_alviz_refuses():
    team = (ROOT / "README.md").read_text().split("## Labeling as a team")[1].split("\n## ")[0]
    assert "frame-ancestors" in team and "X-Frame-Options" in team
    assert "| Input | Answer |" in team


# ----------------------------------------------------------------------------------------- brute force


def test_every_answer_costs_the_same_pbkdf2_rounds(tmp_path):
    path = tmp_path / "users"
    auth.add_user(path, "old", "old-password", iterations=1000)
    auth.add_user(path, "new", "new-password", iterations=3000)
    users = auth.load_credentials(path)
    spent = {name: auth._verify(users, name, "wrong-guess")[1] for name in ("old", "new", "nobody")}
    assert spent == {"old": 3000, "new": 3000, "nobody": 3000}
    assert auth._verify(users, "old", "old-password") == (True, 3000)


def test_failed_sign_ins_slow_one_account_for_every_session_and_process(tmp_path, caplog):
    creds = tmp_path / "users"
    auth.add_user(creds, "alice", "alice-password", iterations=1000)
    t = 1_000_000.0
    for k in range(3):
        assert auth.sign_in(creds, "alice", f"guess-{k}", now=t) == (False, 0.0)
    ok, wait = auth.sign_in(creds, "alice", "alice-password", now=t)  # even the right one waits its turn
    assert not ok and wait == 1.0
    assert auth.throttle_for(creds).wait("bob", now=t) == 0  # other names are not held up
    assert auth.sign_in(creds, "alice", "alice-password", now=t + 1) == (True, 0.0)
    assert auth.throttle_for(creds).wait("alice", now=t + 1) == 0  # a success clears the count
    assert "failed sign-in for 'alice'" in caplog.text


def test_the_wait_doubles_per_failure_up_to_a_cap(tmp_path):
    throttle = auth.LoginThrottle(tmp_path / "state", free=3, max_wait=8)
    t = 1_000_000.0
    waits = []
    for _ in range(8):
        throttle.failed("alice", now=t)
        waits.append(throttle.wait("alice", now=t))
    assert waits == [0, 0, 1, 2, 4, 8, 8, 8]


def test_guessing_across_many_accounts_holds_everyone(tmp_path):
    throttle = auth.LoginThrottle(tmp_path / "state", global_per_minute=10)
    t = 1_000_000.0
    for k in range(10):
        throttle.failed(f"user{k}", now=t)
    assert throttle.wait("carol", now=t + 1) == 59
    assert throttle.wait("carol", now=t + 61) == 0
