"""Keyboard shortcuts for the queue: a zero-height component that reports key presses on the page."""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v1 as components

_component = components.declare_component("alviz_keys", path=str(Path(__file__).parent / "keys_component"))


def last_key(keys: list[str], key: str = "keys") -> dict | None:
    """The latest press of one of ``keys`` as {"key": ..., "n": counter}, or None before any."""
    return _component(keys=keys, key=key, default=None)
