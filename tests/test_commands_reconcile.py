"""`sync` and `apply` reconcile first, as every hook and `status` does (MARKERS.md "Landing is
reconciliation"): commits that reached a tracked branch with no hook to see them (a clone
with no hooks installed, here) land when a person runs either command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Database, bare_remote, clone_repo, exai, git, write

CONV = "debb44af-15b9-456d-9b88-6a2519f81427"


def _step_status(db: Database, issue: int, step: int) -> str:
    return str(db.scalar(
        "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = %s AND c.step_number = %s", (issue, step)))


def _clone_with_a_commit_no_hook_saw(tmp_path: Path, seeded: Database) -> Path:
    """A clone whose starting point is recorded (`status`), then a marker commit on main made
    with its hooks removed: nothing has applied it yet."""
    clone = clone_repo(bare_remote(tmp_path, {"base.txt": "base\n"}), "a")
    env = {"EXAI_GIT_DSN": seeded.dsn}
    assert exai("status", cwd=clone, env=env).returncode == 0  # records where it starts
    write(clone / "work.txt", "work\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", f"Cap the retries\n\nFixes EXAI-1 step 2 conv:{CONV}")
    assert _step_status(seeded, 1, 2) == "pending"
    return clone


@pytest.mark.parametrize("command", [["sync"], ["apply", "HEAD~1"], ["apply", "--json", "HEAD~1"]])
def test_sync_and_apply_land_what_no_hook_saw(tmp_path: Path, seeded: Database,
                                              command: list[str]) -> None:
    clone = _clone_with_a_commit_no_hook_saw(tmp_path, seeded)
    done = exai(*command, cwd=clone, env={"EXAI_GIT_DSN": seeded.dsn})
    assert done.returncode == 0, done.stdout + done.stderr
    assert _step_status(seeded, 1, 2) == "complete"
    said = done.stderr if "--json" in command else done.stdout
    assert "EXAI-1: step 2 -> complete" in said, done.stdout + done.stderr
    if "--json" in command:
        import json

        json.loads(done.stdout)  # what reconciliation said stays off the JSON
    again = exai(*command, cwd=clone, env={"EXAI_GIT_DSN": seeded.dsn})
    assert "step 2 -> complete" not in again.stdout + again.stderr  # once only
