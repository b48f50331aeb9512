"""Applying commits end to end: real `git commit` with the hooks installed, a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Database, bare_remote, exai, git, write
from tests.history import fast_import_history, issues_with_steps

U = "debb44af-15b9-456d-9b88-6a2519f81427"
V = "0f8fad5b-d9cb-469f-a165-70867728950e"


def steps_of(db: Database, number: int) -> dict[int, tuple[str, str | None, bool]]:
    rows = db.query(
        "SELECT c.step_number, c.status, c.conversation_id, c.completed_at IS NOT NULL"
        " FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = %s ORDER BY 1", (number,))
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def issue_of(db: Database, number: int) -> tuple[str, str | None, bool]:
    row = db.query("SELECT status, fix_conversation_id, fix_date IS NOT NULL FROM exai_issues"
                   " WHERE issue_number = %s", (number,))[0]
    return row[0], row[1], row[2]


def updates_of(db: Database, number: int) -> list[tuple[str, str, str | None]]:
    return [tuple(r) for r in db.query(  # type: ignore[misc]
        "SELECT u.update_type, u.content, u.conversation_id FROM exai_issue_updates u"
        " JOIN exai_issues i ON i.id = u.issue_id WHERE i.issue_number = %s"
        " ORDER BY u.created_at, u.id", (number,))]


def commit(repo: Path, message: str, files: dict[str, str] | None = None,
           env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    for name, text in (files or {}).items():
        write(repo / name, text)
    git(repo, "add", "-A")
    return git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env, check=check)


@pytest.fixture
def hooked(repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    out = exai("install", cwd=repo)
    assert out.returncode == 0, out.stderr
    commit(repo, "initial", {"src/providers/async_glm.py": "".join(f"g{i}\n" for i in range(1, 101)),
                             "src/providers/async_kimi.py": "".join(f"k{i}\n" for i in range(1, 101))})
    return repo


def test_fix_a_step_then_the_rest(hooked: Path, seeded: Database) -> None:
    commit(hooked, f"Fixes EXAI-1 step 3 conv:{U}", {"src/a.txt": "a\n"})
    assert steps_of(seeded, 1)[3] == ("complete", U, True)
    assert all(s[0] == "pending" for n, s in steps_of(seeded, 1).items() if n != 3)
    assert issue_of(seeded, 1) == ("in_progress", None, False)
    row = seeded.query("SELECT completed_steps, total_steps, progress_percentage::text"
                       " FROM exai_active_issues WHERE issue_number = 1")[0]
    assert row == (1, 7, "14.29")
    kinds = [(u[0], u[2]) for u in updates_of(seeded, 1)]
    assert kinds == [("fix_applied", U), ("status_change", U)]
    assert "Fixes EXAI-1 step 3" in updates_of(seeded, 1)[0][1]

    commit(hooked, f"Fixes EXAI-1 steps 1-2, 4-7 conv:{V}", {"src/b.txt": "b\n"})
    assert issue_of(seeded, 1) == ("fixed", V, True)
    assert {s[0] for s in steps_of(seeded, 1).values()} == {"complete"}
    assert steps_of(seeded, 1)[3][1] == U and steps_of(seeded, 1)[1][1] == V
    fix_date = seeded.scalar("SELECT fix_date FROM exai_issues WHERE issue_number = 1")
    head_time = int(git(hooked, "log", "-1", "--format=%ct").stdout)
    assert int(fix_date.timestamp()) == head_time
    links = seeded.query("SELECT action, steps FROM exai_commit_links l JOIN exai_issues i"
                         " ON i.id = l.issue_id WHERE i.issue_number = 1 ORDER BY l.id")
    assert links == [("fix", [3]), ("fix", [1, 2, 4, 5, 6, 7])]


def test_reapplying_changes_nothing(hooked: Path, seeded: Database) -> None:
    commit(hooked, f"Fixes EXAI-2 conv:{U}")
    before = seeded.query("SELECT count(*) FROM exai_issue_updates")
    out = exai("apply", "HEAD", "--json", cwd=hooked)
    assert out.returncode == 0, out.stderr
    import json

    data = json.loads(out.stdout)
    assert data["actions_applied"] == 0 and data["skipped"] == 1
    assert seeded.query("SELECT count(*) FROM exai_issue_updates") == before
    assert issue_of(seeded, 2) == ("fixed", U, True)


def test_each_action_semantics(hooked: Path, seeded: Database) -> None:
    commit(hooked, "Starts EXAI-3")
    assert issue_of(seeded, 3)[0] == "in_progress"
    commit(hooked, f"Refs EXAI-3 conv:{U}")
    assert [u[0] for u in updates_of(seeded, 3)] == ["status_change", "comment",
                                                     "conversation_link"]
    commit(hooked, "Verifies EXAI-3")  # not fixed yet: unchanged, recorded
    assert issue_of(seeded, 3)[0] == "in_progress"
    assert updates_of(seeded, 3)[-1][0] == "verification"
    commit(hooked, "Fixes EXAI-3")
    assert issue_of(seeded, 3)[0] == "fixed"
    commit(hooked, "Verified EXAI-3")
    assert issue_of(seeded, 3)[0] == "verified"
    commit(hooked, "Fixes EXAI-3")  # never backwards
    assert issue_of(seeded, 3)[0] == "verified"
    commit(hooked, "Reopens EXAI-3")
    assert issue_of(seeded, 3) == ("open", None, False)


def test_fix_without_steps_leaves_checklist_and_warns(hooked: Path, seeded: Database) -> None:
    out = commit(hooked, "Fixes EXAI-1")
    assert "still pending" in out.stderr
    assert issue_of(seeded, 1)[0] == "fixed"
    assert {s[0] for s in steps_of(seeded, 1).values()} == {"pending"}


def test_commit_msg_refuses_unknown_issue_and_step(hooked: Path, seeded: Database) -> None:
    bad = commit(hooked, "Fixes EXAI-99", check=False)
    assert bad.returncode != 0 and "EXAI-99: no such issue" in bad.stderr
    bad = commit(hooked, "Fixes EXAI-1 step 9", check=False)
    assert bad.returncode != 0 and "no step 9" in bad.stderr
    bad = commit(hooked, "Fixes EXAI-1 conv:debb44af", check=False)
    assert bad.returncode != 0 and "conv:debb44af" in bad.stderr
    assert git(hooked, "rev-list", "--count", "HEAD").stdout.strip() == "1"
    ok = commit(hooked, "Fixes EXAI-1 step 2", check=False)
    assert ok.returncode == 0


def test_commit_msg_with_database_down_checks_syntax_only(hooked: Path) -> None:
    env = {"EXAI_GIT_DSN": "postgresql://nobody@127.0.0.1:1/x"}
    ok = commit(hooked, "Fixes EXAI-99", env=env, check=False)
    assert ok.returncode == 0, ok.stderr
    bad = commit(hooked, "Fixes EXAI-1 step 0", env=env, check=False)
    assert bad.returncode != 0


def test_amend_rebase_cherry_pick_apply_once(hooked: Path, seeded: Database) -> None:
    commit(hooked, "Fixes EXAI-1 step 1", {"x.txt": "1\n"})
    count = len(updates_of(seeded, 1))
    git(hooked, "commit", "-q", "--amend", "-m", "Fixes EXAI-1 step 1\n\nReworded.")
    assert len(updates_of(seeded, 1)) == count
    git(hooked, "checkout", "-q", "-b", "side", "HEAD~1")
    commit(hooked, "unrelated", {"y.txt": "y\n"})
    git(hooked, "cherry-pick", "main")
    assert len(updates_of(seeded, 1)) == count
    git(hooked, "checkout", "-q", "main")
    git(hooked, "rebase", "-q", "side")
    # every commit of main was already on side: the rebase only moved main, and git runs no
    # post-rewrite for that; the next reconciliation (any hook, or status) sees it
    assert exai("status", cwd=hooked).returncode == 0
    assert len(updates_of(seeded, 1)) == count
    assert steps_of(seeded, 1)[1][0] == "complete"
    shas = {r[0] for r in seeded.query("SELECT commit_sha FROM exai_commit_links")}
    assert git(hooked, "rev-parse", "HEAD").stdout.strip() in shas  # new sha recorded


def test_revert_undoes(hooked: Path, seeded: Database) -> None:
    commit(hooked, "Fixes EXAI-1 step 2", {"x.txt": "1\n"})
    commit(hooked, "Fixes EXAI-2", {"z.txt": "z\n"})
    assert steps_of(seeded, 1)[2][0] == "complete" and issue_of(seeded, 1)[0] == "in_progress"
    git(hooked, "revert", "--no-edit", "HEAD~1")
    assert steps_of(seeded, 1)[2][0] == "pending"
    assert issue_of(seeded, 1)[0] == "open"
    assert any("revert of" in u[1] for u in updates_of(seeded, 1))
    git(hooked, "revert", "--no-edit", "HEAD~1")  # revert the fix of EXAI-2
    assert issue_of(seeded, 2) == ("open", None, False)
    again = exai("apply", "HEAD~1..HEAD", cwd=hooked)
    assert again.returncode == 0 and "0 actions applied" in again.stdout


def test_revert_of_an_amended_commit_undoes_the_original_work(hooked: Path, seeded: Database
                                                               ) -> None:
    commit(hooked, "Fixes EXAI-1 step 4", {"x.txt": "1\n"})
    git(hooked, "commit", "-q", "--amend", "-m", "Fixes EXAI-1 step 4\n\nReworded.")
    assert steps_of(seeded, 1)[4][0] == "complete"
    git(hooked, "revert", "--no-edit", "HEAD")
    assert steps_of(seeded, 1)[4][0] == "pending"
    assert issue_of(seeded, 1)[0] == "open"


def test_twenty_processes_on_one_issue(repo: Path, seeded: Database) -> None:
    issue_id = seeded.scalar("INSERT INTO exai_issues (title, severity) VALUES ('many', 'low')"
                             " RETURNING id")
    number = seeded.scalar("SELECT issue_number FROM exai_issues WHERE id = %s", (issue_id,))
    with seeded.connect() as conn:
        conn.cursor().executemany(
            "INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
            " VALUES (%s, %s, %s)", [(issue_id, n, f"s{n}") for n in range(1, 21)])
    shas = []
    for n in range(1, 21):
        commit(repo, f"Fixes EXAI-{number} step {n}", {f"f{n}.txt": f"{n}\n"})
        shas.append(git(repo, "rev-parse", "HEAD").stdout.strip())
    env = {**os.environ, "EXAI_GIT_DSN": seeded.dsn}
    procs = [subprocess.Popen([sys.executable, "-m", "exai_git", "apply", sha], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for sha in shas]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert all(code == 0 for code, _ in results), results
    assert {s[0] for s in steps_of(seeded, number).values()} == {"complete"}
    kinds = [u[0] for u in updates_of(seeded, number)]
    assert kinds.count("fix_applied") == 20
    assert kinds.count("status_change") == 2  # open -> in_progress, -> fixed
    assert issue_of(seeded, number)[0] == "fixed"


def test_apply_on_push_only_for_listed_branches(repo: Path, seeded: Database,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / ".exai-git.toml", 'apply_on = "push"\nbranches = ["main"]\n')
    assert exai("install", cwd=repo).returncode == 0
    git(repo, "remote", "add", "origin", str(bare_remote(tmp_path)))
    commit(repo, "Fixes EXAI-2")
    assert issue_of(seeded, 2)[0] == "open"  # not on commit
    git(repo, "push", "-q", "origin", "main:feature")
    assert issue_of(seeded, 2)[0] == "open"  # not a listed branch
    git(repo, "push", "-q", "origin", "main")
    assert issue_of(seeded, 2)[0] == "fixed"
    commit(repo, "Fixes EXAI-3")
    git(repo, "push", "-q", "origin", "main")
    assert issue_of(seeded, 3)[0] == "fixed"
    assert len(updates_of(seeded, 2)) == 2  # the second push did not re-apply


def test_install_never_overwrites_a_foreign_hook(repo: Path) -> None:
    foreign = write(repo / ".git" / "hooks" / "pre-commit", "#!/bin/sh\necho mine\n")
    out = exai("install", cwd=repo)
    assert "skipped pre-commit" in out.stdout
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"
    out = exai("install", "--uninstall", cwd=repo)
    assert "left pre-commit" in out.stdout and foreign.exists()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()


def test_install_from_a_worktree(hooked: Path, seeded: Database, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(hooked, "worktree", "add", "-q", str(wt), "-b", "wt")
    commit(wt, "Fixes EXAI-2", {"w.txt": "w\n"})
    assert issue_of(seeded, 2)[0] == "open"  # held: branch wt is not tracked
    git(hooked, "merge", "-q", "wt")  # lands on main: post-merge, with the common dir's state
    assert issue_of(seeded, 2)[0] == "fixed"


@pytest.mark.slow
def test_backfill_ten_thousand_commits(repo: Path, db: Database,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ids = issues_with_steps(db.dsn, 10, 200)
    made = fast_import_history(repo, 10_000, 5, ids, 200)
    assert made == 2000
    monkeypatch.setenv("EXAI_GIT_DSN", db.dsn)
    root = git(repo, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    first = exai("apply", f"{root}..HEAD", "--json", cwd=repo, timeout=600)
    assert first.returncode == 0, first.stderr
    import json

    data = json.loads(first.stdout)
    assert data["commits_read"] == 9_999 and data["actions_applied"] == 2000
    assert data["errors"] == 0
    assert db.scalar("SELECT count(*) FROM exai_issue_checklist WHERE status = 'complete'") == 2000
    assert db.scalar("SELECT count(*) FROM exai_issues WHERE status = 'fixed'") == 10
    assert db.scalar("SELECT count(*) FROM exai_commit_links") == 2000
    second = json.loads(exai("apply", f"{root}..HEAD", "--json", cwd=repo, timeout=600).stdout)
    assert second["actions_applied"] == 0 and second["skipped"] == 2000
    assert db.scalar("SELECT count(*) FROM exai_issue_updates") == 2000 + 20
