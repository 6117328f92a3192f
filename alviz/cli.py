"""The ``alviz`` command: app, embed, simulate, export, import, difficulty, user."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%")

    def update(fraction: float, message: str) -> None:
        bar.n = int(round(100 * min(max(fraction, 0.0), 1.0)))
        bar.set_postfix_str(message)
        bar.refresh()

    return bar, update


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _oidc_configured() -> bool:
    """Whether Streamlit's secrets (the app's folder, then the user's) hold an ``[auth]`` section for st.login."""
    import tomllib

    for path in (Path(__file__).resolve().parent.parent, Path.home()):
        try:
            if "auth" in tomllib.loads((path / ".streamlit" / "secrets.toml").read_text()):
                return True
        except (OSError, ValueError):
            continue
    return False


def exposure_problems(host: str, env: dict[str, str]) -> list[str]:
    """What a server listening on ``host`` lacks before others may reach it: a login and a data root.

    Empty for loopback addresses: one local user may see their own files.
    """
    if host.strip().lower() in LOOPBACK or host.startswith("127."):
        return []
    missing = []
    if not env.get("ALVIZ_CREDENTIALS", "").strip() and not _oidc_configured():
        missing.append("a login (ALVIZ_CREDENTIALS, or [auth] in .streamlit/secrets.toml)")
    if not env.get("ALVIZ_DATA_ROOT", "").strip():
        missing.append("a data root (ALVIZ_DATA_ROOT)")
    return missing


def _app_script() -> Path | None:
    """The Streamlit entry: the one installed with the wheel (package ``alviz_app``), else a source checkout's app.py
    beside the alviz package; None when neither is there."""
    beside = Path(__file__).resolve().parent.parent
    return next((p for p in (beside / "alviz_app" / "app.py", beside / "app.py") if p.is_file()), None)


def cmd_app(args: argparse.Namespace) -> int:
    app = _app_script()
    if app is None:
        print("error: alviz's app.py is missing from this installation; reinstall alviz.", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.data:
        env["ALVIZ_DATA"] = args.data
    if args.db:
        env["ALVIZ_DB"] = args.db
    problems = exposure_problems(args.host, env)
    if problems and not args.insecure:
        raise ValueError(
            f"--host {args.host} lets anyone on the network in, so alviz needs {' and '.join(problems)} first; "
            "or pass --insecure to run it open anyway."
        )
    if problems:
        print(f"warning: listening on {args.host} without {' and '.join(problems)} (--insecure).", file=sys.stderr)
        env["ALVIZ_INSECURE"] = "1"  # app.py repeats the check for plain `streamlit run`
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port)]
    cmd += ["--server.address", args.host]
    if args.headless:
        cmd += ["--server.headless", "true"]
    return _run_server(cmd, env=env, cwd=app.parent)


def _run_server(cmd: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run the Streamlit server as a child that ends with this command.

    SIGTERM, SIGINT and SIGHUP sent to ``alviz app`` are passed on to the server, which is then waited for: a
    service manager stopping the wrapper must not leave the server holding the port.
    """
    child = subprocess.Popen(cmd, env=env, cwd=cwd)
    forwarded = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])

    def forward(signum: int, _frame) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():  # handlers can only be set from there
        previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        code = child.wait()  # a handled signal interrupts the wait only to run ``forward``; waiting resumes
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention


def _load_and_embed(data: str, method: str, engine: str = "local", address: str | None = None, workers=None):
    """(pool, embedding), with a tqdm bar while it embeds (instant from the cache). ``engine="ray"`` reads the
    images on a Ray cluster (``address``) or a Ray started here, into the same cache entry."""
    from alviz import datasets
    from alviz.embed import embed

    if Path(data).expanduser().is_dir():  # an image folder decodes file by file; other sources load at once
        bar, update = _progress_bar(f"decode {data}")
        try:
            pool = datasets.load(data, progress=update)
        finally:
            bar.close()
    else:
        pool = datasets.load(data)
    bar, update = _progress_bar(f"embed {pool.name} with {method}" + (" on Ray" if engine == "ray" else ""))
    try:
        if engine == "ray":
            from alviz.embed.ray_engine import embed_ray

            return pool, embed_ray(pool, method, address=address, workers=workers, progress=update)
        return pool, embed(pool, method, progress=update)
    finally:
        bar.close()


def cmd_embed(args: argparse.Namespace) -> int:
    if args.engine != "ray" and (args.address or args.workers):
        raise ValueError("--address and --workers go with --engine ray.")
    pool, emb = _load_and_embed(args.data, args.method, args.engine, args.address, args.workers)
    out = {"X": emb.X, "ids": pool.ids}
    if emb.X_test is not None:
        out.update(X_test=emb.X_test, ids_test=pool.test.ids)
    if pool.y_true is not None:
        out["y"] = pool.y_true
    np.savez(args.out, **out)
    print(f"wrote {args.out}: X {emb.X.shape}{' (from cache)' if emb.from_cache else ''}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from alviz import study

    embeddings = study.split_names(args.embeddings, study.EMBEDDINGS, "embedding")
    heads = study.split_names(args.heads, study.HEADS, "head")
    bar, update = _progress_bar(f"SSL study on {args.data}")
    try:
        sizes = {"n_pool": args.n_pool} if args.n_pool else None
        data = study.load_study_data(args.data, embeddings, sizes, study.simsiam_params(args.simsiam_epochs), update)
        result = study.run_study(data, heads, max_per_class=args.max_per_class, repeats=args.repeats, seed=args.seed)
    finally:
        bar.close()
    rows, sentences = study.study_table(result)
    Path(args.out).write_text(json.dumps({**result, "table": rows, "summary": sentences}, indent=1))
    print(study.table_text(rows), *sentences, f"wrote {args.out}", sep="\n")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    if args.study:
        return cmd_study(args)
    from alviz.simulate import check_strategies, load_sim_data, run
    from alviz.strategies import NEEDS_FLIP

    strategies = check_strategies(args.strategies.split(","))  # fail before loading any data
    flip = any(s in NEEDS_FLIP for s in strategies)  # consistency: embed the mirrored images too
    data = load_sim_data(args.data, seed=args.seed, n_pool=args.n_pool, flip=flip)
    X, y, X_test, y_test, name = data.X, data.y, data.X_test, data.y_test, data.name
    total = len(strategies) * args.repeats * args.rounds
    from tqdm import tqdm

    with tqdm(total=total, desc=f"simulate on {name}", unit="round") as bar:
        result = run(
            X,
            y,
            X_test,
            y_test,
            strategies,
            initial=args.initial,
            batch=args.batch,
            rounds=args.rounds,
            repeats=args.repeats,
            model=args.model,
            seed=args.seed,
            data_name=name,
            progress=lambda f, _msg: bar.update(round(f * total) - bar.n),
            X_flip=data.X_flip,
        )
    Path(args.out).write_text(json.dumps(result, indent=1))
    width = max(map(len, strategies))
    for s, v in sorted(result["strategies"].items(), key=lambda kv: -kv[1]["auc"]):
        print(f"{s:<{width}}  auc {v['auc']:.3f}  final {v['accuracy_mean'][-1]:.3f}")
    print(f"wrote {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from alviz.export import export_labels

    n = export_labels(args.db, args.out, project=args.project, history=args.history)
    print(f"wrote {n} rows to {args.out}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from alviz.export import import_labels, import_summary
    from alviz.store import Store

    if not Path(args.file).is_file():
        raise FileNotFoundError(f"No labels file at {args.file}.")
    store = Store(args.db)
    try:
        result = import_labels(
            store, args.project, args.file, importer=args.annotator, keep_annotators=args.keep_annotators
        )
    finally:
        store.close()
    print(f"{import_summary(result)} into project {args.project!r} (annotators: {', '.join(result['annotators'])})")
    return 0


def cmd_difficulty(args: argparse.Namespace) -> int:
    from alviz.session import Session
    from alviz.store import Store

    if "://" not in args.db and not Path(args.db).is_file():  # a typo must not create an empty database
        raise FileNotFoundError(f"No label database at {args.db}.")
    pool, emb = _load_and_embed(args.data, args.method)
    store = Store(args.db)
    try:
        sess = Session(pool, emb, store, project=args.project or pool.name)
        if sess.model is None:
            raise ValueError(
                f"Project {sess.project!r} in {store.where} has no labels of two classes yet: nothing to rank by."
            )
        result = sess.difficulty(n_clusters=args.clusters)
    finally:
        store.close()
    out = Path(args.out)
    result.items.to_csv(out, index=False)
    clusters_out = out.with_name(f"{out.stem}-clusters{out.suffix or '.csv'}")
    result.clusters.to_csv(clusters_out, index=False)
    print(
        f"wrote {out} ({len(result.items):,} items, hardest first) and {clusters_out} ({len(result.clusters)} clusters)"
    )
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    import getpass

    from alviz.auth import add_user

    path = args.file or os.environ.get("ALVIZ_CREDENTIALS")
    if not path:
        raise ValueError("Say which credentials file: --file PATH, or set ALVIZ_CREDENTIALS.")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("The two passwords differ; nothing was changed.")
    add_user(path, args.name, password, replace=args.replace)
    print(f"{'updated' if args.replace else 'added'} {args.name} in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alviz", description="Active-learning workbench.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("app", help="launch the Streamlit app")
    p.add_argument("--data", help="sample | fashion-mnist | digits | a folder | a CSV/Parquet table")
    p.add_argument("--db", help="database URL or SQLite file (default alviz.db, or $ALVIZ_DB)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 shares it, and then needs "
        "ALVIZ_CREDENTIALS or [auth] in secrets, and ALVIZ_DATA_ROOT)",
    )
    p.add_argument("--insecure", action="store_true", help="share the app without a login or data root anyway")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("embed", help="embed a pool and write emb.npz (X, ids)")
    p.add_argument("--data", required=True)
    p.add_argument("--method", default="pixels_pca")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: read the images on a Ray cluster ([ray] extra)",
    )
    p.add_argument(
        "--address", help="with --engine ray: the cluster (host:6379, ray://host:10001, auto); default: a Ray here"
    )
    p.add_argument("--workers", type=int, help="with --engine ray: actors (default: one per GPU, else per CPU)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("simulate", help="simulate strategies with an oracle; write learning curves as JSON")
    p.add_argument("--data", required=True, help="sample | fashion-mnist | digits | an .npz with X and y")
    p.add_argument("--strategies", default="random,margin,auto", help="comma-separated names")
    p.add_argument("--initial", type=int, default=20)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", choices=["logreg", "mlp", "svm"], default="logreg")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-pool", type=int, default=None, help="fashion-mnist only: a balanced subset of this size")
    p.add_argument("--out", required=True)
    p.add_argument("--study", choices=["ssl"], help="ssl: the SSL + active-learning study (ignores --strategies)")
    p.add_argument("--embeddings", default="pixels_pca,simsiam", help="--study: comma-separated embedders")
    p.add_argument("--heads", default="logreg,svm", help="--study: comma-separated heads")
    p.add_argument("--max-per-class", type=int, default=20, help="--study: budgets from 1 to this many labels/class")
    p.add_argument("--simsiam-epochs", type=int, default=None, help="--study: SimSiam epochs (default: auto)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("export", help="export current labels (or the whole history) to CSV, Parquet or JSON")
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--project", help="only this project (default: all)")
    p.add_argument("--history", action="store_true", help="every label event, not just current labels")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import", help="import labels from CSV, Parquet or JSON (columns item_id, label[, annotator, time])"
    )
    p.add_argument("--db", required=True, help="database URL or SQLite file (created if missing)")
    p.add_argument("--project", required=True, help="the project to add the labels to (created if new)")
    p.add_argument("--file", required=True, help="labels.csv | labels.parquet | labels.json")
    p.add_argument(
        "--annotator",
        default=os.environ.get("ALVIZ_ANNOTATOR") or "import",
        help="who imports: the labels are theirs unless --keep-annotators",
    )
    p.add_argument(
        "--keep-annotators",
        action="store_true",
        help="keep the file's annotator column (you speak for them: use it to move a project between databases)",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("difficulty", help="rank items and k-means clusters by difficulty; write two CSV files")
    p.add_argument("--data", required=True, help="the pool the project labels (as for `alviz app`)")
    p.add_argument("--db", required=True, help="database URL or SQLite file holding the project's labels")
    p.add_argument("--project", help="project name (default: the pool's name)")
    p.add_argument("--method", default="pixels_pca", help="the embedding (as on the Data page)")
    p.add_argument("--clusters", type=int, default=20)
    p.add_argument("--out", required=True, help="items CSV; the clusters go beside it as <name>-clusters.csv")
    p.set_defaults(func=cmd_difficulty)

    p = sub.add_parser("user", help="manage the credentials file for password logins (ALVIZ_CREDENTIALS)")
    user_sub = p.add_subparsers(dest="user_command", required=True)
    p = user_sub.add_parser("add", help="add a user (asks for the password)")
    p.add_argument("name")
    p.add_argument("--file", help="credentials file (default: $ALVIZ_CREDENTIALS)")
    p.add_argument("--replace", action="store_true", help="set a new password for an existing user")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if re.search(r"://[^/@]*:[^/@]+@", getattr(args, "db", None) or ""):
        print(
            "warning: --db holds a password, which every user of this machine can read in `ps`; "
            "set ALVIZ_DB, or keep the password in ~/.pgpass.",
            file=sys.stderr,
        )
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:  # bad input, a missing file or folder, a full disk
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: not enough memory for this input.", file=sys.stderr)
        return 2
    except Exception as exc:  # the store's errors and friends: one clear line, not a traceback
        from alviz.store import StoreError

        if isinstance(exc, StoreError):
            print(f"error: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
