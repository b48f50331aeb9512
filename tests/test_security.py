"""Supabase-ready permissions, secrets kept out of output, hostile text made harmless."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from exai_git import store
from exai_git.render import clean
from tests.conftest import Database, exai, git, write


def test_anon_and_authenticated_see_nothing(empty_db: Database) -> None:
    for role in ("anon", "authenticated"):
        try:
            empty_db.query(f"CREATE ROLE {role} NOLOGIN")
        except psycopg.errors.DuplicateObject:
            pass
        # what Supabase does: default privileges that grant every new table to the API roles
        empty_db.query(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO {role}")
        empty_db.query(f"GRANT USAGE ON SCHEMA public TO {role}")
    with empty_db.connect() as conn:
        store.migrate(conn)
        from exai_git import seed

        seed.load(conn)
    for role in ("anon", "authenticated"):
        for table in ("exai_issues", "exai_issue_updates", "exai_issue_checklist",
                      "exai_commit_links", "exai_active_issues", "exai_git_migrations"):
            with empty_db.connect() as conn:
                conn.execute(f"SET ROLE {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT * FROM {table}")
            if table == "exai_active_issues":
                continue  # a view over a join cannot be written to by anyone
            with empty_db.connect() as conn:
                conn.execute(f"SET ROLE {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"DELETE FROM {table}")
    assert all(empty_db.query(
        "SELECT relrowsecurity FROM pg_class WHERE relname IN ('exai_issues',"
        " 'exai_issue_updates', 'exai_issue_checklist', 'exai_commit_links')")[i][0]
        for i in range(4))


@pytest.fixture
def hook_dsn(seeded: Database) -> str:
    """A login that has exactly the hook role's rights."""
    name = f"exai_hook_{uuid.uuid4().hex[:8]}"
    seeded.query(f"CREATE ROLE {name} LOGIN PASSWORD 'hookpw' IN ROLE exai_git_hook")
    seeded.query(f"ALTER ROLE {name} INHERIT")
    from psycopg.conninfo import make_conninfo

    yield make_conninfo(seeded.dsn, user=name, password="hookpw")
    seeded.query(f"DROP OWNED BY {name}")
    seeded.query(f"DROP ROLE {name}")


def test_hook_role_runs_the_commit_flow(repo: Path, seeded: Database, hook_dsn: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", hook_dsn)
    assert exai("install", cwd=repo).returncode == 0
    write(repo / "src/providers/async_kimi.py", "".join(f"{i}\n" for i in range(100)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    (repo / "src/providers/async_kimi.py").write_text("top\n" + "".join(
        f"{i}\n" for i in range(100)))
    git(repo, "add", "-A")
    out = git(repo, "commit", "-qm", "Fixes EXAI-1 step 3\n\nRefs EXAI-2")
    assert "error" not in out.stderr.lower(), out.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == "in_progress"
    assert seeded.scalar("SELECT line_start FROM exai_issues WHERE issue_number = 2") == 59
    assert exai("issues", cwd=repo).returncode == 0
    assert exai("show", "1", cwd=repo).returncode == 0


@pytest.mark.parametrize("statement", [
    "DROP TABLE exai_issues",
    "DELETE FROM exai_issue_updates",
    "DELETE FROM exai_issues",
    "ALTER TABLE exai_issues ADD COLUMN x int",
    "UPDATE exai_issues SET title = 'x'",
    "UPDATE exai_issues SET severity = 'low'",
    "UPDATE exai_issue_checklist SET description = 'x'",
    "UPDATE exai_commit_links SET action = 'ref'",
    "TRUNCATE exai_issues",
    "CREATE TABLE evil (x int)",
])
def test_hook_role_is_refused_the_rest(hook_dsn: str, statement: str) -> None:
    with psycopg.connect(hook_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)  # type: ignore[arg-type]


HOSTILE = "\x1b[31mRED\x1b[0m \x1b]0;owned\x07 over\rwrite\u202egnp.exe'); DROP TABLE exai_issues; --"


def test_hostile_text_is_stored_verbatim_and_printed_harmless(seeded: Database) -> None:
    seeded.query("UPDATE exai_issues SET title = %s WHERE issue_number = 2", (HOSTILE,))
    seeded.query("INSERT INTO exai_issue_updates (issue_id, update_type, content)"
                 " SELECT id, 'comment', %s FROM exai_issues WHERE issue_number = 2", (HOSTILE,))
    assert seeded.scalar("SELECT title FROM exai_issues WHERE issue_number = 2") == HOSTILE
    for args in (["issues"], ["show", "2"], ["context", "2"], ["conv",
                 "debb44af-15b9-456d-9b88-6a2519f81427"]):
        out = exai(*args, "--dsn", seeded.dsn)
        assert out.returncode == 0, out.stderr
        for bad in ("\x1b", "\x07", "\r", "\u202e"):
            assert bad not in out.stdout, (args, bad)
        assert "RED" in out.stdout
    data = json.loads(exai("show", "2", "--json", "--dsn", seeded.dsn).stdout)
    assert data["issue"]["title"] == HOSTILE
    assert seeded.scalar("SELECT count(*) FROM exai_issues") == 3


def test_clean_escapes_every_control() -> None:
    assert clean("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert clean("x\ry") == "x\\ry"
    assert clean("line\nnext") == "line\\nnext"
    assert clean("line\nnext", multiline=True) == "line\nnext"
    assert clean("\x9b31m") == "\\x9b31m"


def test_no_password_in_any_output(repo: Path, tmp_path: Path) -> None:
    secret = "Sup3r-S3cret-pw"
    dsn = f"postgresql://alice:{secret}@127.0.0.1:1/db"
    runs = [
        exai("issues", "--dsn", dsn),
        exai("show", "1", "--dsn", dsn),
        exai("db", "migrate", "--dsn", dsn),
        exai("apply", cwd=repo, env={"DATABASE_URL": dsn}),
        exai("issues", "--dsn", f"host=127.0.0.1 port=1 password={secret} connect_timeout=2"),
        exai("issues", "--dsn", f"postgresql://alice:{secret}@127.0.0.1:notaport/db"),
    ]
    assert exai("install", cwd=repo).returncode == 0
    write(repo / "a", "a\n")
    git(repo, "add", "-A")
    commit = git(repo, "commit", "-qm", "Fixes EXAI-1", env={"EXAI_GIT_DSN": dsn})
    outbox = (repo / ".git" / "exai-git" / "outbox.sqlite3").read_bytes()
    for r in runs:
        assert r.returncode != 0
        assert secret not in r.stdout + r.stderr, r.stderr
    assert secret not in commit.stdout + commit.stderr
    assert secret.encode() not in outbox


def test_redacted_dsn() -> None:
    assert store.redact_dsn("postgresql://a:b@h:5/d") == "postgresql://a:***@h:5/d"
    assert store.redact_dsn("host=h password='x y' user=u") == "host=h password=*** user=u"
