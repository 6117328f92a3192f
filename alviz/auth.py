"""Passwords for shared deployments without an OIDC provider: a credentials file of ``name:hash`` lines.

The hash is PBKDF2-HMAC-SHA256 with a random 16-byte salt, written as
``pbkdf2_sha256$<iterations>$<salt, base64>$<hash, base64>`` (the iterations travel with each hash, so a
file stays valid when the default rises). Checks run in constant time (``hmac.compare_digest``) and an
unknown name costs as much as a wrong password. Point ``ALVIZ_CREDENTIALS`` at the file to require a login;
add people with ``alviz user add NAME``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import time
from contextlib import closing
from pathlib import Path

ITERATIONS = 600_000  # OWASP's 2023 advice for PBKDF2-HMAC-SHA256
SCHEME = "pbkdf2_sha256"
NAME = re.compile(r"^[^\s:]{1,64}$")
MIN_PASSWORD = 8
_log = logging.getLogger("alviz.auth")


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """An encoded PBKDF2 hash of ``password`` (a fresh random salt unless one is given)."""
    if iterations < 1:
        raise ValueError(f"iterations must be positive; got {iterations}.")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the encoded hash (False for a malformed hash)."""
    try:
        scheme, iterations, salt, digest = encoded.strip().split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt, validate=True), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def load_credentials(path: str | os.PathLike) -> dict[str, str]:
    """name -> encoded hash from a credentials file (blank lines and # comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No credentials file at {path} (ALVIZ_CREDENTIALS).")
    users: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not NAME.match(name) or not encoded.startswith(SCHEME + "$"):
            raise ValueError(f"{path}, line {n}: expected 'name:{SCHEME}$...', got something else.")
        users[name] = encoded
    return users


@functools.cache
def _decoy(iterations: int) -> str:
    """A hash to check against when the name is unknown, so that the answer takes as long as for a known one."""
    return hash_password(secrets.token_hex(8), iterations=iterations)


def _iterations(encoded: str) -> int:
    parts = encoded.split("$")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


def _verify(users: dict[str, str], name: str, password: str) -> tuple[bool, int]:
    """(whether the password is right, PBKDF2 iterations spent). Every answer costs the file's highest iteration
    count: the decoy for an unknown name, and extra rounds for a user hashed with fewer, so that timing tells
    neither who exists nor whose hash is older."""
    cost = max((_iterations(h) for h in users.values()), default=ITERATIONS) or ITERATIONS
    encoded = users.get(name.strip())
    ok = verify_password(password, encoded or _decoy(cost)) and encoded is not None
    spent = _iterations(encoded) if encoded else cost
    if spent < cost:
        hashlib.pbkdf2_hmac("sha256", password.encode(), b"alviz-padding", cost - spent)
    return ok, max(spent, cost)


def check(path: str | os.PathLike, name: str, password: str) -> bool:
    """Whether ``name`` may log in with ``password`` according to the credentials file."""
    return _verify(load_credentials(path), name, password)[0]


class LoginThrottle:
    """Failed sign-ins, shared by every session and process that uses the same credentials file (a small SQLite
    file beside it, or ``ALVIZ_LOGIN_STATE``).

    After ``free`` failures in a row a name waits 1 s, then 2, 4, ... up to ``max_wait`` before its next try is
    even checked; more than ``global_per_minute`` failures a minute over all names make every name wait out the
    minute (guessing across many accounts). A success clears the name's count. ``now`` is for tests.
    """

    def __init__(
        self, path: str | os.PathLike, free: int = 3, max_wait: float = 900.0, global_per_minute: int = 60
    ) -> None:
        self.free, self.max_wait, self.global_per_minute = free, max_wait, global_per_minute
        self.path = Path(path)
        with closing(self._db()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS failures (name TEXT PRIMARY KEY, n INTEGER, last REAL)")
            db.execute("CREATE TABLE IF NOT EXISTS recent (at REAL)")

    def _db(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        db = sqlite3.connect(self.path, timeout=10, isolation_level="IMMEDIATE")
        if fresh:
            os.chmod(self.path, 0o600)
        return db

    def wait(self, name: str, now: float | None = None) -> float:
        """Seconds before ``name`` may try again (0: now)."""
        now = time.time() if now is None else now
        with closing(self._db()) as db:
            row = db.execute("SELECT n, last FROM failures WHERE name = ?", (name.strip(),)).fetchone()
            recent = db.execute("SELECT COUNT(*), MIN(at) FROM recent WHERE at > ?", (now - 60,)).fetchone()
        waits = [0.0]
        if row and row[0] >= self.free:
            waits.append(row[1] + min(2.0 ** (row[0] - self.free), self.max_wait) - now)
        if recent[0] >= self.global_per_minute:
            waits.append(recent[1] + 60 - now)
        return max(waits)

    def failed(self, name: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with closing(self._db()) as db, db:
            db.execute(
                "INSERT INTO failures VALUES (?, 1, ?) ON CONFLICT(name) DO UPDATE SET n = n + 1, last = excluded.last",
                (name.strip(), now),
            )
            db.execute("INSERT INTO recent VALUES (?)", (now,))
            db.execute("DELETE FROM recent WHERE at < ?", (now - 60,))
        _log.warning("failed sign-in for %r", name.strip()[:64])

    def succeeded(self, name: str) -> None:
        with closing(self._db()) as db, db:
            db.execute("DELETE FROM failures WHERE name = ?", (name.strip(),))


def throttle_for(credentials: str | os.PathLike) -> LoginThrottle:
    """The throttle of a credentials file: ``ALVIZ_LOGIN_STATE``, else ``<file>.attempts`` beside it."""
    state = os.environ.get("ALVIZ_LOGIN_STATE", "").strip() or f"{credentials}.attempts"
    return LoginThrottle(state)


def sign_in(path: str | os.PathLike, name: str, password: str, now: float | None = None) -> tuple[bool, float]:
    """(signed in?, seconds to wait): a name that must wait is refused before its password is even checked."""
    throttle = throttle_for(path)
    wait = throttle.wait(name, now)
    if wait > 0:
        return False, wait
    ok = check(path, name, password)
    if ok:
        throttle.succeeded(name)
    else:
        throttle.failed(name, now)
    return ok, 0.0


def is_admin(name: str) -> bool:
    """Whether ``name`` is in ``ALVIZ_ADMINS`` (comma-separated): admins may import labels on others' behalf.
    Meaningful only behind a login, where names are proven."""
    admins = {a.strip() for a in os.environ.get("ALVIZ_ADMINS", "").split(",") if a.strip()}
    return name.strip() in admins


def add_user(
    path: str | os.PathLike, name: str, password: str, replace: bool = False, iterations: int = ITERATIONS
) -> None:
    """Add ``name`` (or with ``replace``, change their password) in the credentials file, created 0600."""
    name = name.strip()
    if not NAME.match(name):
        raise ValueError(f"A user name needs 1 to 64 characters without spaces or ':'; got {name!r}.")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"A password needs at least {MIN_PASSWORD} characters.")
    path = Path(path)
    users = load_credentials(path) if path.exists() else {}
    if name in users and not replace:
        raise ValueError(f"{name!r} is already in {path}; pass --replace to set a new password.")
    users[name] = hash_password(password, iterations)
    text = "".join(f"{n}:{h}\n" for n, h in users.items())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # never a half-written file


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")
