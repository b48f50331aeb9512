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


def issue_1(db: Database) -> tuple[str, str]:
    """Issue 1's status and checklist, one letter a step: p(ending) i(n progress) c(omplete)."""
    steps = "".join(r[0][0] for r in db.query(
        "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = 1 ORDER BY c.step_number"))
    return str(db.scalar("SELECT status FROM exai_issues WHERE issue_number = 1")), steps


def test_amending_a_whole_issue_fix_into_a_step_fix(hooked_repo: Path, seeded: Database) -> None:
    """A step is less than the whole issue: the issue's fix is undone, with a row saying why,
    and the step fixed."""
    git(hooked_repo, "commit", "-q", "--allow-empty", "-m", "Kimi retries", "-m", "Fixes EXAI-1")
    assert issue_1(seeded) == ("fixed", "ppppppp")
    out = git(hooked_repo, "commit", "-q", "--allow-empty", "--amend", "-m", "Kimi retries",
              "-m", "Fixes EXAI-1 step 1")
    assert "queued" not in out.stderr, out.stderr
    assert issue_1(seeded) == ("in_progress", "cpppppp"), out.stderr
    rows = [content for kind, content in updates(seeded) if kind == "status_change"]
    assert any("fixed -> open" in r and "replaced" in r for r in rows), rows
    head = git(hooked_repo, "rev-parse", "HEAD").stdout.strip()
    assert [(sha, action) for sha, action, force in links(seeded) if force] == [(head, "fix")]


def test_amending_fixes_into_starts_leaves_it_in_progress(hooked_repo: Path,
                                                          seeded: Database) -> None:
    """The dropped fix is undone first; the progress applies on what the undo leaves, and the
    hook says what the tracker then holds."""
    git(hooked_repo, "commit", "-q", "--allow-empty", "-m", "Kimi retries", "-m", "Fixes EXAI-1")
    assert issue_1(seeded)[0] == "fixed"
    out = git(hooked_repo, "commit", "-q", "--allow-empty", "--amend", "-m", "Kimi retries",
              "-m", "Starts EXAI-1")
    assert "-> in_progress" in out.stderr, out.stderr
    assert issue_1(seeded)[0] == "in_progress", (out.stderr, updates(seeded))
    rows = [content for kind, content in updates(seeded) if kind == "status_change"]
    moves = [r.split(": ", 1)[1] for r in rows]
    assert [m.split(" (")[0] for m in moves] == [
        "open -> fixed", "fixed -> open", "open -> in_progress"], rows
    assert "dropped" in moves[1], rows


@pytest.mark.parametrize("message", ["Refs EXAI-1", "no markers"])
def test_amending_held_progress_away_undoes_it(hooked_repo: Path, seeded: Database,
                                               message: str) -> None:
    """A branch that is not tracked: progress counts at once, so an amend that drops it
    undoes it, with a row saying why."""
    git(hooked_repo, "checkout", "-qb", "feature")
    git(hooked_repo, "commit", "-q", "--allow-empty", "-m", "Starts EXAI-1 step 2")
    assert issue_1(seeded) == ("in_progress", "pippppp")
    out = git(hooked_repo, "commit", "-q", "--allow-empty", "--amend", "-m", message)
    assert "queued" not in out.stderr, out.stderr
    assert issue_1(seeded) == ("open", "ppppppp"), (out.stderr, updates(seeded))
    rows = [content for _, content in updates(seeded)]
    assert any("step(s) 2 back to pending" in r and "dropped" in r for r in rows), rows
    assert [force for _, _, force in links(seeded)] == [False], links(seeded)
