"""A psycopg connection bounded by a budget (budget.py): connecting, and every wait for an
answer after, ends by the budget's deadline; past it the connection is closed and
TrackerTimeout raised. A timeout on either side (the client's deadline, the server's
statement or lock timeout) sets the tracker's back-off.

Imported by store.connect only: it imports psycopg.
"""

from __future__ import annotations

import math
import threading
from types import TracebackType
from typing import Any

import psycopg

from exai_git import budget
from exai_git.budget import Budget
from exai_git.errors import TrackerTimeout


class GuardedConnection(psycopg.Connection[Any]):
    exai_budget: Budget | None = None
    exai_backoff_key: str | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.exai_budget
        if limit is None or self.closed:
            return super().wait(gen, interval, timeout)
        left = limit.remaining()
        if left > 0:
            try:
                return super().wait(gen, interval,
                                    left if timeout is None else min(timeout, left))
            except psycopg.OperationalError as e:
                if type(e).__name__ != "_WaitTimeout":  # psycopg's own, not exported
                    raise
        self.close()  # mid-answer: nothing more can be said on this connection
        self.back_off()
        raise TrackerTimeout(f"tracker did not answer within {budget.said(limit.seconds)}")

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(e, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)):
            self.back_off()  # the server's timeout, within the budget: a timeout all the same
        super().__exit__(et, e, tb)

    def back_off(self) -> None:
        if self.exai_backoff_key is not None:
            budget.back_off(self.exai_backoff_key)


def open_within(dsn: str, seconds: float, limit: Budget, key: str) -> GuardedConnection:
    """Connect within seconds. libpq counts whole seconds, 2 at least: the attempt runs in a
    thread that is left behind when the time is up (and closes what it gets then). TCP
    keepalives and a TCP user timeout end a connection whose peer vanished."""
    result: list[GuardedConnection | BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            got: GuardedConnection | BaseException = GuardedConnection.connect(
                dsn, connect_timeout=max(2, math.ceil(seconds)), prepare_threshold=None,
                application_name="exai-git", keepalives=1,
                keepalives_idle=max(1, math.ceil(limit.seconds / 2)), keepalives_interval=1,
                keepalives_count=3, tcp_user_timeout=max(1, int(limit.seconds * 1000)))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            got = e
        with lock:
            if result and isinstance(got, GuardedConnection):
                got.close()  # too late: the caller gave up on it
            result.append(got)

    worker = threading.Thread(target=attempt, name="exai-git connect", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    with lock:
        if not result:
            result.append(psycopg.errors.ConnectionTimeout("connection timeout expired"))
        got = result[0]
    if isinstance(got, BaseException):
        raise got
    got.exai_budget = limit
    got.exai_backoff_key = key
    return got
