"""The schema: the migrations in sql/ (applied in order, each once, under an advisory lock,
their checksums kept) and the check every command makes that the database has this
version of it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exai_git.errors import ExaiError, SchemaError

if TYPE_CHECKING:
    import psycopg

MIGRATION_LOCK = 0x45584149  # "EXAI": pg_advisory_xact_lock key for db migrate
_MIGRATION_RE = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql\Z")


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
    return Path(__file__).resolve().parents[2] / "sql"


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
