"""A durable local queue for work the database could not take (unreachable, slow).

SQLite in WAL mode with synchronous=FULL, in the git common dir (shared by worktrees).
An item is deleted only after the database transaction that applied it committed; a crash
in between replays it, and the commit-link table makes that replay a no-op.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exai_git.engine import Work

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sha       TEXT NOT NULL,
    work      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    queued_at REAL NOT NULL
)"""


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(_SCHEMA)
        return conn

    def put(self, works: list[Work], reason: str) -> None:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO outbox (sha, work, reason, queued_at) VALUES (?, ?, ?, ?)",
                [(w.sha, w.to_json(), reason, time.time()) for w in works],
            )
            conn.execute("COMMIT")

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def items(self) -> list[tuple[int, Work]]:
        """Queued work, oldest first."""
        if not self.path.exists():
            return []
        from exai_git.engine import Work

        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT id, work FROM outbox ORDER BY id").fetchall()
        return [(int(i), Work.from_json(w)) for i, w in rows]

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            conn.execute("COMMIT")

    def __iter__(self) -> Iterator[tuple[int, Work]]:
        return iter(self.items())
