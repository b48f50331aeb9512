"""PostgreSQL I/O (psycopg 3): connecting, migrations, and one function per query.

Every parameter is bound. Connections use no prepared statements (they must work through
Supabase's transaction pooler) and a short connect timeout (they run inside git hooks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exai_git.errors import (
    BackedOff,
    DatabaseUnreachable,
    ExaiError,
    NoTracker,
    SchemaError,
    TrackerTimeout,
)

if TYPE_CHECKING:
    import psycopg

    from exai_git.budget import Budget
    from exai_git.config import Settings
    from exai_git.model import Effects, State, Work

MIGRATION_LOCK = 0x45584149  # "EXAI": pg_advisory_xact_lock key for db migrate
_MIGRATION_RE = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql\Z")


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

    anybytes.register(conn)  # h3: paths and messages that are not UTF-8 never fail a query
    return conn


def _check_back_off(dsn: str) -> None:
    from exai_git import budget

    ago = budget.backed_off(budget.tracker_key(dsn))
    if ago is not None:
        raise BackedOff(f"tracker at {endpoint(dsn)} not tried: it failed {ago:.0f} s ago "
                        f"(tried again {budget.BACKOFF_SECONDS:g} s after)")


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


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _sql_dir() -> Path:
    from importlib import resources  # migrations only: 7 ms that other commands skip

    packaged = Path(str(resources.files("exai_git"))) / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "sql"


def migrations() -> list[Migration]:
    """The migrations shipped with this version, in order."""
    found = []
    for path in sorted(_sql_dir().glob("*.sql")):
        match = _MIGRATION_RE.match(path.name)
        if match:
            found.append(
                Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
            )
    if not found:
        raise ExaiError(f"no migrations found in {_sql_dir()}; the installation is incomplete")
    return found


_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS exai_git_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    applied_at: Any | None  # datetime when applied
    checksum_ok: bool | None  # None when not applied or unknown to this version


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply the pending migrations in one transaction under an advisory lock.

    Two migrate runs at once: the second waits for the first, then finds nothing to do.
    """
    pending: list[Migration] = []
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute("SET LOCAL client_min_messages = warning")
        cur.execute(_CREATE_MIGRATIONS_TABLE)
        cur.execute("SELECT version FROM exai_git_migrations")
        applied = {row[0] for row in cur.fetchall()}
        known = migrations()
        newest = max(m.version for m in known)
        if applied and max(applied) > newest:
            raise SchemaError(
                f"the database schema is at version {max(applied)}, newer than this exai-git "
                f"knows ({newest}); upgrade exai-git"
            )
        for migration in known:
            if migration.version in applied:
                continue
            cur.execute(migration.sql.encode())
            cur.execute(
                "INSERT INTO exai_git_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            pending.append(migration)
    return pending


def migration_status(conn: psycopg.Connection[Any]) -> list[MigrationState]:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT to_regclass('exai_git_migrations') IS NOT NULL")
        row = cur.fetchone()
        rows: dict[int, tuple[str, str, Any]] = {}
        if row and row[0]:
            cur.execute("SELECT version, name, checksum, applied_at FROM exai_git_migrations")
            rows = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
    states = []
    known = {m.version: m for m in migrations()}
    for version in sorted(set(known) | set(rows)):
        m = known.get(version)
        if version in rows:
            name, checksum, applied_at = rows[version]
            ok = None if m is None else (checksum == m.checksum)
            states.append(MigrationState(version, name, applied_at, ok))
        else:
            assert m is not None
            states.append(MigrationState(version, m.name, None, None))
    return states


_SCHEMA_VERSION_SQL = (
    "SELECT CASE WHEN to_regclass('exai_git_migrations') IS NULL THEN -1"
    " ELSE (SELECT coalesce(max(version), 0) FROM exai_git_migrations) END AS version"
)


def require_schema(cur: psycopg.Cursor[Any]) -> None:
    """Fail with what to do when the database has no (or a too new) schema."""
    cur.execute(_SCHEMA_VERSION_SQL)
    row: Any = cur.fetchone()
    if isinstance(row, dict):
        row = [row["version"]]
    check_schema_version(row[0] if row else -1)


def check_schema_version(version: int) -> None:
    newest = max(m.version for m in migrations())
    if version < 0:
        raise SchemaError("the database has no exai-git schema; run `exai-git db migrate`")
    if version > newest:
        raise SchemaError(
            f"the database schema is at version {version}, newer than this exai-git knows "
            f"({newest}); upgrade exai-git"
        )
    if version < newest:
        raise SchemaError(
            f"the database schema is at version {version}, older than this exai-git "
            f"({newest}); run `exai-git db migrate`"
        )


# --------------------------------------------------------------------------- reading

SEVERITY_ORDER = (
    "CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3"
    " WHEN 'low' THEN 4 ELSE 5 END"
)

_PROGRESS_JOIN = """
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE c.status = 'complete')::int AS completed_steps,
           count(*)::int AS total_steps
    FROM exai_issue_checklist c WHERE c.issue_id = i.id
) p ON true
"""
# Every column of an issue, with its checklist progress as exai_active_issues gives it.
_WITH_PROGRESS = (
    "SELECT i.*, p.completed_steps, p.total_steps,"
    " CASE WHEN p.total_steps = 0 THEN 0::numeric"
    " ELSE round(100.0 * p.completed_steps / p.total_steps, 2) END AS progress_percentage"
    f" FROM exai_issues i {_PROGRESS_JOIN}"
)


def _dict_cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[dict[str, Any]]:
    from psycopg.rows import dict_row

    return conn.cursor(row_factory=dict_row)


def _read_all(conn: psycopg.Connection[Any], queries: list[tuple[str, Any]]
              ) -> list[list[dict[str, Any]]]:
    """The rows of each query, after the schema check, all asked in one round trip."""
    version = conn.cursor()
    cursors = [_dict_cursor(conn) for _ in queries]
    with pipelined(conn, None):
        version.execute(_SCHEMA_VERSION_SQL)
        for cur, (sql, params) in zip(cursors, queries):
            cur.execute(sql, params)
    row = version.fetchone()
    check_schema_version(row[0] if row else -1)
    return [cur.fetchall() for cur in cursors]


def list_issues(conn: psycopg.Connection[Any], *, include_all: bool) -> list[dict[str, Any]]:
    """Issues by severity then number: the active ones, or every one."""
    if include_all:
        sql = f"{_WITH_PROGRESS} ORDER BY {SEVERITY_ORDER}, issue_number"
    else:
        sql = f"SELECT * FROM exai_active_issues ORDER BY {SEVERITY_ORDER}, issue_number"
    return _read_all(conn, [(sql, None)])[0]


def issue_detail(conn: psycopg.Connection[Any], number: int) -> dict[str, Any]:
    """An issue with its checklist, updates (oldest first), linked commits and relations.
    One round trip: the other queries find the issue by its number themselves."""
    this = "(SELECT id FROM exai_issues WHERE issue_number = %(n)s)"
    columns = ("related_issues", "blocks_issues", "blocked_by_issues")
    found, checklist, updates, commits, *related = _read_all(conn, [
        (f"{_WITH_PROGRESS} WHERE i.issue_number = %(n)s", {"n": number}),
        (("SELECT step_number, description, status, conversation_id, completed_at"
         f" FROM exai_issue_checklist WHERE issue_id = {this} ORDER BY step_number"),
         {"n": number}),
        (("SELECT update_type, content, conversation_id, created_at FROM exai_issue_updates"
         f" WHERE issue_id = {this} ORDER BY created_at, id"), {"n": number}),
        (("SELECT commit_sha, action, steps, conversation_id, repository, subject,"
         f" committed_at, applied_at FROM exai_commit_links WHERE issue_id = {this}"
         " ORDER BY applied_at, id"), {"n": number}),
        *[(("SELECT issue_number, title, severity, status FROM exai_issues WHERE id = ANY("
           f"coalesce((SELECT {column} FROM exai_issues WHERE issue_number = %(n)s), '{{}}'))"
           " ORDER BY issue_number"), {"n": number}) for column in columns],
    ])
    if not found:
        from exai_git.errors import CheckFailed

        raise CheckFailed(f"no issue numbered {number}")
    return {"issue": found[0], "checklist": checklist, "updates": updates, "commits": commits,
            "relations": dict(zip(columns, related))}


def conversation(conn: psycopg.Connection[Any], conversation_id: str) -> dict[str, Any]:
    """Everything recorded against one conversation id, in one round trip."""
    c = {"c": conversation_id}
    issues, steps, updates, commits = _read_all(conn, [
        (("SELECT issue_number, title, severity, status, file_path, line_start, line_end,"
         " conversation_id = %(c)s AS found_here, fix_conversation_id = %(c)s AS fixed_here"
         " FROM exai_issues WHERE conversation_id = %(c)s OR fix_conversation_id = %(c)s"
         f" ORDER BY {SEVERITY_ORDER}, issue_number"), c),
        (("SELECT i.issue_number, c.step_number, c.description, c.status, c.completed_at"
         " FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
         " WHERE c.conversation_id = %(c)s ORDER BY i.issue_number, c.step_number"), c),
        (("SELECT i.issue_number, u.update_type, u.content, u.created_at"
         " FROM exai_issue_updates u JOIN exai_issues i ON i.id = u.issue_id"
         " WHERE u.conversation_id = %(c)s ORDER BY u.created_at, u.id"), c),
        (("SELECT i.issue_number, l.commit_sha, l.action, l.steps, l.subject, l.applied_at"
         " FROM exai_commit_links l JOIN exai_issues i ON i.id = l.issue_id"
         " WHERE l.conversation_id = %(c)s ORDER BY l.applied_at, l.id"), c),
    ])
    return {"conversation_id": conversation_id, "issues": issues, "steps": steps,
            "updates": updates, "commits": commits}


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class OpenIssue:
    issue_number: int
    title: str
    severity: str
    status: str
    file_path: str
    norm_path: str
    line_start: int | None
    line_end: int | None
    steps: list[list[Any]] | None = None  # [[step_number, status], ...] in order


_ISSUE_FIELDS = ("issue_number, title, severity, status, file_path,"
                 " exai_norm_path(file_path) AS norm_path, line_start, line_end")
_OPEN = "status IN ('open', 'in_progress') AND file_path IS NOT NULL"
_OPEN_PATHS = f"SELECT DISTINCT exai_norm_path(file_path) FROM exai_issues WHERE {_OPEN}"
# Per hunk, the issues whose range it overlaps (an insertion after line lo overlaps when it
# falls strictly inside: the range holds both lo and lo + 1); the GiST index on
# (path, exai_line_range) serves it. Issues without lines, and files touched whole, by path.
_TOUCHED_SQL = f"""
SELECT t.*, (SELECT coalesce(json_agg(json_build_array(c.step_number, c.status)
                                      ORDER BY c.step_number), '[]'::json)
             FROM exai_issue_checklist c JOIN exai_issues x ON x.id = c.issue_id
             WHERE x.issue_number = t.issue_number) AS steps
FROM (
SELECT {_ISSUE_FIELDS} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NULL
UNION
SELECT {_ISSUE_FIELDS} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(whole)s) AND {_OPEN}
UNION
SELECT {_ISSUE_FIELDS.replace("issue_number", "i.issue_number")}
FROM unnest(%(hp)s::text[], %(hlo)s::int[], %(hhi)s::int[], %(hk)s::int[]) AS h(path, lo, hi, kind)
JOIN LATERAL (
    SELECT * FROM exai_issues i
    WHERE exai_norm_path(i.file_path) = h.path AND {_OPEN} AND i.line_start IS NOT NULL
      AND exai_line_range(i.line_start, i.line_end) && int4range(h.lo, h.hi, '[]')
      AND (h.kind = 0 OR exai_line_range(i.line_start, i.line_end) @> int4range(h.lo, h.lo + 1, '[]'))
) i ON true
) t
ORDER BY t.issue_number
"""


def open_issues_touched(
    conn: psycopg.Connection[Any], settings: Settings, probe: Any,
    *, with_all_paths: bool = False,
) -> tuple[list[OpenIssue], bool, list[str] | None]:
    """Open issues a change may touch (the database filters by line range, so the answer
    grows with the change, not with the tracker) with their checklists, whether any open
    issue sits on the changed files at all, and (when asked) every path an open issue sits
    on. One round trip."""
    from psycopg.rows import class_row

    all_paths: list[str] | None = None
    params = {"paths": probe.paths, "whole": probe.whole, "hp": probe.hunk_path,
              "hlo": probe.hunk_lo, "hhi": probe.hunk_hi, "hk": probe.hunk_kind}
    with conn.cursor(row_factory=class_row(OpenIssue)) as cur, conn.cursor() as any_, \
            conn.cursor() as every:
        with pipelined(conn, settings):
            cur.execute(_TOUCHED_SQL, params)
            any_.execute(
                "SELECT EXISTS (SELECT 1 FROM exai_issues WHERE exai_norm_path(file_path) ="
                " ANY(%s) AND status IN ('open', 'in_progress') AND file_path IS NOT NULL)",
                (probe.paths,))
            if with_all_paths:
                every.execute(_OPEN_PATHS)
        issues = cur.fetchall()
        row = any_.fetchone()
        if with_all_paths:
            all_paths = [r[0] for r in every.fetchall()]
    return issues, bool(row and row[0]), all_paths



# --------------------------------------------------------------------------- applying

_ISSUE_COLUMNS = ("id, issue_number, status, fix_conversation_id, fix_date, file_path,"
                  " line_start, line_end, created_at")


def load_state(conn: psycopg.Connection[Any], works: Sequence[Work]) -> State:
    """Lock and read what a batch touches: the issues it names (and those its reverts
    reach), their steps and their links to these commits. Inside pipelined(), one round trip:
    the statements name each other's rows by subquery, not by earlier answers. The issues are
    locked in id order, so concurrent appliers never deadlock."""
    from exai_git.model import Issue, Link, State, Step

    reverted = sorted({s for w in works for s in w.reverts})
    # Every commit whose links the batch may read: its own, the ones it reverts, the ones it
    # is the same work as. Links undone by these (a revert's undoing, applied again when it is
    # reverted in turn), and links moved from them to an equivalent commit, come along.
    named = sorted({w.sha for w in works} | set(reverted)
                   | {e for w in works for e in w.equivalent_of})
    # Revert chains (a revert of a revert of ...): every commit they reach, both ways.
    chain = ("WITH RECURSIVE chain(sha) AS (SELECT unnest(%(named)s::text[])"
             " UNION SELECT CASE WHEN l.commit_sha = c.sha THEN l.effects->>'of'"
             "  ELSE l.commit_sha END FROM exai_commit_links l JOIN chain c"
             "  ON (l.commit_sha = c.sha OR l.undone_by = c.sha)"
             "  WHERE l.action = 'revert' AND l.effects ? 'of'),"
             # a commit that repeated another's markers (cherry-pick) leads to that one
             " same(sha) AS (SELECT jsonb_array_elements_text(effects->'same_as')"
             "  FROM exai_commit_links WHERE commit_sha = ANY(%(named)s) AND action = 'rewrite'"
             "  AND effects ? 'same_as') ")
    chosen = ("SELECT id FROM exai_issues WHERE issue_number = ANY(%(numbers)s)"
              " OR id IN (SELECT issue_id FROM exai_commit_links"
              "  WHERE commit_sha IN (SELECT sha FROM chain UNION SELECT sha FROM same))")
    params = {"numbers": sorted({a.issue for w in works for a in w.actions}),
              "named": named, "pids": sorted({w.patch_id for w in works if w.patch_id})}
    with conn.cursor() as issues_cur, conn.cursor() as steps_cur, conn.cursor() as links_cur:
        issues_cur.execute(f"{chain}SELECT {_ISSUE_COLUMNS} FROM exai_issues"
                           f" WHERE id IN ({chosen}) ORDER BY id FOR UPDATE", params)
        steps_cur.execute(
            f"{chain}SELECT issue_id, step_number, status, conversation_id, completed_at"
            f" FROM exai_issue_checklist WHERE issue_id IN ({chosen})", params)
        links_cur.execute(
            f"{chain}SELECT issue_id, commit_sha, patch_id, action, steps, effects,"
            " conversation_id, repository, subject, committed_at, undone_by, undone_why"
            f" FROM exai_commit_links WHERE issue_id IN ({chosen})"
            " AND (commit_sha IN (SELECT sha FROM chain UNION SELECT sha FROM same)"
            "  OR undone_by IN (SELECT sha FROM chain)"
            "  OR patch_id = ANY(%(pids)s) OR (effects ? 'was' AND effects->'was' ?| %(named)s)"
            "  OR (action = 'rewrite' AND commit_sha = ANY(%(named)s)))", params)
        issues = {r[1]: Issue(*r) for r in issues_cur.fetchall()}
        by_id = {i.id: i for i in issues.values()}
        for issue_id, n, status, conv, completed in steps_cur.fetchall():
            by_id[issue_id].steps[n] = Step(status, conv, completed)
        links = [Link(r[0], r[1], r[2], r[3], tuple(r[4] or ()), r[5] or {}, *r[6:])
                 for r in links_cur.fetchall()]
    return State(issues, links)


def _rows(rows: Sequence[Sequence[Any]]) -> str:
    """A batch of rows as one JSON array of arrays: one text parameter that the database
    unpacks (jsonb_array_elements), instead of a typed array per column that the driver would
    build element by element, or a statement per row (executemany)."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)  # UUID


def write_effects(conn: psycopg.Connection[Any], effects: Effects) -> None:
    """Write what engine.apply() returned: one statement per table, each row set passed as one
    JSON parameter. Inside pipelined(), no round trip of its own. Links undone are marked
    before links are written, so one undone and applied again in the batch ends in force."""
    with conn.cursor() as cur:
        if effects.undone:
            cur.execute(
                "UPDATE exai_commit_links l SET undone_by = u.v->>3, undone_why = u.v->>4,"
                " undone_at = now() FROM jsonb_array_elements(%s::jsonb) AS u(v)"
                " WHERE l.issue_id = (u.v->>0)::uuid AND l.commit_sha = u.v->>1"
                " AND l.action = u.v->>2",
                (_rows([(lk.issue_id, lk.sha, lk.action, lk.undone_by, lk.undone_why)
                        for lk in effects.undone]),))
        if effects.issues:
            cur.execute(
                "UPDATE exai_issues i SET status = u.v->>1, fix_conversation_id = u.v->>2,"
                " fix_date = (u.v->>3)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v) WHERE i.id = (u.v->>0)::uuid",
                (_rows([(i.id, i.status, i.fix_conversation_id, i.fix_date)
                        for i in effects.issues]),))
        if effects.steps:
            cur.execute(
                "UPDATE exai_issue_checklist c SET status = u.v->>2, conversation_id = u.v->>3,"
                " completed_at = (u.v->>4)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v)"
                " WHERE c.issue_id = (u.v->>0)::uuid AND c.step_number = (u.v->>1)::int",
                (_rows([(i, n, s.status, s.conversation_id, s.completed_at)
                        for i, n, s in effects.steps]),))
        if effects.updates:
            cur.execute(
                "INSERT INTO exai_issue_updates (issue_id, update_type, content, conversation_id,"
                " created_at)"
                " SELECT u.issue_id, u.kind, u.content, u.conv,"
                " coalesce(last.at, u.at) + make_interval(secs => u.seq * 1e-6)"
                " FROM (SELECT (v->>0)::uuid AS issue_id, v->>1 AS kind, v->>2 AS content,"
                "  v->>3 AS conv, (v->>4)::timestamptz AS at, (v->>5)::int AS seq, ord"
                "  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord)) u"
                # git dates commits to the second: an earlier commit's rows in the same second
                # stay before this one's
                " LEFT JOIN LATERAL (SELECT max(x.created_at) AS at FROM exai_issue_updates x"
                "  WHERE x.issue_id = u.issue_id AND x.created_at >= u.at"
                "  AND x.created_at < u.at + interval '1 second') last ON true"
                " ORDER BY u.ord",
                (_rows([(u.issue_id, u.kind, u.content, u.conversation_id, u.at, u.seq)
                        for u in effects.updates]),))
        if effects.links:
            cur.execute(
                "INSERT INTO exai_commit_links (issue_id, commit_sha, patch_id, action, steps,"
                " conversation_id, repository, subject, committed_at, effects, undone_by,"
                " undone_why, undone_at)"
                " SELECT (v->>0)::uuid, v->>1, v->>2, v->>3,"
                " (v->>4)::int[], v->>5, v->>6, v->>7,"
                " (v->>8)::timestamptz, v->9, v->>10, v->>11,"
                " CASE WHEN v->>10 IS NOT NULL THEN now() END"
                " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord) ORDER BY ord"
                # a link in force is never written over; an undone one is, when its commit
                # applies again (landed again, or a revert of its revert)
                " ON CONFLICT ON CONSTRAINT exai_commit_links_once DO UPDATE SET"
                " patch_id = EXCLUDED.patch_id, steps = EXCLUDED.steps,"
                " conversation_id = EXCLUDED.conversation_id, effects = EXCLUDED.effects,"
                " applied_at = now(), undone_by = EXCLUDED.undone_by,"
                " undone_why = EXCLUDED.undone_why, undone_at = EXCLUDED.undone_at"
                " WHERE exai_commit_links.undone_by IS NOT NULL",
                (_rows([(lk.issue_id, lk.sha, lk.patch_id, lk.action,
                         "{" + ",".join(map(str, lk.steps)) + "}",  # an int[] literal
                         lk.conversation_id, lk.repository, lk.subject, lk.committed_at,
                         lk.effects, lk.undone_by, lk.undone_why) for lk in effects.links]),))


def issues_to_check(conn: psycopg.Connection[Any], numbers: Sequence[int],
                    settings: Settings) -> dict[int, tuple[str, dict[int, str]]]:
    """{issue number: (status, {step: status})} of those of numbers that exist, as
    engine.check_known() takes them. One round trip."""
    with conn.cursor() as cur:
        with pipelined(conn, settings):
            cur.execute(
                "SELECT i.issue_number, i.status, coalesce(array_agg(c.step_number ORDER BY"
                " c.step_number) FILTER (WHERE c.step_number IS NOT NULL), '{}'),"
                " coalesce(array_agg(c.status ORDER BY c.step_number)"
                " FILTER (WHERE c.step_number IS NOT NULL), '{}')"
                " FROM exai_issues i LEFT JOIN exai_issue_checklist c ON c.issue_id = i.id"
                " WHERE i.issue_number = ANY(%s) GROUP BY i.issue_number, i.status",
                (sorted(numbers),))
        return {r[0]: (r[1], dict(zip(r[2], r[3]))) for r in cur.fetchall()}


def linked_actions(conn: psycopg.Connection[Any], shas: Sequence[str]
                   ) -> dict[str, set[tuple[int, str]]]:
    """(issue number, action) already linked to each of shas."""
    if not shas:
        return {}
    out: dict[str, set[tuple[int, str]]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT l.commit_sha, i.issue_number, l.action FROM exai_commit_links l"
                    " JOIN exai_issues i ON i.id = l.issue_id WHERE l.commit_sha = ANY(%s)",
                    (list(shas),))
        for sha, number, action in cur.fetchall():
            out.setdefault(sha, set()).add((number, action))
    return out


# --------------------------------------------------------------------------- branch heads


def lock_branch_head(cur: psycopg.Cursor[Any], repository: str, branch: str, wait: float,
                     settings: Settings) -> str | None:
    """Inside a transaction: wait (at most `wait` seconds) for the advisory lock of this
    repository and branch, so two `apply --branch` runs never interleave, then read the head
    recorded for them. The transaction's own timeouts apply again afterwards."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (str(int(wait * 1000)),))
    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(wait * 1000)),))
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('exai-git apply --branch'), hashtext(%s))",
                (f"{repository}\n{branch}",))
    set_timeouts(cur, settings)
    cur.execute("SELECT sha FROM exai_branch_heads WHERE repository = %s AND branch = %s",
                (repository, branch))
    row = cur.fetchone()
    return str(row[0]) if row else None


def record_branch_head(cur: psycopg.Cursor[Any], repository: str, branch: str, sha: str) -> None:
    cur.execute(
        "INSERT INTO exai_branch_heads (repository, branch, sha) VALUES (%s, %s, %s)"
        " ON CONFLICT (repository, branch) DO UPDATE SET sha = EXCLUDED.sha, updated_at = now()",
        (repository, branch, sha))


# --------------------------------------------------------------------------- locations
# (v2 locations: an issue's lines are lines at its anchor commit; locations.py is the glue)


@dataclass(frozen=True)
class AnchoredIssue(OpenIssue):
    anchor_sha: str | None = None


# The scanner's query (_TOUCHED_SQL) with the anchor, plus: issues on the changed files whose
# anchor is another commit than the one compared against, whatever their stored lines, since
# those lines are mapped to that commit before they are compared.
_ANCHORED = _ISSUE_FIELDS + ", anchor_sha"
_TOUCHED_AT_SQL = f"""
SELECT t.*, (SELECT coalesce(json_agg(json_build_array(c.step_number, c.status)
                                      ORDER BY c.step_number), '[]'::json)
             FROM exai_issue_checklist c JOIN exai_issues x ON x.id = c.issue_id
             WHERE x.issue_number = t.issue_number) AS steps
FROM (
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NULL
UNION
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(whole)s) AND {_OPEN}
UNION
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NOT NULL
  AND anchor_sha IS NOT NULL AND anchor_sha <> %(base)s::text
UNION
SELECT {_ANCHORED.replace("issue_number", "i.issue_number")}
FROM unnest(%(hp)s::text[], %(hlo)s::int[], %(hhi)s::int[], %(hk)s::int[]) AS h(path, lo, hi, kind)
JOIN LATERAL (
    SELECT * FROM exai_issues i
    WHERE exai_norm_path(i.file_path) = h.path AND {_OPEN} AND i.line_start IS NOT NULL
      AND exai_line_range(i.line_start, i.line_end) && int4range(h.lo, h.hi, '[]')
      AND (h.kind = 0 OR exai_line_range(i.line_start, i.line_end) @> int4range(h.lo, h.lo + 1, '[]'))
) i ON true
) t
ORDER BY t.issue_number
"""


def open_issues_touched_at(
    conn: psycopg.Connection[Any], settings: Settings, probe: Any, base: str | None,
    *, with_all_paths: bool = False,
) -> tuple[list[AnchoredIssue], bool, list[str] | None]:
    """open_issues_touched(), with each issue's anchor, and with every issue on the changed
    files whose anchor is not base (their lines are mapped to base by the caller)."""
    from psycopg.rows import class_row

    params = {"paths": probe.paths, "whole": probe.whole, "hp": probe.hunk_path,
              "hlo": probe.hunk_lo, "hhi": probe.hunk_hi, "hk": probe.hunk_kind, "base": base}
    all_paths: list[str] | None = None
    with conn.cursor(row_factory=class_row(AnchoredIssue)) as cur, conn.cursor() as any_, \
            conn.cursor() as every:
        with pipelined(conn, settings):
            cur.execute(_TOUCHED_AT_SQL, params)
            any_.execute(
                "SELECT EXISTS (SELECT 1 FROM exai_issues WHERE exai_norm_path(file_path) ="
                f" ANY(%s) AND {_OPEN})", (probe.paths,))
            if with_all_paths:
                every.execute(_OPEN_PATHS)
        issues = cur.fetchall()
        row = any_.fetchone()
        if with_all_paths:
            all_paths = [r[0] for r in every.fetchall()]
    return issues, bool(row and row[0]), all_paths


@dataclass(frozen=True)
class Located:
    id: Any  # uuid
    issue_number: int
    file_path: str
    line_start: int | None
    line_end: int | None
    anchor_sha: str | None


def locations_to_move(conn: psycopg.Connection[Any], new_head: str, old_head: str | None,
                      changed: Sequence[str] | None) -> list[Located]:
    """Open issues with a file whose anchor is not new_head, locked (id order) for the move.
    When changed (the normalised old-side paths of old_head..new_head) is given, the issues
    anchored at old_head (or not at all) on other files are first re-anchored at new_head
    in the database, unread: their lines are the same there."""
    with conn.cursor() as cur:
        if changed is not None and old_head:
            cur.execute(
                f"UPDATE exai_issues SET anchor_sha = %s WHERE {_OPEN}"
                " AND (anchor_sha = %s OR anchor_sha IS NULL)"
                " AND exai_norm_path(file_path) <> ALL(%s)", (new_head, old_head, list(changed)))
        cur.execute(
            "SELECT id, issue_number, file_path, line_start, line_end, anchor_sha"
            f" FROM exai_issues WHERE {_OPEN} AND anchor_sha IS DISTINCT FROM %s"
            " ORDER BY id FOR UPDATE", (new_head,))
        return [Located(*r) for r in cur.fetchall()]


def write_locations(conn: psycopg.Connection[Any], rows: Sequence[Located],
                    comments: Sequence[tuple[Any, str]]) -> None:
    """Set each row's location and anchor, and add the comment update rows: one statement
    each, every row set one JSON parameter."""
    with conn.cursor() as cur:
        if rows:
            cur.execute(
                "UPDATE exai_issues i SET file_path = u.v->>1, line_start = (u.v->>2)::int,"
                " line_end = (u.v->>3)::int, anchor_sha = u.v->>4"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v) WHERE i.id = (u.v->>0)::uuid",
                (_rows([(r.id, r.file_path, r.line_start, r.line_end, r.anchor_sha)
                        for r in rows]),))
        if comments:
            cur.execute(
                "INSERT INTO exai_issue_updates (issue_id, update_type, content)"
                " SELECT (v->>0)::uuid, 'comment', v->>1"
                " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord)"
                " ORDER BY ord", (_rows(list(comments)),))


def anchor_unanchored(conn: psycopg.Connection[Any], head: str) -> int:
    """Anchor the open issues filed without an anchor (by SQL) at head; how many."""
    with conn.cursor() as cur:
        cur.execute(f"WITH u AS (UPDATE exai_issues SET anchor_sha = %s WHERE anchor_sha IS NULL"
                    f" AND {_OPEN} RETURNING 1) SELECT count(*) FROM u", (head,))
        row = cur.fetchone()
        return int(row[0]) if row else 0


# --------------------------------------------------------------------------- by hand (w5)
# The write commands (new, step, note, mark): hand.py runs them in one transaction each.

if TYPE_CHECKING:
    from exai_git.model import Issue


def issue_for_edit(conn: psycopg.Connection[Any], number: int
                   ) -> tuple[Issue, dt.datetime]:
    """Lock issue number and read it with its checklist, and the transaction's now() (the
    time a hand change records); CheckFailed when there is no such issue."""
    from exai_git.errors import CheckFailed
    from exai_git.model import Issue, Step

    with conn.cursor() as cur:
        require_schema(cur)
        cur.execute(f"SELECT {_ISSUE_COLUMNS}, now() FROM exai_issues WHERE issue_number = %s"
                    " FOR UPDATE", (number,))
        row = cur.fetchone()
        if row is None:
            raise CheckFailed(f"no issue numbered {number}")
        issue = Issue(*row[:-1])
        cur.execute("SELECT step_number, status, conversation_id, completed_at"
                    " FROM exai_issue_checklist WHERE issue_id = %s ORDER BY step_number",
                    (issue.id,))
        for n, status, conv, completed in cur.fetchall():
            issue.steps[n] = Step(status, conv, completed)
    return issue, row[-1]


def add_step(conn: psycopg.Connection[Any], issue_id: Any, number: int,
             description: str) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                    " VALUES (%s, %s, %s)", (issue_id, number, description))


def file_issue(conn: psycopg.Connection[Any], fields: dict[str, Any], steps: Sequence[str],
               filed: str, anchor_sha: str | None) -> int:
    """Insert an issue (status open), its location's anchor commit (migration 007), its steps
    1..n (pending) and a comment row `filed` with its conversation; its issue number. Call
    inside a transaction."""
    columns = ["title", "description", "severity", "category", "file_path", "line_start",
               "line_end", "conversation_id", "anchor_sha"]
    values = [*(fields.get(c) for c in columns[:-1]), anchor_sha]
    with conn.cursor() as cur:
        require_schema(cur)
        cur.execute(f"INSERT INTO exai_issues ({', '.join(columns)})"  # names are fixed above
                    f" VALUES ({', '.join(['%s'] * len(values))}) RETURNING id, issue_number",
                    values)
        row = cur.fetchone()
        assert row is not None
        issue_id, number = row
        if steps:
            cur.execute("INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                        " SELECT %s, n, d FROM unnest(%s::text[]) WITH ORDINALITY AS s(d, n)",
                        (issue_id, list(steps)))
        cur.execute("INSERT INTO exai_issue_updates (issue_id, update_type, content,"
                    " conversation_id) VALUES (%s, 'comment', %s, %s)",
                    (issue_id, filed, fields.get("conversation_id")))
    return int(number)
