"""How long database work may take, and the back-off after a tracker did not answer.

A hook has one budget (`hook_timeout`) for all its database work, counted from the moment
it starts (reading git and importing the database driver are part of it): every connect and every wait for an answer gets what is left of it, so a server that
stalls after connecting costs the budget, not forever. A command a person runs gets the
budget for each wait instead (a backfill may run long; a stalled server still ends it).

After a failed connect or a timeout, a file per tracker (host, port, database and user,
never the password) says so for BACKOFF_SECONDS: hooks then queue their work at once without
trying that tracker again; commands try anyway and clear it when they get through. The files
live in $XDG_CACHE_HOME/exai-git/backoff (~/.cache/exai-git/backoff), one directory per user.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BACKOFF_SECONDS = 30.0


class Budget:
    """Seconds for database work: in total (a hook), or for each wait (a command)."""

    def __init__(self, seconds: float, *, total: bool, started: float | None = None) -> None:
        self.seconds = seconds
        self.total = total
        # a hook keeps part of its budget for what follows a timeout (saying it, queueing)
        # and for the commit's other hooks (each starts Python and asks git before it finds
        # the tracker backed off): a commit then costs about the budget in all
        keep = min(seconds * 0.3, 1.0) if total else 0.0
        self._deadline = (time.monotonic() if started is None else started) + seconds - keep

    def remaining(self) -> float:
        """Seconds the next wait may take."""
        if not self.total:
            return self.seconds
        return max(0.0, self._deadline - time.monotonic())


_hook: Budget | None = None
_started: list[float] = []


def hook_started() -> None:
    """A hook starts now: its budget counts from here (set once its settings are read)."""
    _started[:] = [time.monotonic()]


def for_hook(seconds: float) -> None:
    """This process runs a hook: all its database work shares one budget of seconds."""
    global _hook
    _hook = Budget(seconds, total=True, started=_started[0] if _started else None)


def in_hook() -> bool:
    return _hook is not None


def current(hook_timeout: float) -> Budget:
    """The hook's budget, or (in a command) a fresh one for each wait."""
    return _hook if _hook is not None else Budget(hook_timeout, total=False)


def said(seconds: float) -> str:
    """5 s, 0.5 s: a budget as the messages say it."""
    return f"{seconds:g} s"


# --------------------------------------------------------------------------- back-off


def _directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exai-git" / "backoff"


def tracker_key(dsn: str) -> str:
    """Names the tracker a DSN resolves to: host, port, database and user (libpq's defaults
    and PG* variables filled in), hashed; the password is never part of it."""
    params = cheap_params(dsn)
    if params is None:
        from psycopg.conninfo import conninfo_to_dict

        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}

    def get(name: str, env: str, default: str) -> str:
        return str(params.get(name) or os.environ.get(env) or default)

    import hashlib

    user = get("user", "PGUSER", _login())
    parts = (get("host", "PGHOST", get("hostaddr", "PGHOSTADDR", "/var/run/postgresql")),
             get("port", "PGPORT", "5432"), get("dbname", "PGDATABASE", user), user)
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


_PAIR = r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)"


def cheap_params(dsn: str) -> dict[str, str] | None:
    """The plain forms of a DSN parsed without importing the driver (a hook that backs off
    then stays cheap); None for anything else (libpq parses it)."""
    import re

    if "://" in dsn:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(dsn)
        if parts.query or "," in parts.netloc or parts.scheme not in ("postgres", "postgresql"):
            return None
        try:
            port = parts.port
        except ValueError:
            return None
        return {"host": unquote(parts.hostname or ""), "port": str(port or ""),
                "dbname": unquote(parts.path.lstrip("/")), "user": unquote(parts.username or "")}
    if not re.fullmatch(rf"\s*(?:{_PAIR}\s*)*", dsn):
        return None
    return {k: re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith("'") else v
            for k, v in re.findall(_PAIR, dsn)}


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


def backed_off(key: str) -> float | None:
    """Seconds since the tracker last failed to answer, while that is under BACKOFF_SECONDS;
    None when hooks may try it."""
    try:
        failed_at = float((_directory() / key).read_text(encoding="ascii").strip() or "nan")
    except (OSError, ValueError):
        return None
    ago = time.time() - failed_at
    return ago if 0 <= ago < BACKOFF_SECONDS else None


def back_off(key: str) -> None:
    """The tracker failed to answer now: hooks leave it alone for BACKOFF_SECONDS."""
    directory = _directory()
    tmp = directory / f".{key}.{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(f"{time.time():.3f}\n", encoding="ascii")
        os.replace(tmp, directory / key)
    except OSError:
        pass  # no cache directory to be had: every hook tries, as without a back-off


def clear(key: str) -> None:
    """The tracker answered: hooks may try it again."""
    try:
        (_directory() / key).unlink()
    except OSError:
        pass
