"""Issue 16, items 1, 2, 5, 7 and 9: a hook's budget for database work (a stalled tracker costs
the budget once, then the back-off queues at once), a table lock, a port that accepts and
never answers, no DSN, a 10 MB message and a file name that is not UTF-8. Real git, real
PostgreSQL, the fault proxy of tests/proxy.py."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Database, exai, git, write
from tests.proxy import FaultProxy

U = "debb44af-15b9-456d-9b88-6a2519f81427"
BUDGET = 2.0


@pytest.fixture
def budgeted(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("EXAI_GIT_HOOK_TIMEOUT", f"{BUDGET:g}")
    return BUDGET


def commit(repo: Path, name: str | bytes, message: str) -> tuple[float, str]:
    """Commit a change to name; (seconds the commit took, what the hooks said)."""
    path = os.path.join(os.fsencode(repo), os.fsencode(name))
    with open(path, "ab") as f:
        f.write(b"change\n")
    git(repo, "add", "-A")
    started = time.monotonic()
    proc = git(repo, "commit", "-qm", message)
    took = time.monotonic() - started
    assert "Traceback" not in proc.stderr and "error ignored" not in proc.stderr, proc.stderr
    return took, proc.stderr


def plain_cost(repo: Path) -> float:
    """What a marker commit costs here while the tracker answers: the processes and git on this
    machine under its load now (with a budget it cannot run out of, so it measures the commit,
    not the budget). A fault may add at most the budget (and a second) to it."""
    before = os.environ.get("EXAI_GIT_HOOK_TIMEOUT")
    os.environ["EXAI_GIT_HOOK_TIMEOUT"] = "60"
    try:
        took, said = commit(repo, "warm.txt", "Refs EXAI-3")
    finally:
        if before is None:
            del os.environ["EXAI_GIT_HOOK_TIMEOUT"]
        else:
            os.environ["EXAI_GIT_HOOK_TIMEOUT"] = before
    assert "queued" not in said, said
    return took


def step_status(db: Database, step: int) -> str:
    return str(db.scalar("SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i"
                         " ON i.id = c.issue_id WHERE i.issue_number = 1 AND c.step_number = %s",
                         (step,)))


def links(db: Database, sha: str) -> int:
    return int(db.scalar("SELECT count(*) FROM exai_commit_links WHERE commit_sha = %s",
                         (sha,)))


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("mode", ["stall_after_startup", "stalled"])
def test_a_stalled_tracker_costs_the_budget_and_sync_replays(
        fault_proxy: FaultProxy, hooked_repo: Path, seeded: Database, budgeted: float,
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Was: `git commit` hung forever against a server that stalls after connecting."""
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    plain = plain_cost(hooked_repo)
    fault_proxy.mode = mode
    took, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
    assert took < plain + budgeted + 1, (took, plain, said)
    assert f"did not answer within {budgeted:g} s" in said, said
    assert "1 commit queued" in said, said
    assert step_status(seeded, 1) == "pending"
    fault_proxy.mode = "up"
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert step_status(seeded, 1) == "complete"
    assert links(seeded, head(hooked_repo)) == 1


def test_a_command_against_a_stalled_tracker_ends_in_one_line(
        fault_proxy: FaultProxy, seeded: Database, budgeted: float, tmp_path: Path) -> None:
    """Was: `exai-git issues` set no timeout at all."""
    fault_proxy.mode = "stall_after_startup"
    started = time.monotonic()
    out = exai("issues", "--dsn", fault_proxy.dsn(seeded.dsn), cwd=tmp_path)
    assert time.monotonic() - started < budgeted + 2
    assert out.returncode == 3, out.stdout + out.stderr
    assert "did not answer" in one_line(out.stderr)


# --------------------------------------------------------------------------- item 2 (back-off)


def test_after_a_timeout_hooks_queue_at_once_and_sync_tries_anyway(
        fault_proxy: FaultProxy, hooked_repo: Path, seeded: Database, budgeted: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    plain = plain_cost(hooked_repo)
    fault_proxy.mode = "stalled"
    commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
    tried = fault_proxy.accepted
    assert tried >= 1
    took, said = commit(hooked_repo, "b.txt", f"Fixes EXAI-1 step 2 conv:{U}")
    assert fault_proxy.accepted == tried, said  # no hook of the second commit tried it
    assert took < plain + 0.5, (took, plain, said)  # python and git only: no connect
    assert "2 commits queued" in said and "not tried" in said, said
    again = re.search(r"not tried: it failed (\d+) s ago \(hooks try it again in (\d+) s\)",
                      said)
    assert again and int(again[1]) + int(again[2]) in (30, 31), said
    fault_proxy.mode = "up"
    synced = exai("sync", cwd=hooked_repo)  # a command tries anyway, and clears the back-off
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert fault_proxy.accepted > tried
    assert (step_status(seeded, 1), step_status(seeded, 2)) == ("complete", "complete")
    _, said = commit(hooked_repo, "c.txt", f"Fixes EXAI-1 step 3 conv:{U}")
    assert step_status(seeded, 3) == "complete", said


def test_a_refused_query_sets_no_back_off(
        hooked_repo: Path, seeded: Database, budgeted: float) -> None:
    """Only a failed connect or a timeout backs off: an unknown issue is refused, the next
    commit still asks the tracker."""
    bad = subprocess.run(["git", "commit", "--allow-empty", "-qm", "Fixes EXAI-999"],
                         cwd=hooked_repo, capture_output=True, text=True)
    assert bad.returncode == 1, bad.stderr
    _, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
    assert step_status(seeded, 1) == "complete", said


# --------------------------------------------------------------------------- item 7


def test_a_locked_table_costs_the_budget_once_per_commit(
        hooked_repo: Path, seeded: Database, budgeted: float) -> None:
    """Was: 15 s (three hooks x 5 s) and `error ignored terminating <psycopg.Pipeline ...>`."""
    plain = plain_cost(hooked_repo)
    with psycopg.connect(seeded.dsn) as holder:
        holder.execute("LOCK TABLE exai_issues IN ACCESS EXCLUSIVE MODE")
        took, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
        assert took < plain + budgeted + 1, (took, plain, said)
        assert "1 commit queued" in said, said
        assert "Pipeline" not in said and "db migrate" not in said, said
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert step_status(seeded, 1) == "complete"


def test_an_issue_only_the_location_move_needs_locked_elsewhere_queues_the_work(
        hooked_repo: Path, seeded: Database, budgeted: float) -> None:
    """post-commit applies its work and moves the main line's locations in one transaction:
    an open issue the move must re-anchor, locked by another transaction, holds both up to the
    budget. The work is queued, not lost; sync applies it and the next reconciliation moves
    the locations from where the move started."""
    plain = plain_cost(hooked_repo)
    with psycopg.connect(seeded.dsn) as holder:
        holder.execute("SELECT 1 FROM exai_issues WHERE issue_number = 3 FOR UPDATE")
        took, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
        assert took < plain + budgeted + 1, (took, plain, said)
        assert "1 commit queued" in said, said
        assert step_status(seeded, 1) == "pending"
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert step_status(seeded, 1) == "complete"
    assert links(seeded, head(hooked_repo)) == 1
    assert exai("status", cwd=hooked_repo).returncode == 0  # reconciles: the move is pending
    assert seeded.query("SELECT DISTINCT anchor_sha FROM exai_issues WHERE status IN"
                        " ('open', 'in_progress') AND file_path IS NOT NULL"
                        ) == [(head(hooked_repo),)]


def test_a_port_that_accepts_and_never_answers_costs_the_budget_once(
        hooked_repo: Path, seeded: Database, budgeted: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: 9 s on every commit."""
    plain = plain_cost(hooked_repo)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel accepts; nothing ever answers
        port = listener.getsockname()[1]
        monkeypatch.setenv("EXAI_GIT_DSN", f"postgresql://postgres@127.0.0.1:{port}/x")
        first, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
        assert first < plain + budgeted + 1, (first, plain, said)
        second, said = commit(hooked_repo, "b.txt", f"Fixes EXAI-1 step 2 conv:{U}")
        assert second < plain + 0.5 and "not tried" in said, (second, plain, said)
        assert "2 commits queued" in said, said


# --------------------------------------------------------------------------- item 9


def test_no_dsn_hooks_say_so_once_and_keep_the_work(
        hooked_repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch,
        git_home: Path) -> None:
    """Was: the embedded server used silently, pipeline noise, and `db migrate` advised."""
    monkeypatch.delenv("EXAI_GIT_DSN")
    data = git_home / "xdg-data" / "exai-git"
    before = sorted(p.name for p in data.glob("*")) if data.exists() else []
    _, said = commit(hooked_repo, "a.txt", f"Fixes EXAI-1 step 1 conv:{U}")
    line = one_line(said)
    assert "no tracker is configured" in line and "EXAI_GIT_DSN" in line, said
    assert "1 commit queued" in line and "migrate" not in line, said
    after = sorted(p.name for p in data.glob("*")) if data.exists() else []
    assert after == before  # the embedded server was not started for a hook
    bad = subprocess.run(["git", "commit", "--allow-empty", "-qm", "Fixes EXAI-1 step 0"],
                         cwd=hooked_repo, capture_output=True, text=True)
    assert bad.returncode == 1, bad.stderr  # the markers' syntax is still checked
    synced = exai("sync", cwd=hooked_repo, env={"EXAI_GIT_DSN": seeded.dsn})
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert step_status(seeded, 1) == "complete"


# --------------------------------------------------------------------------- item 5


def test_a_10_mb_message_naming_markers_is_refused(hooked_repo: Path, seeded: Database,
                                                   tmp_path: Path) -> None:
    """Was: "refused", yet the hook exited 0 and the commit went through."""
    message = tmp_path / "msg"
    message.write_text("Fixes EXAI-99999\n\n" + "x" * (10 << 20) + "\n")
    write(hooked_repo / "a.txt", "a\n")
    git(hooked_repo, "add", "-A")
    before = head(hooked_repo)
    proc = subprocess.run(["git", "commit", "-qF", str(message)], cwd=hooked_repo,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "limit" in one_line(proc.stderr)
    assert head(hooked_repo) == before


def test_a_large_message_without_markers_still_commits(hooked_repo: Path, seeded: Database,
                                                       tmp_path: Path) -> None:
    message = tmp_path / "msg"
    message.write_text("big\n\n" + "x" * (2 << 20) + "\n")
    write(hooked_repo / "a.txt", "a\n")
    git(hooked_repo, "add", "-A")
    proc = subprocess.run(["git", "commit", "-qF", str(message)], cwd=hooked_repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- any bytes


@pytest.mark.parametrize("tracker", ["up", "down"])
def test_a_file_name_that_is_not_utf8_applies_or_queues(
        fault_proxy: FaultProxy, hooked_repo: Path, seeded: Database, budgeted: float,
        monkeypatch: pytest.MonkeyPatch, tracker: str) -> None:
    """Was: UnicodeEncodeError twice, EXAI-2 untouched; queued, it blocked the queue."""
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    name = b"bad\xff.py"
    path = os.path.join(os.fsencode(hooked_repo), name)
    with open(path, "wb") as f:
        f.write(b"x = 1\n")
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qm", "add it")
    fault_proxy.mode = "refusing" if tracker == "down" else "up"
    _, said = commit(hooked_repo, name, "Fixes EXAI-2")
    assert "Unicode" not in said, said
    sha = head(hooked_repo)
    if tracker == "down":
        assert "1 commit queued" in said, said
        assert links(seeded, sha) == 0
        fault_proxy.mode = "up"
        synced = exai("sync", cwd=hooked_repo)
        assert synced.returncode == 0 and "Unicode" not in synced.stderr, synced.stderr
        _, said = commit(hooked_repo, "other.txt", f"Fixes EXAI-1 step 1 conv:{U}")
        assert step_status(seeded, 1) == "complete", said  # the queue is not blocked
    assert links(seeded, sha) == 1, said


def test_one_oversized_message_drops_no_other_commits_markers(
        hooked_repo: Path, seeded: Database, tmp_path: Path) -> None:
    """Was: one message over the limit failed the whole range (and with apply_on = "push",
    every commit of the push lost its markers)."""
    message = tmp_path / "msg"
    message.write_text("Fixes EXAI-2\n\n" + "x" * (2 << 20) + "\n")
    skip = {"EXAI_GIT_SKIP": "1"}
    write(hooked_repo / "a.txt", "a\n")
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qF", str(message), env=skip)
    write(hooked_repo / "b.txt", "b\n")
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qm", f"Fixes EXAI-1 step 1 conv:{U}", env=skip)
    out = exai("apply", "HEAD~2..HEAD", cwd=hooked_repo)
    assert out.returncode == 0, out.stdout + out.stderr
    assert step_status(seeded, 1) == "complete"
    assert links(seeded, git(hooked_repo, "rev-parse", "HEAD~1").stdout.strip()) == 0


# --------------------------------------------------------------------------- B5


def test_a_marker_commit_opens_at_most_two_connections(
        fault_proxy: FaultProxy, hooked_repo: Path, seeded: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-commit scan reads the issue the marker names (its line is touched); commit-msg
    checks against that reading instead of connecting again; post-commit applies."""
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    kimi = hooked_repo / "src/providers/async_kimi.py"
    kimi.write_text(kimi.read_text().replace("l59\n", "changed\n"))
    git(hooked_repo, "add", "-A")
    before = fault_proxy.accepted
    out = git(hooked_repo, "commit", "-q", "-m", f"Refs EXAI-2 conv:{U}")
    assert "src/providers/async_kimi.py:58-60 EXAI-2" in out.stderr, out.stderr
    assert fault_proxy.accepted - before <= 2, out.stderr
    assert links(seeded, head(hooked_repo)) == 1
    # a marker on an issue the scan did not read: commit-msg asks the tracker itself
    write(hooked_repo / "other.txt", "y\n")
    git(hooked_repo, "add", "-A")
    out = git(hooked_repo, "commit", "-q", "-m", "Refs EXAI-99", check=False)
    assert out.returncode != 0 and "EXAI-99: no such issue" in out.stderr, out.stderr
