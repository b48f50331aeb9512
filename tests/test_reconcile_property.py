"""The property behind "landing is reconciliation": after any sequence of commits, amends,
branch commits, merges and resets on main, each followed by a reconciliation, the tracker
says what applying main's whole history from scratch, oldest first, says."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exai_git.backfill import apply_revs
from exai_git.reconcile import reconcile
from exai_git.repo import Repo
from tests.conftest import Database, git, with_database, write

MESSAGES = ["plain", "Fixes EXAI-1 step 1", "Fixes EXAI-1 step 2", "Fixes EXAI-1 steps 1, 3",
            "Fixes EXAI-2", "Refs EXAI-2", "Refs EXAI-3", "Starts EXAI-1 step 4",
            "Fixes EXAI-3", "Fixes EXAI-1 step 3\nRefs EXAI-2"]
msg = st.sampled_from(MESSAGES)
OPS = st.one_of(
    st.tuples(st.just("commit"), msg),
    st.tuples(st.just("amend"), msg),
    st.tuples(st.just("branch"), msg),  # a commit on feat (from main), held
    st.tuples(st.just("merge"), msg),  # merge feat into main with its own message
    st.tuples(st.just("reset"), st.integers(1, 2)),
)


def state(dsn: str) -> Any:
    with psycopg.connect(dsn) as conn:
        issues = conn.execute("SELECT issue_number, status, fix_conversation_id IS NULL"
                              " FROM exai_issues ORDER BY 1").fetchall()
        steps = conn.execute(
            "SELECT i.issue_number, c.step_number, c.status FROM exai_issue_checklist c"
            " JOIN exai_issues i ON i.id = c.issue_id ORDER BY 1, 2").fetchall()
    return issues, steps


def reset_tracker(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE exai_commit_links, exai_issue_updates")
        conn.execute("UPDATE exai_issue_checklist SET status = 'pending', completed_at = NULL,"
                     " conversation_id = NULL")
        conn.execute("UPDATE exai_issues SET status = 'open', fix_date = NULL,"
                     " fix_conversation_id = NULL")


@pytest.fixture
def scratch(seeded: Database, pg_server: str) -> Iterator[Database]:
    """A second seeded database on the same server, for the from-scratch application."""
    from exai_git import seed, store

    name = f"{seeded.name}_scratch"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        db = Database(with_database(pg_server, name), name)
        with db.connect() as conn:
            store.migrate(conn)
            seed.load(conn)
        yield db
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=7))
def test_tracker_equals_main_history_applied_from_scratch(
        seeded: Database, scratch: Database, ops: list[tuple[str, Any]]) -> None:
    reset_tracker(seeded.dsn)
    tmp = Path(tempfile.mkdtemp(prefix="exai-prop-"))
    clock = [1_700_000_000]

    def g(*args: str) -> str:
        clock[0] += 60
        date = f"{clock[0]} +0000"
        return git(tmp, *args, env={"GIT_AUTHOR_DATE": date,
                                    "GIT_COMMITTER_DATE": date}).stdout.strip()

    def commit(message: str) -> None:
        write(tmp / f"f{clock[0]}.txt", f"{message}\n{clock[0]}\n")
        g("add", "-A")
        g("commit", "-q", "-m", f"work\n\n{message}")

    said: list[str] = []
    try:
        g("init", "-q", "-b", "main")
        commit("base")
        base = g("rev-parse", "HEAD")
        rec = Repo(tmp)
        reconcile(rec, seeded.settings(), hook=None, say=said.append)
        for op, arg in ops:
            if op == "commit":
                commit(arg)
            elif op == "amend":
                if g("rev-parse", "HEAD") == base:
                    continue
                g("commit", "-q", "--amend", "-m", f"work\n\n{arg}")
            elif op == "branch":
                g("checkout", "-q", "-B", "feat", "main")
                commit(arg)
                g("checkout", "-q", "main")
            elif op == "merge":
                if git(tmp, "rev-parse", "--verify", "-q", "feat", check=False).returncode:
                    continue
                g("merge", "-q", "--no-ff", "-m", f"merge\n\n{arg}", "feat")
                g("branch", "-q", "-D", "feat")
            elif op == "reset":
                count = int(g("rev-list", "--count", f"{base}..HEAD", "--first-parent"))
                if count < arg:
                    continue
                g("reset", "-q", "--hard", f"HEAD~{arg}")
            reconcile(rec, seeded.settings(), hook=None, say=said.append)
            reset_tracker(scratch.dsn)
            if g("rev-parse", "HEAD") != base:
                apply_revs(rec, f"{base}..main", scratch.settings())
            assert state(seeded.dsn) == state(scratch.dsn), (ops, said)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
