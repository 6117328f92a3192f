"""Code that runs in child processes of the reliability tests: light imports only (the store, nothing else),
so that spawning four of them costs little."""

from __future__ import annotations

from alviz.store import Store


def writer(url: str, k: int, n: int, ready, go) -> None:
    """One annotator in their own process: n single-item actions on items item-000..., like the others."""
    store = Store(url)
    pid = store.project("team")  # several processes create the project at once: one must win, none may fail
    ready.set()
    go.wait(30)
    for i in range(n):
        store.add_labels(pid, [f"item-{i:03d}"], f"w{k}", f"writer-{k}", "single")
    store.close()
