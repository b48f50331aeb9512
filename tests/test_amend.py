"""An amend that keeps a commit's markers changes nothing in the tracker (MARKERS.md, "When a
commit counts": unchanged markers are relinked to the new commit, without new rows). Real
git with the native hooks installed by `exai-git install`, real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Database, exai, git, write


def updates(db: Database) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in db.query(
        "SELECT u.update_type, u.content FROM exai_issue_updates u JOIN exai_issues i"
        " ON i.id = u.issue_id WHERE i.issue_number = 1 ORDER BY u.created_at")]


def links(db: Database) -> list[tuple[str, str, bool]]:
    return [(r[0], r[1], r[2]) for r in db.query(
        "SELECT l.commit_sha, l.action, l.undone_by IS NULL FROM exai_commit_links l"
        " JOIN exai_issues i ON i.id = l.issue_id WHERE i.issue_number = 1"
        " ORDER BY l.applied_at, l.commit_sha")]


@pytest.mark.parametrize("change", [False, True], ids=["reworded", "changed"])
@pytest.mark.parametrize("message", ["Starts EXAI-1 step 1", "Fixes EXAI-1 step 1"])
def test_amending_a_marked_commit_adds_no_update_rows(
        repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch, message: str,
        change: bool) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "a.txt", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert exai("install", cwd=repo).returncode == 0
    write(repo / "a.txt", "b\n")
    git(repo, "add", "-A")
    out = git(repo, "commit", "-qm", message)
    assert "queued" not in out.stderr, out.stderr
    before = updates(seeded)
    status = seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 1")
    assert status == "in_progress" and before, (status, before)
    if change:  # the amend changes the files too: another patch, the same markers
        write(repo / "a.txt", "c\n")
        git(repo, "add", "-A")
    out = git(repo, "commit", "-q", "--amend", "-m", f"{message} (reworded)")
    assert "queued" not in out.stderr, out.stderr
    assert updates(seeded) == before, out.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == status
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    in_force = [(sha, action) for sha, action, force in links(seeded) if force]
    assert [sha for sha, _ in in_force] == [head], links(seeded)


@pytest.mark.parametrize("change", [False, True],
                         ids=["reworded", "changed"])
def test_amending_progress_held_on_a_branch_adds_no_update_rows(
        repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch, change: bool) -> None:
    """A branch that is not tracked: its progress counts at once (MARKERS.md); amending the
    commit counts it again only as the same progress."""
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "a.txt", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert exai("install", cwd=repo).returncode == 0
    git(repo, "checkout", "-qb", "feature")
    write(repo / "a.txt", "b\n")
    git(repo, "add", "-A")
    out = git(repo, "commit", "-qm", "Starts EXAI-1 step 1")
    assert "queued" not in out.stderr, out.stderr
    before = updates(seeded)
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == \
        "in_progress" and before, before
    if change:
        write(repo / "a.txt", "c\n")
        git(repo, "add", "-A")
    out = git(repo, "commit", "-q", "--amend", "-m", "Starts EXAI-1 step 1 (reworded)")
    assert "queued" not in out.stderr, out.stderr
    assert updates(seeded) == before, out.stderr
