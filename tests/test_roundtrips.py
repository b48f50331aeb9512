"""Database round trips: a far database (Supabase) costs one network round trip per answer
waited for, so each hook asks once where it can. Counted by a proxy between hook and server."""

from __future__ import annotations

import os
import socket
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
        repo: Path, seeded: Database, proxied: tuple[CountingProxy, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
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
    # a line above issue 2's (58-60) and one inside: the scan warns, the main line's move
    # shifts the issue a line down
    text = (repo / "src/providers/async_kimi.py").read_text().replace("k59\n", "x\n")
    write(repo / "src/providers/async_kimi.py", "new\n" + text)
    git(repo, "add", "-A")
    assert counted(proxy, ["-m", "exai_git.hookmain", "pre-commit"], repo, dsn) - connect == 1
    git(repo, "commit", "-qm", "Fixes EXAI-1 step 3", env={"EXAI_GIT_SKIP": "1"})
    # post-commit reconciles in one transaction of two round trips: BEGIN, the row locks and
    # the reads (the issues the work names, the open issues the main line's move may move);
    # then the work's effects, the commit links, the locations and COMMIT
    assert counted(proxy, ["-m", "exai_git.hookmain", "post-commit"], repo, dsn) - connect == 2
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert seeded.query("SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i"
                        " ON i.id = c.issue_id WHERE i.issue_number = 1 AND c.step_number = 3"
                        ) == [("complete",)]
    assert seeded.query("SELECT line_start, line_end, anchor_sha FROM exai_issues"
                        " WHERE issue_number = 2") == [(59, 61, head)]
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links WHERE commit_sha = %s",
                         (head,)) == 1


def test_queued_work_applies_first_in_the_same_two_round_trips(
        repo: Path, seeded: Database, proxied: tuple[CountingProxy, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, dsn = proxied
    monkeypatch.setenv("EXAI_GIT_DSN", dsn)
    write(repo / "a.txt", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert exai("install", cwd=repo).returncode == 0
    connect = counted(proxy, ["-c", f"import psycopg; psycopg.connect({dsn!r}).close()"], repo,
                      dsn)
    with socket.socket() as closed:  # a port nothing listens on: the tracker is down
        closed.bind(("127.0.0.1", 0))
        down = f"postgresql://postgres@127.0.0.1:{closed.getsockname()[1]}/x"
    write(repo / "a.txt", "b\n")
    git(repo, "add", "-A")
    out = git(repo, "commit", "-qm", "Fixes EXAI-1 step 3", env={"EXAI_GIT_DSN": down})
    assert "1 commit queued" in out.stderr, out.stderr
    write(repo / "a.txt", "c\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Fixes EXAI-1 step 4", env={"EXAI_GIT_SKIP": "1"})
    assert counted(proxy, ["-m", "exai_git.hookmain", "post-commit"], repo, dsn) - connect == 2
    assert exai("sync", cwd=repo).stdout.startswith("0 queued commits replayed")  # none left
    applied = seeded.query("SELECT u.content FROM exai_issue_updates u JOIN exai_issues i"
                           " ON i.id = u.issue_id WHERE i.issue_number = 1"
                           " AND u.update_type = 'fix_applied' ORDER BY u.created_at")
    assert [c.split(": ")[-1] for (c,) in applied] == ["step 3 complete", "step 4 complete"]


def three_commits(repo: Path) -> None:
    """A base commit, then two that fix steps 2 and 3 of issue 1."""
    for n in (1, 2, 3):
        write(repo / "a.txt", f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"Fixes EXAI-1 step {n}" if n > 1 else "base")


def test_a_range_is_applied_on_one_connection(repo: Path, seeded: Database,
                                              proxied: tuple[CountingProxy, str]) -> None:
    proxy, dsn = proxied
    three_commits(repo)
    counted(proxy, ["-m", "exai_git", "apply", "HEAD~2..HEAD"], repo, dsn)  # one connection
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 2
    counted(proxy, ["-m", "exai_git", "apply", "HEAD~2..HEAD"], repo, dsn)  # linked already
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 2


def test_apply_branch_runs_on_one_connection(repo: Path, seeded: Database,
                                             proxied: tuple[CountingProxy, str]) -> None:
    proxy, dsn = proxied
    three_commits(repo)
    branch = git(repo, "branch", "--show-current").stdout.strip()
    counted(proxy, ["-m", "exai_git", "apply", "--branch", branch, "--since", "HEAD~2"], repo,
            dsn)  # one connection: the range's linked actions are asked on it too
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 2


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
