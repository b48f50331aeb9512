"""The outbox's file-level repairs: telling a corrupt SQLite file from a busy or read-only
one, reading what a corrupt one still holds, and the lock on the plain fallback file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import IO, Any

LOCK_TIMEOUT = 1.0  # seconds; a hook must not wait longer on another process's lock


def is_corrupt(e: sqlite3.Error) -> bool:
    if isinstance(e, sqlite3.OperationalError):
        return False  # locked, read-only, cannot open: the file itself is fine
    return isinstance(e, sqlite3.DatabaseError)


def lock_file(f: IO[Any], *, wait: bool) -> bool:
    """An exclusive flock on f (released when f is closed); False if busy and not waiting."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no other hook runs at once there
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def still_named(f: IO[Any], path: Path) -> bool:
    try:
        return os.fstat(f.fileno()).st_ino == path.stat().st_ino
    except OSError:
        return False


def readable(path: Path) -> bool:
    """Whether the queue at path opens and reads (or is not there): not corrupt."""
    try:
        uri = path.absolute().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT)) as conn:
            return str(conn.execute("PRAGMA quick_check(1)").fetchone()[0]) == "ok"
    except sqlite3.Error as e:
        return not is_corrupt(e)


def salvage(path: Path) -> list[tuple[object, ...]]:
    """Whatever rows a corrupt queue still gives up; nothing if it gives up none."""
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True,
                               timeout=LOCK_TIMEOUT)
    except sqlite3.Error:
        return []
    rows: list[tuple[object, ...]] = []
    try:
        for columns in ("failed, failed_at", "NULL, NULL"):  # this version's, or older
            try:
                for sha, work, reason, at, failed, failed_at in conn.execute(
                        f"SELECT sha, work, reason, queued_at, {columns} FROM outbox"
                        " ORDER BY id"):
                    if isinstance(sha, str) and isinstance(work, (str, bytes)):
                        rows.append((sha, work, str(reason or "recovered"),
                                     float(at or 0), failed, failed_at))
            except sqlite3.Error:
                if rows:
                    break  # read up to the damage
                continue
            break
    finally:
        conn.close()
    return rows
