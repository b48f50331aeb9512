"""How many git processes each native hook starts for one `git commit`, counted by git itself
(GIT_TRACE2_EVENT): every git process is a fork and an exec on every commit, so the number
changes by a decision, never by accident. A change that needs another git call updates the
pin below and says why."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import Database, git

U = "debb44af-15b9-456d-9b88-6a2519f81427"


def git_calls(repo: Path, *args: str) -> dict[str, list[str]]:
    """Run `git ARGS` in repo; the git processes each hook it ran started (its shell's and
    its Python's), as their command lines: git's trace of its own processes, the hooks' spans
    read from the top process's child events."""
    trace = repo.parent / "trace2.json"
    trace.unlink(missing_ok=True)
    git(repo, *args, env={"GIT_TRACE2_EVENT": str(trace)})
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    top = events[0]["sid"]
    calls: dict[str, list[str]] = {}
    hook = None
    for e in events:
        if e["sid"] == top and e["event"] == "child_start" and e.get("child_class") == "hook":
            hook = e["hook_name"]
            calls[hook] = []
        elif e["sid"] == top and e["event"] == "child_exit":
            hook = None
        elif hook is not None and e["event"] == "start":
            calls[hook].append(" ".join(a for a in e["argv"][1:] if not a.startswith("-c")
                                        and "=" not in a[:20]))
    return calls


def marker_commit(repo: Path, n: int) -> dict[str, list[str]]:
    """A commit that changes a line of issue 2 (lines 58-60 of async_kimi.py) and names it."""
    path = repo / "src/providers/async_kimi.py"
    text = path.read_text().splitlines(keepends=True)
    text[58] = f"changed {n}\n"
    path.write_text("".join(text))
    git(repo, "add", "-A")
    return git_calls(repo, "commit", "-qm", f"Refs EXAI-2 conv:{U} ({n})")


def counts(calls: dict[str, list[str]]) -> dict[str, int]:
    return {hook: len(argv) for hook, argv in calls.items()}


def test_a_marker_commit_starts_few_git_processes(hooked_repo: Path, seeded: Database) -> None:
    """Each hook's shell asks one rev-parse (the directories and HEAD) for its Python too.
    The scan: that, the staged diff. The message check: that, core.commentChar (the scan's
    reading of the issue is of this change: the same HEAD, the very same index file). The
    reconciliation: that,
    HEAD's commit, the refs, one walk (nothing left: no second walk, no reflog asked of
    git), the patch-id (git log | git patch-id), the origin URL, the main line's diff for
    the locations."""
    marker_commit(hooked_repo, 1)  # the first after install: issue 2 gets its anchor
    calls = marker_commit(hooked_repo, 2)
    assert counts(calls) == {"pre-commit": 2, "prepare-commit-msg": 0, "commit-msg": 2,
                             "post-commit": 8}, calls
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 2  # both applied


def test_a_commit_without_a_marker_starts_fewer(hooked_repo: Path, seeded: Database) -> None:
    """No open issue on the file: the scan also writes the quiet key for post-commit
    (diff-index); the message check and post-commit stop in their shells (post-commit: HEAD's
    parents and message, its diff's hash)."""
    (hooked_repo / "other.txt").write_text("first\n")
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qm", "first")
    (hooked_repo / "other.txt").write_text("second\n")
    git(hooked_repo, "add", "-A")
    calls = git_calls(hooked_repo, "commit", "-qm", "second")
    assert counts(calls) == {"pre-commit": 3, "prepare-commit-msg": 0, "commit-msg": 1,
                             "post-commit": 4}, calls
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 0


def test_the_message_check_takes_the_scans_reading_only_for_the_change_it_scanned(
        hooked_repo: Path, seeded: Database) -> None:
    """The native hooks run by hand, as git runs them: the message check after the scan of
    the same index takes the scan's reading of issue 2 (no database driver, no git diff);
    once the index changed it asks the tracker itself."""
    hooks = hooked_repo / ".git" / "hooks"
    path = hooked_repo / "src/providers/async_kimi.py"
    path.write_text(path.read_text().replace("l59\n", "changed\n"))
    git(hooked_repo, "add", "-A")
    assert subprocess.run([str(hooks / "pre-commit")], cwd=hooked_repo).returncode == 0
    msg = hooked_repo.parent / "msg"
    msg.write_text(f"Refs EXAI-2 conv:{U}\n")

    def check() -> set[str]:
        done = subprocess.run([str(hooks / "commit-msg"), str(msg)], cwd=hooked_repo,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
        assert done.returncode == 0, done.stderr
        return {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}

    assert {"psycopg", "exai_git.diff"}.isdisjoint(check())
    (hooked_repo / "other.txt").write_text("another change\n")
    git(hooked_repo, "add", "-A")
    assert "psycopg" in check()


def test_a_hook_takes_the_shells_reading_of_git_only_from_its_own_shell(
        hooked_repo: Path, seeded: Database) -> None:
    """EXAI_HOOK_DIRS left in the environment by something else (another process's id, an
    old HEAD) is not trusted: the scan asks git for HEAD itself and records the real one."""
    import sys

    old = git(hooked_repo, "rev-parse", "HEAD").stdout.strip()
    git(hooked_repo, "commit", "-q", "--allow-empty", "-m", "later", env={"EXAI_GIT_SKIP": "1"})
    head = git(hooked_repo, "rev-parse", "HEAD").stdout.strip()
    (hooked_repo / "other.txt").write_text("x\n")
    git(hooked_repo, "add", "-A")
    stale = f"1\n{hooked_repo}\n.git\n.git\n{hooked_repo}\n{old}"
    done = subprocess.run([sys.executable, "-m", "exai_git.hookmain", "pre-commit"],
                          cwd=hooked_repo, capture_output=True, text=True,
                          env={**os.environ, "EXAI_HOOK_DIRS": stale})
    assert done.returncode == 0, done.stderr
    cache = json.loads((hooked_repo / ".git" / "exai-git" / "scan-cache.json").read_text())
    assert cache["staged"] is None, cache  # no identity of the change the shell saw
    # the hook's own shell: its reading is taken
    hook = subprocess.run([str(hooked_repo / ".git" / "hooks" / "pre-commit")], cwd=hooked_repo,
                          capture_output=True, text=True)
    assert hook.returncode == 0, hook.stderr
    cache = json.loads((hooked_repo / ".git" / "exai-git" / "scan-cache.json").read_text())
    assert cache["staged"]["head"] == head != old, cache
