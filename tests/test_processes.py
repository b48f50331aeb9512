"""Hooks and commands are short-lived processes: they take their environment, working
directory and stdin from git, stop on Ctrl-C, and leave nothing running behind them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Database, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"


def hook(cwd: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exai_git.hookmain", *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def exai_processes() -> dict[int, str]:
    """Every process on this machine whose command line runs exai-git (by module or script),
    except this test run itself: pid -> command line."""
    found = {}
    mine = {os.getpid(), os.getppid()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        words = [a.decode(errors="replace") for a in argv if a]
        if any(w in ("exai_git", "exai_git.hookmain") or w.startswith("exai_git.")
               or os.path.basename(w) in ("exai-git", "exai-git-hook") for w in words):
            found[int(entry.name)] = " ".join(words)
    return found


def ours(pids: dict[int, str], repo: Path, dsn: str) -> dict[int, str]:
    """The processes among pids started for this test (other tests run beside this one): they
    run in repo, or carry this test's own database in their environment (a process that
    detached and changed directory still does)."""
    out = {}
    for pid, cmd in pids.items():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if cwd.startswith(str(repo)) or dsn.encode() in environ:
            out[pid] = cmd
    return out


def test_a_marker_commit_through_every_hook_leaves_no_process(hooked_repo: Path,
                                                              seeded: Database) -> None:
    hooks_dir = hooked_repo / ".git" / "hooks"
    installed = sorted(p.name for p in hooks_dir.iterdir() if not p.name.endswith(".sample"))
    assert {"commit-msg", "pre-commit", "prepare-commit-msg", "post-commit", "pre-push",
            "post-rewrite"} <= set(installed)
    kimi = hooked_repo / "src/providers/async_kimi.py"
    kimi.write_text(kimi.read_text().replace("l59\n", "changed\n"))
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qm", f"Fixes EXAI-1 step 2 conv:{U}\n\nRefs EXAI-2")
    git(hooked_repo, "commit", "-q", "--amend", "-m", f"Fixes EXAI-1 step 2 conv:{U}")
    assert seeded.scalar(
        "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = 1 AND c.step_number = 2") == "complete"
    time.sleep(0.5)  # a process that detached would have started by now
    assert ours(exai_processes(), hooked_repo, seeded.dsn) == {}
    # the search does see one that runs: a command waiting for its stdin
    waiting = subprocess.Popen([sys.executable, "-m", "exai_git", "parse", "-"],
                               cwd=hooked_repo / "src", stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        assert list(ours(exai_processes(), hooked_repo, seeded.dsn)) == [waiting.pid]
    finally:
        waiting.kill()
        waiting.wait()


def test_hooks_take_their_environment_directory_and_stdin(hooked_repo: Path,
                                                          seeded: Database) -> None:
    base = git(hooked_repo, "rev-parse", "HEAD").stdout.strip()
    git(hooked_repo, "commit", "-q", "--allow-empty", "-m", "Starts EXAI-3",
        env={"EXAI_GIT_APPLY_ON": "push"})  # applies nothing: it waits for the push
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 3") == "open"
    head = git(hooked_repo, "rev-parse", "HEAD").stdout.strip()
    line = f"refs/heads/main {head} refs/heads/main {base}\n"
    proc = hook(hooked_repo / "src", "pre-push", "origin", "/nowhere", stdin=line,
                env={"EXAI_GIT_APPLY_ON": "push", "EXAI_CONVERSATION_ID": U})
    assert proc.returncode == 0, proc.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 3") == \
        "in_progress"
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links WHERE conversation_id = %s",
                         (U,)) == 1


def test_ctrl_c_stops_a_command_with_one_line_and_130(hooked_repo: Path) -> None:
    # `parse -` waits for its message on stdin, which stays open: the work is under way
    client = subprocess.Popen([sys.executable, "-m", "exai_git", "parse", "-"], cwd=hooked_repo,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # started and reading
    client.send_signal(signal.SIGINT)
    _out, err = client.communicate(timeout=20)
    assert client.returncode == 130, err
    assert err.strip().startswith("exai-git: ") and "Traceback" not in err


def test_a_commit_with_a_marker_shows_what_it_did(hooked_repo: Path, seeded: Database) -> None:
    write(hooked_repo / "other.txt", "changed\n")
    git(hooked_repo, "add", "-A")
    done = git(hooked_repo, "commit", "-qm", f"Fixes EXAI-1 step 2 conv:{U}")
    assert "EXAI-1: step 2 -> complete" in done.stderr + done.stdout
