"""Showing user-supplied strings (file names, class names, labels, annotator names) safely in Markdown.

Streamlit renders ``st.markdown``/``st.caption``/``st.info``... as Markdown (never raw HTML unless a page asks
for it with ``unsafe_allow_html``, which alviz never does). Markdown alone still turns ``[x](url)`` into a link,
``![x](url)`` into an image fetched from anywhere, ``:material/…:`` into an icon and ``<tag>`` into nothing
visible. ``md`` backslash-escapes every ASCII punctuation character (valid CommonMark escapes), so the
string shows exactly as typed, as text.
"""

from __future__ import annotations

import html
import re

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md(text: object) -> str:
    """``text`` as Markdown that renders to exactly ``text``, on one line."""
    return _PUNCT.sub(r"\\\1", " ".join(str(text).split()))


def plotly_text(text: object) -> str:
    """``text`` for Plotly labels (legend, axis ticks, hover, titles), shown as typed: Plotly renders a subset of
    HTML there (``<b>``, ``<a href>``, ``<br>``) and fills ``%{...}`` in hover templates, so ``& < >`` and ``%``
    become character references, which it shows as the characters themselves."""
    return html.escape(str(text), quote=False).replace("%", "&#37;")
