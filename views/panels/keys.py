"""Keyboard shortcuts for the queue: a zero-height component that reports key presses on the page."""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

_component = components.declare_component("alviz_keys", path=str(Path(__file__).parent / "keys_component"))


def last_key(keys: list[str], key: str = "keys", item: str | None = None) -> dict | None:
    """The latest press of one of ``keys`` as {"key": ..., "n": counter, "item": the item shown when pressed},
    or None before any. Keys pressed within 300 ms of ``item`` changing are dropped in the browser."""
    return _component(keys=keys, item=item, key=key, default=None)
