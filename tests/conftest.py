"""Fixtures: a real PostgreSQL (one fresh database per test, dropped after) and real git
repositories in tmp dirs with a sealed environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
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


# A bare remote and its clones: the base commit is dated before every commit a test makes
# (tests that date their commits count up from 1_700_000_000).
BASE_DATE = "1690000000 +0000"


def bare_remote(where: Path, files: Mapping[str, str] | None = None) -> Path:
    """A bare repository where/remote.git whose main holds one commit, "base", adding files
    ({path: text}), pushed from a clone in where/seed; with files None, empty."""
    remote = where / "remote.git"
    git(where, "init", "-q", "--bare", "-b", "main", str(remote))
    if files is None:
        return remote
    seed = clone_repo(remote, "seed")
    git(seed, "checkout", "-q", "-b", "main")
    for name, text in files.items():
        write(seed / name, text)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "base",
        env={"GIT_AUTHOR_DATE": BASE_DATE, "GIT_COMMITTER_DATE": BASE_DATE})
    git(seed, "push", "-q", "origin", "main")
    return remote


def clone_repo(remote: Path, name: str, *, hooks: bool = False) -> Path:
    """A clone of remote beside it, remote.parent/name; with hooks, the native hooks
    installed (`exai-git install`)."""
    path = remote.parent / name
    git(remote.parent, "clone", "-q", str(remote), str(path))
    if hooks:
        done = exai("install", cwd=path)
        assert done.returncode == 0, done.stdout + done.stderr
    return path


class TrackerReads:
    """What the tracker says, for a test's clone of a repository (self.db: its database)."""

    db: Database

    def status(self, number: int) -> str:
        return str(self.db.scalar("SELECT status FROM exai_issues WHERE issue_number = %s",
                                  (number,)))

    def steps(self) -> str:
        """Issue 1's checklist, one letter a step: p(ending) i(n progress) c(omplete)."""
        rows = self.db.query(
            "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
            " WHERE i.issue_number = 1 ORDER BY c.step_number")
        return "".join(r[0][0] for r in rows)

    def fix_conv(self, number: int) -> Any:
        return self.db.scalar(
            "SELECT fix_conversation_id FROM exai_issues WHERE issue_number = %s", (number,))

    def updates(self) -> list[str]:
        return [r[0] for r in self.db.query(
            "SELECT content FROM exai_issue_updates ORDER BY created_at, id")]


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


# --------------------------------------------------------------------------- pgbouncer
# A real pgbouncer in transaction pooling mode (as Supabase's pooler runs) in front of the
# test server: `pgbouncer` is the running instance, `pooled` a seeded database reached
# through it. Started on a free port in a tmp dir, stopped at the end of the session.


@dataclass
class Pgbouncer:
    host: str
    port: int
    log: Path

    def dsn(self, dbname: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pgbouncer(pg_server: str) -> Iterator[Pgbouncer]:
    import shutil
    import tempfile
    import time

    from psycopg.conninfo import conninfo_to_dict

    binary = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None)
    if binary is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = conninfo_to_dict(pg_server)
    host, port = str(server.get("host") or "127.0.0.1"), str(server.get("port") or 5432)
    user = str(server.get("user") or "postgres")
    # a directory pgbouncer's own user can enter: it refuses to run as root and drops to
    # the user named in its configuration
    work = Path(tempfile.mkdtemp(prefix="exai-pgbouncer-"))
    work.chmod(0o777)
    listen = _free_port()
    ini = work / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={host} port={port} user={user}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {work / 'users.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 200\ndefault_pool_size = 4\nmax_db_connections = 8\n"
        "server_idle_timeout = 10\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        + ("user = postgres\n" if os.geteuid() == 0 else "")
    )
    (work / "users.txt").write_text(f'"{user}" ""\n')
    for path in work.iterdir():
        path.chmod(0o644)
    log = work / "pgbouncer.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([binary, str(ini)], stdout=out, stderr=subprocess.STDOUT,
                                cwd=work)
    try:
        for _ in range(100):
            if proc.poll() is not None or _listening("127.0.0.1", listen):
                break
            time.sleep(0.05)
        if proc.poll() is not None or not _listening("127.0.0.1", listen):
            pytest.fail(f"pgbouncer did not start:\n{log.read_text()}", pytrace=False)
        yield Pgbouncer("127.0.0.1", listen, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def pooled(seeded: Database, pgbouncer: Pgbouncer) -> Database:
    """The seeded database, reached through pgbouncer in transaction pooling mode."""
    return Database(pgbouncer.dsn(seeded.name), seeded.name)


# --------------------------------------------------------------------------- hook frameworks
# `hook_repo`: a git clone of this project's working tree (tracked and new files, as they are
# now), tagged v<version> as a release is, for .pre-commit-config.yaml's `repo:`.
# `frameworks_path`: PATH with this interpreter's bin/ first (pre-commit, prek, exai-git-hook).


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import shutil

    try:  # Python 3.11+
        import tomllib
    except ImportError:  # pragma: no cover
        import tomli as tomllib
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    dest = tmp_path_factory.mktemp("exai-git-src") / "exai-git"
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not name.endswith(".so"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "snapshot"],
                 ["tag", f"v{version}"]):
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)
    return dest, f"v{version}"


@pytest.fixture
def frameworks_path(monkeypatch: pytest.MonkeyPatch) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    return path


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
