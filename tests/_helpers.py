"""Helpers shared by tests in more than one folder (unit/, app/, e2e/): plain values and functions, no fixtures.

Importable as ``_helpers`` from any test folder: pytest puts ``tests/`` (the folder of the top conftest.py) on
sys.path.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: app.py, views/, alviz/, README.md
APP = str(ROOT / "app.py")
