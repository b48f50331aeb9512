"""Fixtures: a real PostgreSQL (one fresh database per test, dropped after) and real git
repositories in tmp dirs with a sealed environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from exai_git import seed, store
from exai_git.config import Settings

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _server_dsn() -> str:
    """The admin DSN of the server the tests use (EXAI_TEST_DSN, local, or embedded)."""
    explicit = os.environ.get("EXAI_TEST_DSN")
    if explicit:
        return explicit
    if _listening("127.0.0.1", 5432):
        return DEFAULT_TEST_DSN
    try:
        from exai_git import embedded

        return embedded.ensure_running()
    except Exception as e:  # the embedded extra may not be installed
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL for the tests: {e}", pytrace=False)
        pytest.skip(f"no PostgreSQL for the tests: {e}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def pg_server() -> str:
    dsn = _server_dsn()
    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as e:
        message = f"PostgreSQL for the tests is unreachable ({store.redact_dsn(dsn)}): {e}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return dsn


def with_database(dsn: str, dbname: str) -> str:
    if "://" in dsn:
        parts = urlsplit(dsn)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))
    return f"{dsn} dbname={dbname}"


@dataclass
class Database:
    dsn: str
    name: str

    def connect(self, **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, **kw)

    def settings(self, **kw: Any) -> Settings:
        return Settings(dsn=self.dsn, dsn_source="test", **kw)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None


@pytest.fixture
def empty_db(pg_server: str) -> Iterator[Database]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"exai_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(with_database(pg_server, name), name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A freshly migrated database."""
    with empty_db.connect() as conn:
        store.migrate(conn)
    return empty_db


@pytest.fixture
def seeded(db: Database) -> Database:
    """Migrated, with the seed's three issues and issue 1's seven-step checklist."""
    with db.connect() as conn:
        seed.load(conn)
    return db


# --------------------------------------------------------------------------- git


@pytest.fixture(scope="session")
def git_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / "template").mkdir()
    (home / "gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n\temail = test@example.com\n"
        "[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n"
    )
    return home


@pytest.fixture(autouse=True)
def sealed_env(monkeypatch: pytest.MonkeyPatch, git_home: Path, tmp_path: Path) -> None:
    """git and exai-git see only what the test gives them."""
    for var in list(os.environ):
        if var.startswith(("GIT_", "EXAI_", "PG")) or var in ("DATABASE_URL",):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(git_home / "gitconfig"))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(git_home / "template"))
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
    monkeypatch.setenv("XDG_DATA_HOME", str(git_home / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(git_home / "xdg-cache"))


def git(cwd: Path, *args: str, input: str | None = None, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, text=True, capture_output=True,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def exai(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "exai_git", *args], cwd=cwd, input=input, text=True,
        capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout,
    )


@pytest.fixture
def hooked_repo(repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the native hooks installed, on the seeded database: the file issue 2
    sits on (src/providers/async_kimi.py, lines l1..l100) and one no issue is on (other.txt)."""
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "src/providers/async_kimi.py", "".join(f"l{i}\n" for i in range(1, 101)))
    write(repo / "other.txt", "x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert exai("install", cwd=repo).returncode == 0
    return repo


# --------------------------------------------------------------------------- fault proxy


@pytest.fixture
def fault_proxy(pg_server: str) -> Iterator[Any]:
    """A FaultProxy (tests/proxy.py) on 127.0.0.1:<free port> in front of the test server:
    `proxy.dsn(db.dsn)` is a database through it, `proxy.mode = "stalled"` (up, slow,
    stalled, stall_after_startup, refusing, down) switches faults, `proxy.accepted` counts
    connections. Stopped after the test (and by itself after 10 minutes at most)."""
    from tests.proxy import FaultProxy

    parts = urlsplit(pg_server if "://" in pg_server else DEFAULT_TEST_DSN)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432, lifetime=600)
    try:
        yield proxy
    finally:
        proxy.stop()
