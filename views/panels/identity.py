"""Who is labeling: an OIDC login (``st.login``) where ``[auth]`` is in the secrets, else a password from the
credentials file named by ``ALVIZ_CREDENTIALS``, else a free-text name (one local user, or a trusted team).
"""

from __future__ import annotations

import getpass
import math
import os
import sqlite3
import time
from collections.abc import Mapping

import streamlit as st

from alviz import auth
from alviz.markup import md

AUTH_USER = "auth_user"  # session_state key of the name a password login proved


def _oidc_config() -> Mapping | None:
    try:
        return st.secrets["auth"] if "auth" in st.secrets else None
    except Exception:  # no secrets file at all
        return None


def auth_mode() -> str:
    """'oidc', 'password' or 'open'."""
    if _oidc_config() is not None:
        return "oidc"
    return "password" if os.environ.get("ALVIZ_CREDENTIALS", "").strip() else "open"


def signed_in_user() -> str | None:
    """The proven identity in the two login modes (None when nobody has signed in, or in open mode)."""
    mode = auth_mode()
    if mode == "oidc":
        if not st.user.get("is_logged_in", False):
            return None
        return str(st.user.get("email") or st.user.get("name") or st.user.get("sub") or "") or None
    if mode == "password":
        return st.session_state.get(AUTH_USER)
    return None


def annotator() -> str:
    """Who labels: the signed-in user where logins are on, else the sidebar's free text."""
    if auth_mode() != "open":
        return signed_in_user() or "anonymous"
    if "annotator" not in st.session_state:
        st.session_state["annotator"] = os.environ.get("ALVIZ_ANNOTATOR") or getpass.getuser() or "anonymous"
    return st.session_state["annotator"].strip() or "anonymous"


def identity_sidebar() -> str | None:
    """Draw the identity part of the sidebar; returns the annotator, or None while a login is required."""
    mode = auth_mode()
    if mode == "open":
        annotator()  # seeds the default before the widget reads it
        st.text_input("Annotator", key="annotator", help="Stored with every label you give.")
        return annotator()
    who = signed_in_user()
    if who is not None:
        st.caption("Signed in as")
        st.text(who)  # plain text: a name is never markup
        if st.button("Sign out", key="sign_out"):
            if mode == "oidc":
                st.logout()
            st.session_state.pop(AUTH_USER, None)
            st.rerun()
        return who
    if mode == "oidc":
        _oidc_login(_oidc_config())
    else:
        _password_login(os.environ["ALVIZ_CREDENTIALS"])
    return None


def _oidc_login(config: Mapping) -> None:
    providers = [k for k, v in config.items() if isinstance(v, Mapping)]
    if "client_id" in config or not providers:
        if st.button("Sign in", type="primary", key="oidc_login"):
            st.login()
        return
    for p in providers:
        if st.button(f"Sign in with {p}", key=f"oidc_login_{p}"):
            st.login(p)


def _password_login(path: str) -> None:
    with st.form("login"):
        name = st.text_input("Name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        ok, wait = auth.sign_in(path, name, password)
    except (FileNotFoundError, ValueError, sqlite3.Error) as exc:
        st.error(md(f"Logins are switched on, but the credentials file cannot be used: {exc}"))
        return
    if ok:
        st.session_state[AUTH_USER] = name.strip()
        st.rerun()
    if wait:
        st.error(f"Too many failed sign-ins: try again in {math.ceil(wait)} s.")
        return
    time.sleep(1.0)  # slows one session's guessing; the throttle limits all of them together
    st.error("Unknown name or wrong password.")
