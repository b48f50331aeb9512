"""Schema, migrations and the read commands against a real PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exai_git import seed, store
from tests.conftest import Database, exai

SEED_DOC = Path(__file__).parent / "data" / "issue-tracking-system.md"


def seed_statements() -> list[str]:
    """Every SQL statement of the seed document's query and workflow sections, verbatim."""
    text = SEED_DOC.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    wanted = [s for s in sections if s.startswith(("🔍 QUERYING THE SYSTEM", "🎯 USAGE WORKFLOW"))]
    assert len(wanted) == 2
    statements = []
    for section in wanted:
        for block in re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL):
            for stmt in block.split(";"):
                body = "\n".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--"))
                if body.strip():
                    statements.append(stmt.strip())
    return statements


def is_select(stmt: str) -> bool:
    code = [ln for ln in stmt.splitlines() if not ln.strip().startswith("--")]
    return "\n".join(code).lstrip().upper().startswith("SELECT")


def test_seed_document_has_the_expected_statements() -> None:
    statements = seed_statements()
    assert len(statements) == 11
    assert sum(is_select(s) for s in statements) == 4


@pytest.mark.parametrize("index", range(11))
def test_seed_statement_runs_unchanged(seeded: Database, index: int) -> None:
    stmt = seed_statements()[index]
    with seeded.connect() as conn:
        cur = conn.execute(stmt)  # type: ignore[arg-type]
        if is_select(stmt):
            assert cur.fetchall(), "a seed query found nothing on the seed data"
        else:
            assert cur.rowcount == 1


def test_seed_workflow_changes_what_it_says(seeded: Database) -> None:
    with seeded.connect() as conn:
        for stmt in seed_statements():
            conn.execute(stmt)  # type: ignore[arg-type]
    row = seeded.query(
        "SELECT status, fix_conversation_id, fix_date IS NOT NULL FROM exai_issues"
        " WHERE issue_number = 1")[0]
    assert row == ("fixed", "current-conversation-id", True)
    assert seeded.scalar(
        "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = 1 AND step_number = 1") == "complete"
    assert seeded.scalar("SELECT count(*) FROM exai_issue_updates") == 2


def schema_fingerprint(db: Database) -> list[tuple[object, ...]]:
    return db.query(
        "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = 'public' ORDER BY 1, 2, 3"
    ) + db.query("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                 " WHERE connamespace = 'public'::regnamespace ORDER BY 1")


def test_migrate_twice_changes_nothing(empty_db: Database) -> None:
    first = exai("db", "migrate", "--dsn", empty_db.dsn)
    assert first.returncode == 0, first.stderr
    assert "applied 001_tracker" in first.stdout
    before = schema_fingerprint(empty_db)
    applied_at = empty_db.query("SELECT version, applied_at FROM exai_git_migrations ORDER BY 1")
    second = exai("db", "migrate", "--dsn", empty_db.dsn)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "schema is up to date"
    assert schema_fingerprint(empty_db) == before
    assert empty_db.query("SELECT version, applied_at FROM exai_git_migrations ORDER BY 1") \
        == applied_at
    status = exai("db", "status", "--dsn", empty_db.dsn, "--json")
    data = json.loads(status.stdout)
    assert [m["version"] for m in data["migrations"]] == [m.version for m in store.migrations()]
    assert all(m["applied"] and m["checksum_ok"] for m in data["migrations"])


def test_status_on_an_empty_database_lists_pending(empty_db: Database) -> None:
    out = exai("db", "status", "--dsn", empty_db.dsn)
    assert out.returncode == 0
    assert out.stdout.count("pending") == len(store.migrations())


def test_concurrent_migrations_take_the_lock(empty_db: Database) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: exai("db", "migrate", "--dsn", empty_db.dsn), range(4)))
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    assert sum("applied 001_tracker" in r.stdout for r in results) == 1
    assert empty_db.scalar("SELECT count(*) FROM exai_git_migrations") == len(store.migrations())


def test_migrations_adopt_a_hand_made_tracker(empty_db: Database) -> None:
    """A tracker created by hand before exai-git (no fix_date, no updated_at) is upgraded."""
    empty_db.query(
        "CREATE TABLE exai_issues (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
        " issue_number serial UNIQUE, title text NOT NULL, description text,"
        " severity text NOT NULL, category text, status text NOT NULL DEFAULT 'open',"
        " file_path text, line_start int, line_end int, affected_components text[],"
        " conversation_id text, fix_conversation_id text, root_cause text,"
        " impact_description text, recommended_fix text, actual_fix text,"
        " related_issues uuid[], blocks_issues uuid[], blocked_by_issues uuid[])")
    empty_db.query("INSERT INTO exai_issues (title, severity) VALUES ('old', 'low') RETURNING 1")
    result = exai("db", "migrate", "--dsn", empty_db.dsn)
    assert result.returncode == 0, result.stderr
    assert empty_db.scalar("SELECT count(*) FROM exai_issues") == 1
    assert empty_db.scalar(
        "SELECT updated_at IS NOT NULL AND fix_date IS NULL FROM exai_issues") is True
    assert empty_db.scalar("SELECT total_steps FROM exai_active_issues") == 0


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_psql_can_run_the_migration_files(empty_db: Database) -> None:
    for m in sorted(Path(store.__file__).resolve().parents[2].joinpath("sql").glob("*.sql")):
        proc = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", empty_db.dsn,
                               "-f", str(m)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert empty_db.scalar("SELECT count(*) FROM exai_active_issues") == 0


def test_updated_at_is_kept_by_a_trigger(seeded: Database) -> None:
    before = seeded.scalar("SELECT updated_at FROM exai_issues WHERE issue_number = 2")
    time.sleep(0.01)
    seeded.query("UPDATE exai_issues SET title = title || '!' WHERE issue_number = 2 RETURNING 1")
    after = seeded.scalar("SELECT updated_at FROM exai_issues WHERE issue_number = 2")
    assert after > before


def test_checks_refuse_values_the_tracker_does_not_know(seeded: Database) -> None:
    import psycopg

    for stmt in (
        "UPDATE exai_issues SET status = 'done' WHERE issue_number = 1",
        "UPDATE exai_issues SET severity = 'urgent' WHERE issue_number = 1",
        "UPDATE exai_issue_checklist SET status = 'finished'",
        "INSERT INTO exai_issue_updates (issue_id, update_type, content)"
        " SELECT id, 'note', 'x' FROM exai_issues LIMIT 1",
    ):
        with pytest.raises(psycopg.errors.CheckViolation):
            seeded.query(stmt)


def test_view_progress_with_and_without_steps(seeded: Database) -> None:
    rows = dict(
        (r[0], r[1:]) for r in seeded.query(
            "SELECT issue_number, completed_steps, total_steps, progress_percentage"
            " FROM exai_active_issues"))
    assert rows[1] == (0, 7, 0)
    assert rows[2] == (0, 0, 0)
    seeded.query("UPDATE exai_issue_checklist SET status = 'complete' WHERE step_number <= 3"
                 " RETURNING 1")
    assert float(seeded.scalar(
        "SELECT progress_percentage FROM exai_active_issues WHERE issue_number = 1")) == 42.86


# --------------------------------------------------------------------------- read commands


def test_issues_lists_by_severity_with_progress(seeded: Database) -> None:
    seeded.query("UPDATE exai_issue_checklist SET status = 'complete' WHERE step_number <= 3"
                 " RETURNING 1")
    out = exai("issues", "--dsn", seeded.dsn)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("EXAI-1") and "critical" in lines[1] and "3/7 (43%)" in lines[1]
    assert lines[2].startswith("EXAI-2") and lines[3].startswith("EXAI-3")
    assert "src/providers/async_kimi.py:58-60" in lines[2]

    data = json.loads(exai("issues", "--json", "--dsn", seeded.dsn).stdout)
    assert [i["issue_number"] for i in data["issues"]] == [1, 2, 3]
    first = data["issues"][0]
    assert first["completed_steps"] == 3 and first["total_steps"] == 7
    assert first["progress_percentage"] == 42.86
    assert first["conversation_id"] == seed.CONVERSATION


def test_issues_all_includes_closed(seeded: Database) -> None:
    seeded.query("UPDATE exai_issues SET status = 'closed' WHERE issue_number = 3 RETURNING 1")
    active = json.loads(exai("issues", "--json", "--dsn", seeded.dsn).stdout)["issues"]
    every = json.loads(exai("issues", "--all", "--json", "--dsn", seeded.dsn).stdout)["issues"]
    assert [i["issue_number"] for i in active] == [1, 2]
    assert [i["issue_number"] for i in every] == [1, 2, 3]


def test_show_has_checklist_updates_and_commits(seeded: Database) -> None:
    seeded.query(
        "INSERT INTO exai_issue_updates (issue_id, update_type, content, conversation_id)"
        " SELECT id, 'comment', 'Started', %s FROM exai_issues WHERE issue_number = 1 RETURNING 1",
        (seed.CONVERSATION,))
    out = exai("show", "1", "--dsn", seeded.dsn)
    assert out.returncode == 0, out.stderr
    assert "EXAI-1: AsyncGLM Provider NO Timeout" in out.stdout
    assert "[ ] 7. Update documentation" in out.stdout
    assert "comment: Started" in out.stdout
    data = json.loads(exai("show", "EXAI-1", "--json", "--dsn", seeded.dsn).stdout)
    assert data["issue"]["issue_number"] == 1
    assert [s["step_number"] for s in data["checklist"]] == list(range(1, 8))
    assert data["updates"][0]["content"] == "Started"
    assert data["commits"] == []


def test_show_unknown_issue_is_one_line(seeded: Database) -> None:
    out = exai("show", "99", "--dsn", seeded.dsn)
    assert out.returncode == 1
    assert out.stderr.strip() == "exai-git: no issue numbered 99"
    bad = exai("show", "one", "--dsn", seeded.dsn)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_conv_finds_issues_steps_and_updates(seeded: Database) -> None:
    seeded.query("UPDATE exai_issue_checklist SET status = 'complete', conversation_id = %s"
                 " WHERE step_number = 2 RETURNING 1", (seed.CONVERSATION,))
    data = json.loads(exai("conv", seed.CONVERSATION, "--json", "--dsn", seeded.dsn).stdout)
    assert [i["issue_number"] for i in data["issues"]] == [1, 2, 3]
    assert [(s["issue_number"], s["step_number"]) for s in data["steps"]] == [(1, 2)]
    text = exai("conv", seed.CONVERSATION, "--dsn", seeded.dsn).stdout
    assert "EXAI-1 step 2: Create httpx.Client with timeout configuration [complete]" in text
    none = exai("conv", "0f8fad5b-d9cb-469f-a165-70867728950e", "--dsn", seeded.dsn)
    assert none.returncode == 0 and "nothing recorded" in none.stdout
    for bad in ("no-such-conversation", "44444444"):  # a prefix finds nothing: refused
        refused = exai("conv", bad, "--dsn", seeded.dsn)
        assert refused.returncode == 2 and "8-4-4-4-12 hex digits" in refused.stderr, refused.stderr


def test_context_markdown_and_json(seeded: Database) -> None:
    md = exai("context", "1", "--dsn", seeded.dsn)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# EXAI-1: AsyncGLM Provider NO Timeout\n")
    assert "- Location: `src/providers/async_glm.py:48-51`" in md.stdout
    assert f"`{seed.CONVERSATION}`" in md.stdout
    assert "- [ ] 1. Add import for TimeoutConfig and httpx" in md.stdout
    assert "Fixes EXAI-1 step 1" in md.stdout
    data = json.loads(exai("context", "1", "--format", "json", "--dsn", seeded.dsn).stdout)
    assert data["key"] == "EXAI-1"
    assert data["issue"]["root_cause"].startswith("ZhipuAI client")
    assert len(data["checklist"]) == 7


def test_commands_on_a_database_without_schema(empty_db: Database) -> None:
    out = exai("issues", "--dsn", empty_db.dsn)
    assert out.returncode == 3
    assert "run `exai-git db migrate`" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_database_is_one_line_exit_3_without_password() -> None:
    port = _free_port()
    dsn = f"postgresql://alice:s3cr3t-pw@127.0.0.1:{port}/tracker"
    started = time.monotonic()
    out = exai("issues", "--dsn", dsn)
    elapsed = time.monotonic() - started
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "s3cr3t-pw" not in out.stderr + out.stdout
    assert elapsed < 10


def test_silent_server_times_out_within_the_connect_timeout() -> None:
    """A server that accepts and never answers: the command gives up after the timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        out = exai("issues", "--dsn", f"postgresql://bob:hunter2@127.0.0.1:{port}/x",
                   env={"EXAI_GIT_CONNECT_TIMEOUT": "2"})
        elapsed = time.monotonic() - started
    assert out.returncode == 3
    assert "hunter2" not in out.stderr
    assert f"127.0.0.1:{port}" in out.stderr
    assert elapsed < 8


def test_bad_dsn_is_a_usage_error() -> None:
    out = exai("issues", "--dsn", "host=127.0.0.1 nonsense=1 password=pw123")
    assert out.returncode == 2
    assert "pw123" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
