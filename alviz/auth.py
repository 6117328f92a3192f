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
import os
import re
import secrets
from pathlib import Path

ITERATIONS = 600_000  # OWASP's 2023 advice for PBKDF2-HMAC-SHA256
SCHEME = "pbkdf2_sha256"
NAME = re.compile(r"^[^\s:]{1,64}$")
MIN_PASSWORD = 8


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


def check(path: str | os.PathLike, name: str, password: str) -> bool:
    """Whether ``name`` may log in with ``password`` according to the credentials file."""
    users = load_credentials(path)
    encoded = users.get(name.strip())
    typical = next((int(h.split("$")[1]) for h in users.values() if h.split("$")[1].isdigit()), ITERATIONS)
    ok = verify_password(password, encoded or _decoy(typical))
    return ok and encoded is not None


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
