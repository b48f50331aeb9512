"""Connecting: DSNs and their redaction, connect, pipelines, transactions, timeouts."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from exai_git.errors import (
    BackedOff,
    DatabaseUnreachable,
    ExaiError,
    NoTracker,
    TrackerTimeout,
)

if TYPE_CHECKING:
    import psycopg

    from exai_git.budget import Budget
    from exai_git.config import Settings


# --------------------------------------------------------------------------- connecting


def redact_dsn(dsn: str) -> str:
    """The connection string with any password replaced by ***."""
    if not dsn:
        return "(libpq defaults)"
    out = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", dsn)
    out = re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", out)
    return out


def _password_of(dsn: str) -> str | None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        match = re.search(r"://[^:/@]*:([^@/]*)@", dsn)
        return match.group(1) if match else None
    return str(value) if value else None


def scrub(text: str, dsn: str | None) -> str:
    """text with the DSN's password (plain and URL-encoded) removed."""
    if not dsn:
        return text
    password = _password_of(dsn)
    if password:
        from urllib.parse import quote

        for form in {password, quote(password, safe="")}:
            if len(form) >= 1:
                text = text.replace(form, "***")
    return text


def endpoint(dsn: str) -> str:
    """host:port the DSN points at, for error messages (never the password)."""
    from exai_git.budget import cheap_params

    params: dict[str, Any] | None = cheap_params(dsn)
    if params is None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(dsn)
        except psycopg.Error:
            return "(unparsable connection string)"
    import os

    host = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    if not host or host.startswith("/"):
        return f"{host or 'local socket'} port {port}"
    return f"{host}:{port}"


def _reason(message: str) -> str:
    """The useful part of a libpq connection error."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    first = lines[0]
    match = re.search(r".*failed: (.*)$", first)
    reason = match.group(1) if match else first
    return reason.rstrip(".")


def connect(settings: Settings, *, dsn: str | None = None) -> psycopg.Connection[Any]:
    """Open a connection for settings, bounded by the budget (budget.py): a hook gets what is
    left of hook_timeout for connecting and for every answer after; a command gets
    hook_timeout for each. A hook whose tracker failed to answer moments ago does not try it
    (BackedOff); a hook with no database configured never uses the embedded one (NoTracker).
    """
    from exai_git import budget

    if dsn is None:
        dsn = settings.dsn
    if dsn is None:
        if budget.in_hook():
            raise NoTracker(NO_TRACKER)
        from exai_git import embedded

        _say_embedded_once()
        dsn = embedded.ensure_running()
    limit = budget.current(settings.hook_timeout)
    if budget.in_hook() and budget.cheap_params(dsn) is not None:
        _check_back_off(dsn)  # before psycopg is even imported: a hook that backs off is cheap
    import psycopg

    from exai_git import deadline

    try:
        from psycopg.conninfo import conninfo_to_dict

        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        raise ExaiError(
            f"the database connection string is not valid: {scrub(str(e), dsn)}"
        ) from None
    key = budget.tracker_key(dsn)
    if budget.in_hook():
        _check_back_off(dsn)
    seconds = min(settings.connect_timeout, limit.remaining())
    try:
        conn = deadline.open_within(dsn, seconds, limit, key)
    except psycopg.OperationalError as e:
        budget.back_off(key)
        reason = scrub(_reason(str(e)), dsn)
        if isinstance(e, psycopg.errors.ConnectionTimeout) or reason.endswith("timeout expired"):
            said = limit.seconds if budget.in_hook() else seconds
            raise TrackerTimeout(_did_not_answer(said, dsn)) from None
        raise DatabaseUnreachable(
            f"cannot reach the database at {endpoint(dsn)} ({reason})"
        ) from None
    if not budget.in_hook():
        budget.clear(key)
    from exai_git import anybytes

    anybytes.register(conn)  # paths and messages that are not UTF-8 never fail a query
    return conn


def _check_back_off(dsn: str) -> None:
    from exai_git import budget

    ago = budget.backed_off(budget.tracker_key(dsn))
    if ago is not None:  # hooks leave it alone for BACKOFF_SECONDS after a failure
        left = max(1, math.ceil(budget.BACKOFF_SECONDS - ago))
        raise BackedOff(f"tracker at {endpoint(dsn)} not tried: it failed {ago:.0f} s ago "
                        f"(hooks try it again in {left} s)")


NO_TRACKER = ("no tracker is configured (set EXAI_GIT_DSN or DATABASE_URL, or dsn in "
              ".exai-git.toml)")
_said_embedded: list[bool] = []


def _say_embedded_once() -> None:
    """A command on the embedded default says so, once (DESIGN.md, "Command line")."""
    if not _said_embedded:
        _said_embedded.append(True)
        import sys

        print("exai-git: no database configured (--dsn, EXAI_GIT_DSN, DATABASE_URL, PG*); "
              "using the embedded default", file=sys.stderr)


def _did_not_answer(seconds: float, dsn: str) -> str:
    from exai_git.budget import said

    return f"tracker at {endpoint(dsn)} did not answer within {said(round(seconds, 1))}"


@contextlib.contextmanager
def pipelined(conn: psycopg.Connection[Any], settings: Settings | None) -> Iterator[None]:
    """A transaction whose statements travel together (pipeline): BEGIN, the timeouts, what
    the block executes and COMMIT go out at once and are answered at once, a single round trip
    unless the block fetches a result midway (each fetch waits for one answer). Read the
    block's cursors after it. A failure rolls it back."""
    from psycopg import pq

    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        # inside the caller's transaction: a savepoint (psycopg's block), more round trips
        with conn.transaction(), conn.pipeline(), conn.cursor() as control:
            if settings is not None:
                set_timeouts(control, settings)
            yield
        return
    with pipeline(conn), transaction(conn, settings):
        yield


@contextlib.contextmanager
def pipeline(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Pipeline mode for transaction() blocks: what they send goes out at once, and the block
    waits at its end for every answer not fetched yet (the last COMMIT). A failure rolls back
    the transaction left open. The connection must be idle."""
    import psycopg
    from psycopg import pq

    idle = pq.TransactionStatus.IDLE
    saved = conn.autocommit
    conn.autocommit = True  # psycopg then adds no BEGIN of its own
    try:
        # Entered and left by hand: leaving psycopg's pipeline after the block failed can fail
        # too (the same server error again, or a connection the deadline closed), and psycopg
        # would log that as "error ignored terminating <psycopg.Pipeline ...>". Left as if
        # the block had ended well, it raises instead, and the block's error is the one said.
        entered = conn.pipeline()
        entered.__enter__()
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg.Error, ExaiError):
                entered.__exit__(None, None, None)
            raise
        entered.__exit__(None, None, None)
    except BaseException:
        if not conn.closed and conn.info.transaction_status != idle:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
        raise
    finally:
        if not conn.closed and conn.info.transaction_status == idle:
            conn.autocommit = saved


@contextlib.contextmanager
def transaction(conn: psycopg.Connection[Any], settings: Settings | None) -> Iterator[None]:
    """BEGIN, the timeouts, the block's statements and COMMIT, inside pipeline(); nothing waits
    for the COMMIT here (the next fetch, or the end of pipeline(), does). BEGIN and COMMIT
    are sent as statements: psycopg's own transaction blocks wait for their answers inside a
    pipeline, two more round trips each time."""
    with conn.cursor() as control:
        control.execute("BEGIN")
        if settings is not None:
            set_timeouts(control, settings)
        try:
            yield
        except BaseException:
            if not conn.closed:  # a connection the deadline closed has nothing to roll back
                with contextlib.suppress(Exception):
                    control.execute("ROLLBACK")
            raise
        control.execute("COMMIT")


def set_timeouts(cur: psycopg.Cursor[Any], settings: Settings) -> None:
    """Queue this transaction's statement and lock timeouts (no round trip in a pipeline): in a
    hook, within what is left of its budget, so the server gives up (and says why) before the
    client's deadline closes the connection."""
    seconds = settings.statement_timeout
    limit: Budget | None = getattr(cur.connection, "exai_budget", None)
    if limit is not None and limit.total:
        seconds = min(seconds, limit.remaining() * 0.8)
    ms = str(max(1, int(seconds * 1000)))
    cur.execute(
        "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
        (ms, ms),
    )
