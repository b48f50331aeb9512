"""A durable local queue for work the database could not take (unreachable, slow).

SQLite with synchronous=FULL, in the git common dir (shared by worktrees). An item leaves
the queue only after the database transaction that applied it committed; a crash in between
replays it, and the commit-link table makes that replay a no-op. Work that can never apply
(an unknown issue or step) is kept as failed, with its reason, until the user drops it.

Faults are contained here, so a commit never waits on or loses to this file:
- a lock held elsewhere is waited for at most a second (LOCK_TIMEOUT);
- a corrupt file is set aside (renamed, named in a warning), what can still be read from it
  is carried over, and a fresh queue started;
- a queue that cannot be written (read-only file or directory) takes work in a plain
  append-only file next to it (PENDING_SUFFIX), folded into the queue on the next writable
  open; when even that cannot be written, OutboxError names the commits (whose markers stay
  in git: `exai-git apply SHA` replays them).
Rollback journal (DELETE), not WAL: WAL leaves `-wal`/`-shm` files behind, and a `-shm`
created while the queue was read-only stays read-only after a chmod back.
Work is stored as UTF-8 with surrogates passed through, so paths and messages in any
encoding (decoded with surrogateescape) store and replay unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from exai_git.errors import ExaiError
from exai_git.outbox_repair import (
    LOCK_TIMEOUT,
    is_corrupt,
    lock_file,
    readable,
    salvage,
    still_named,
)

if TYPE_CHECKING:
    from exai_git.model import Report, Work

PENDING_SUFFIX = ".pending.jsonl"
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sha       TEXT NOT NULL,
    work      BLOB NOT NULL,
    reason    TEXT NOT NULL,
    queued_at REAL NOT NULL,
    failed    TEXT,
    failed_at REAL
)"""


class OutboxError(ExaiError):
    """The queue cannot take or give work; the message says where the work is."""


class Failed(NamedTuple):
    """Queued work that cannot apply, kept until dropped."""

    id: int
    sha: str
    reason: str
    queued_at: float
    failed_at: float


class Counts(NamedTuple):
    pending: int
    failed: int


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "surrogatepass")


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


class Outbox:
    def __init__(self, path: Path, *, warn: Callable[[str], None] = _warn) -> None:
        self.path = path
        self.warn = warn

    @property
    def pending_file(self) -> Path:
        return self.path.with_name(self.path.name + PENDING_SUFFIX)

    # ------------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":  # a queue written by an older version
                try:
                    conn.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.OperationalError:
                    pass  # busy or read-only: WAL still works, switch next time
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            for column, kind in (("failed", "TEXT"), ("failed_at", "REAL")):
                if column not in columns:
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """An open queue; a corrupt file is set aside first and a fresh one opened."""
        try:
            conn = self._open()
        except sqlite3.Error as e:
            if not is_corrupt(e):
                raise self._error("cannot open", e) from None
            self._set_aside(e)
            try:
                conn = self._open()
            except sqlite3.Error as e2:
                raise self._error("cannot open", e2) from None
        try:
            yield conn
        finally:
            conn.close()

    def _run(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """body over an open queue; once more on a fresh queue if the file is corrupt."""
        for attempt in (1, 2):
            with self._connection() as conn:
                try:
                    self._fold_pending(conn)
                    return body(conn)
                except sqlite3.Error as e:
                    if conn.in_transaction:
                        conn.rollback()
                    if attempt == 2 or not is_corrupt(e):
                        raise self._error("cannot use", e) from None
                    cause = e
            self._set_aside(cause)
        raise AssertionError("unreachable")

    def _error(self, doing: str, e: BaseException) -> OutboxError:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            return OutboxError(f"outbox {self.path} is locked by another process (waited "
                               f"{LOCK_TIMEOUT:g} s); try again")
        return OutboxError(f"{doing} outbox {self.path}: {' '.join(str(e).split())}")

    def _set_aside(self, cause: BaseException | None) -> None:
        if readable(self.path):
            return  # another process set it aside and started afresh meanwhile
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            self.path.replace(target)
        except FileNotFoundError:
            return  # set aside by another process
        except OSError as e:
            raise OutboxError(f"outbox {self.path} is corrupt and cannot be set aside "
                              f"({e.strerror}); move it away, then run `exai-git sync`") from None
        for suffix in ("-journal", "-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                try:
                    side.replace(target.with_name(target.name + suffix))
                except OSError:
                    pass
        rows = salvage(target)
        if rows:
            with self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO outbox (sha, work, reason, queued_at, failed, failed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
        why = f" ({' '.join(str(cause).split())})" if cause else ""
        self.warn(f"EXAI: warning: outbox was corrupt{why}; set aside as {target}, "
                  f"{len(rows)} item{'s' if len(rows) != 1 else ''} recovered, "
                  "a new queue started")

    def _fold_pending(self, conn: sqlite3.Connection) -> None:
        """Move work written to the plain fallback file into the queue. The file is locked
        (flock) while read, queued and removed, so no append made meanwhile is lost."""
        try:
            f = self.pending_file.open("rb")
        except OSError:
            return
        with f:
            if not lock_file(f, wait=False) or not still_named(f, self.pending_file):
                return  # another process is folding or appending: next time
            rows = []
            for line in f.read().splitlines():
                try:
                    item = json.loads(line)
                    rows.append((item["sha"], _encode(item["work"]), item["reason"],
                                 float(item["queued_at"])))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line: the write that made it did not finish
            conn.execute("PRAGMA busy_timeout = 0")  # locked now: fold it in next time
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO outbox (sha, work, reason, queued_at)"
                                 " VALUES (?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except sqlite3.OperationalError:
                if conn.in_transaction:
                    conn.rollback()  # read-only or locked: the file keeps the work
                return
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT * 1000)}")
            # Queued first, then forgotten: a crash in between queues an item twice, and a
            # replay of applied work is a no-op (commit links); the other order could lose it.
            try:
                self.pending_file.unlink()
            except OSError:
                with contextlib.suppress(OSError):
                    self.pending_file.write_bytes(b"")

    def _append_pending(self, text: str) -> None:
        """Append to the fallback file, under its lock, to the file the name now names."""
        for _ in range(10):
            with self.pending_file.open("a", encoding="ascii") as f:
                lock_file(f, wait=True)
                if not still_named(f, self.pending_file):
                    continue  # folded and removed while we waited: append to a new one
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
                return
        raise OSError(errno.EAGAIN, "the fallback file kept being replaced")

    # ------------------------------------------------------------------ writing

    def put(self, works: Sequence[Work], reason: str) -> None:
        """Queue works; on a queue that cannot be written, the plain fallback file."""
        now = time.time()
        rows = [(w.sha, _encode(w.to_json()), reason, now) for w in works]
        if not rows:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO outbox (sha, work, reason, queued_at) VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")

        try:
            self._run(body)
            return
        except OutboxError as e:
            first = e
        lines = [json.dumps({"sha": sha, "work": _decode(work), "reason": why,
                             "queued_at": at}) + "\n" for sha, work, why, at in rows]
        try:
            self._append_pending("".join(lines))
        except OSError as e:
            shas = " ".join(w.sha[:10] for w in works)
            then = (f"`exai-git apply {shas}`" if len(works) == 1
                    else f"`exai-git apply` for each of {shas}")
            raise OutboxError(
                f"could not queue the work of {shas} ({first}; and {self.pending_file}: "
                f"{e.strerror}); its markers stay in the commit: make "
                f"{self.path.parent} writable, then run {then}") from None
        self.warn(f"EXAI: warning: {first}; work kept in {self.pending_file} instead "
                  "(`exai-git sync` picks it up once the outbox is writable)")

    def remove(self, ids: Iterable[int]) -> None:
        """Forget applied items."""
        ids = list(ids)
        if ids:
            self._run(lambda conn: _write(conn, "DELETE FROM outbox WHERE id = ?",
                                          [(i,) for i in ids]))

    def fail(self, ids: Iterable[int], reason: str) -> None:
        """Keep items as failed: they can never apply as they are."""
        now = time.time()
        rows = [(reason, now, i) for i in ids]
        if rows:
            self._run(lambda conn: _write(
                conn, "UPDATE outbox SET failed = ?, failed_at = ? WHERE id = ?", rows))

    def drop(self, item_id: int) -> bool:
        """Delete one item, pending or failed; False when there is none with that id."""
        def body(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM outbox WHERE id = ?", (item_id,)).rowcount > 0

        if not self.path.exists():
            return False
        return self._run(body)

    def settle(self, queued: Sequence[tuple[int, Work]], report: Report) -> list[Failed]:
        """After replaying queued: remove the items that applied, keep those whose commit
        reported errors (unknown issue or step) as failed. Returns the newly failed."""
        errors = {c.sha: "; ".join(c.errors) for c in report.commits if c.errors}
        bad: dict[str, list[int]] = {}
        done = []
        for item_id, work in queued:
            if work.sha in errors:
                bad.setdefault(errors[work.sha], []).append(item_id)
            else:
                done.append(item_id)
        self.remove(done)
        for reason, ids in bad.items():
            self.fail(ids, reason)
        failed_ids = {i for group in bad.values() for i in group}
        return [f for f in self.failed() if f.id in failed_ids]

    # ------------------------------------------------------------------ reading

    def items(self) -> list[tuple[int, Work]]:
        """Pending work, oldest first. An item that cannot be read is marked failed."""
        if not self._exists():
            return []
        from exai_git.model import Work

        def body(conn: sqlite3.Connection) -> list[tuple[int, bytes | str]]:
            # A truncated file can open and read as garbage: check it before a replay.
            check = str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            return conn.execute("SELECT id, work FROM outbox WHERE failed IS NULL"
                                " ORDER BY id").fetchall()

        rows = self._run(body)
        out: list[tuple[int, Work]] = []
        for item_id, data in rows:
            try:
                out.append((int(item_id), Work.from_json(_decode(data))))
            except Exception as e:  # noqa: BLE001 - damaged bytes fail one item, not all
                self.fail([item_id], f"unreadable queued work ({type(e).__name__}: {e}); "
                          "`exai-git apply` its commit")
        return out

    def counts(self) -> Counts:
        if not self._exists():
            return Counts(0, 0)

        def body(conn: sqlite3.Connection) -> tuple[int, int]:
            row = conn.execute("SELECT count(*) - count(failed), count(failed) FROM outbox"
                               ).fetchone()
            return int(row[0]), int(row[1])

        pending, failed = self._run(body)
        return Counts(pending + self._pending_lines(), failed)

    def count(self) -> int:
        """Pending items (failed ones are not waiting for the database)."""
        return self.counts().pending

    def failed(self) -> list[Failed]:
        if not self._exists():
            return []

        def body(conn: sqlite3.Connection) -> list[Failed]:
            rows = conn.execute("SELECT id, sha, failed, queued_at, failed_at FROM outbox"
                                " WHERE failed IS NOT NULL ORDER BY id").fetchall()
            return [Failed(int(r[0]), r[1], r[2], float(r[3]), float(r[4] or 0))
                    for r in rows]

        return self._run(body)

    def _exists(self) -> bool:
        return self.path.exists() or self.pending_file.exists()

    def _pending_lines(self) -> int:
        """Items still in the fallback file (it could not be folded in: read-only)."""
        try:
            return len(self.pending_file.read_bytes().splitlines())
        except OSError:
            return 0


def _write(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
