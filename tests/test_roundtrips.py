"""Database round trips: a far database (Supabase) costs one network round trip per answer
waited for, so each hook asks once where it can. Counted by a proxy between hook and server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from exai_git import store
from tests.conftest import Database, exai, git, write
from tests.roundtrips import CountingProxy


@pytest.fixture
def proxied(seeded: Database) -> Iterator[tuple[CountingProxy, str]]:
    params = conninfo_to_dict(seeded.dsn)
    proxy = CountingProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    try:
        yield proxy, make_conninfo(**{**params, "host": "127.0.0.1", "port": str(proxy.port),
                                      "sslmode": "disable"})
    finally:
        proxy.close()


def counted(proxy: CountingProxy, args: list[str], cwd: Path, dsn: str) -> int:
    """Round trips a command waited for, beyond opening and closing its connection."""
    proxy.reset()
    env = {**os.environ, "EXAI_GIT_DSN": dsn}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.2)  # the proxy's last relay
    assert proxy.connections == 1
    return proxy.trips


def test_each_hook_waits_for_the_database_as_little_as_it_can(
        repo: Path, proxied: tuple[CountingProxy, str], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, dsn = proxied
    monkeypatch.setenv("EXAI_GIT_DSN", dsn)
    write(repo / "src/providers/async_kimi.py", "".join(f"k{i}\n" for i in range(1, 101)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert exai("install", cwd=repo).returncode == 0
    connect = counted(proxy, ["-c", f"import psycopg; psycopg.connect({dsn!r}).close()"], repo,
                      dsn)
    msg = repo / "msg"
    msg.write_text("Fixes EXAI-1 step 3\n")
    assert counted(proxy, ["-m", "exai_git.hookmain", "commit-msg", str(msg)], repo,
                   dsn) - connect == 1
    text = (repo / "src/providers/async_kimi.py").read_text().replace("k59\n", "x\n")
    write(repo / "src/providers/async_kimi.py", text)
    git(repo, "add", "-A")
    assert counted(proxy, ["-m", "exai_git.hookmain", "pre-commit"], repo, dsn) - connect == 1
    git(repo, "commit", "-qm", "Fixes EXAI-1 step 3", env={"EXAI_GIT_SKIP": "1"})
    # post-commit reconciles: it replays the queue, reads with row locks, writes with the
    # commit, then moves locations when the main line moved, each still a round trip of its
    # own. Measured 7 (B5 in bench/RESULTS.md); the target is 3 (issue 14, open: pipeline
    # those steps in one transaction as `apply` pipelines batches). A ceiling, not a target.
    assert counted(proxy, ["-m", "exai_git.hookmain", "post-commit"], repo, dsn) - connect <= 7


def test_a_failure_inside_a_pipelined_transaction_rolls_it_back(seeded: Database) -> None:
    settings = seeded.settings()
    with psycopg.connect(seeded.dsn) as conn:
        cur = conn.cursor()
        with pytest.raises(psycopg.errors.UndefinedTable):
            with store.pipelined(conn, settings):
                cur.execute("UPDATE exai_issues SET title = 'changed' WHERE issue_number = 1")
                cur.execute("SELECT * FROM no_such_table")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.autocommit is False
        title = conn.execute("SELECT title FROM exai_issues WHERE issue_number = 1").fetchone()
        assert title is not None and title[0] != "changed"
        conn.rollback()
        with pytest.raises(RuntimeError):
            with store.pipelined(conn, settings):
                cur.execute("UPDATE exai_issues SET title = 'changed' WHERE issue_number = 1")
                raise RuntimeError("the caller's own failure")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        title = conn.execute("SELECT title FROM exai_issues WHERE issue_number = 1").fetchone()
        assert title is not None and title[0] != "changed"


def test_reading_commands_ask_once(repo: Path, proxied: tuple[CountingProxy, str]) -> None:
    proxy, dsn = proxied
    connect = counted(proxy, ["-c", f"import psycopg; psycopg.connect({dsn!r}).close()"], repo,
                      dsn)
    for args in (["issues", "--json"], ["issues", "--all"], ["show", "EXAI-1", "--json"],
                 ["context", "EXAI-1"], ["conv", "debb44af-15b9-456d-9b88-6a2519f81427"]):
        assert counted(proxy, ["-m", "exai_git", *args], repo, dsn) - connect == 1, args
