"""Landing is reconciliation, end to end: real `git commit`, `merge`, `rebase -i`, `revert`,
`cherry-pick`, `pull --rebase` and `reset --hard` in a clone of a bare remote, with the hooks
installed natively and through the real pre-commit framework and prek (MARKERS.md "When a
commit counts"; issue 15). Each test starts from the seed's three issues: issue 1 with seven
steps, 2 and 3 without. The tests drive git (and the hooks it runs) and the `exai-git`
command line only; what they check is read from the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    Database,
    TrackerReads,
    bare_remote,
    clone_repo,
    exai,
    git,
    write,
)

CONV = "11111111-2222-3333-4444-555555555555"
FRAMEWORK = [pytest.param(tool, marks=pytest.mark.slow) for tool in ("pre-commit", "prek")]
MODES = ["native", *FRAMEWORK]
HOOK_TYPES = ["commit-msg", "pre-commit", "post-commit", "pre-push", "post-merge",
              "post-rewrite", "post-checkout"]


def framework_config(hook_repo: tuple[Path, str]) -> str:
    ids = "\n".join(f"      - id: {i}" for i in ("exai-check-msg", "exai-scan", "exai-apply",
                                                  "exai-push", "exai-land"))
    return (f"default_install_hook_types: [{', '.join(HOOK_TYPES)}]\n"
            f"repos:\n  - repo: {hook_repo[0]}\n    rev: {hook_repo[1]}\n    hooks:\n{ids}\n")


class Clone(TrackerReads):
    """A clone of the remote with the hooks installed; what the tracker says, in one word."""

    clock = 1_700_000_000

    def __init__(self, path: Path, db: Database, mode: str) -> None:
        self.path, self.db, self.mode = path, db, mode
        self.said = ""

    def git(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        Clone.clock += 60
        date = f"{Clone.clock} +0000"
        done = git(self.path, *args, check=check,
                   env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, **(env or {})})
        self.said += done.stdout + done.stderr
        return done.stdout.strip()

    def commit(self, message: str, name: str | None = None, *args: str) -> str:
        Clone.clock += 1
        write(self.path / (name or f"f{Clone.clock}.txt"), f"{message}\n{Clone.clock}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, *args)
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return git(self.path, "rev-parse", rev).stdout.strip()

    def exai(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = exai(*args, cwd=self.path)
        self.said += done.stdout + done.stderr
        return done

    def state(self) -> tuple[str, str, str, str]:
        return self.steps(), self.status(1), self.status(2), self.status(3)


def make_remote(tmp_path: Path, extra: dict[str, str]) -> Path:
    lines = "".join(f"l{i}\n" for i in range(1, 101))
    return bare_remote(tmp_path, {**{name: lines for name in (
        "src/providers/async_glm.py", "src/providers/async_kimi.py",
        "src/providers/async_base.py")}, **extra})


def install(path: Path, mode: str) -> None:
    if mode == "native":
        done = exai("install", cwd=path)
    else:
        done = subprocess.run([sys.executable, "-m", "pre_commit", "install"] if
                              mode == "pre-commit" else ["prek", "install"],
                              cwd=path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def hooks_env(seeded: Database, frameworks_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def remote(tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> Path:
    extra = {}
    if mode != "native":
        extra[".pre-commit-config.yaml"] = framework_config(
            request.getfixturevalue("hook_repo"))
    return make_remote(tmp_path, extra)


def clone_of(remote: Path, name: str, db: Database, mode: str, *, hooks: bool = True) -> Clone:
    path = clone_repo(remote, name)
    c = Clone(path, db, mode)
    if hooks:
        install(path, mode)
        assert c.exai("status").returncode == 0, c.said  # the clone starts here
    return c


@pytest.fixture
def a(remote: Path, seeded: Database, mode: str, hooks_env: None) -> Clone:
    return clone_of(remote, "a", seeded, mode)


def rebase_i(c: Clone, base: str, todo: str, editor: str = "true") -> None:
    """`git rebase -i` driven by sed scripts as the sequence editor and the message editor."""
    c.git("rebase", "-q", "-i", base, env={"GIT_SEQUENCE_EDITOR": todo, "GIT_EDITOR": editor})


# ---------------------------------------------------------------------- issue 15, the top list


def test_amend_step_4_into_step_5(a: Clone) -> None:
    a.commit(f"work\n\nFixes EXAI-1 step 4 conv:{CONV}")
    assert a.steps() == "pppcppp" and a.status(1) == "in_progress"
    a.git("commit", "-q", "--amend", "-m", "work\n\nFixes EXAI-1 step 5")
    assert a.steps() == "ppppcpp" and a.status(1) == "in_progress"
    assert any("4" in u and "pending" in u for u in a.updates())


def test_amend_step_1_into_steps_1_and_2(a: Clone) -> None:
    a.commit("work\n\nFixes EXAI-1 step 1")
    before = len(a.updates())
    a.git("commit", "-q", "--amend", "-m", "work\n\nFixes EXAI-1 steps 1, 2")
    assert a.steps() == "ccppppp"
    new = a.updates()[before:]
    assert len(new) == 1 and "2" in new[0], new  # step 1: the link moved, no new row


def test_amend_fixes_into_refs(a: Clone) -> None:
    a.commit(f"work\n\nFixes EXAI-2 conv:{CONV}")
    assert a.status(2) == "fixed" and a.fix_conv(2) == CONV
    a.git("commit", "-q", "--amend", "-m", "work\n\nRefs EXAI-2")
    assert a.status(2) == "open" and a.fix_conv(2) is None


def test_rebase_reword_fixes_into_refs(a: Clone) -> None:
    a.commit(f"one\n\nFixes EXAI-2 conv:{CONV}")
    a.commit("two\n\nRefs EXAI-3")
    assert a.status(2) == "fixed"
    rebase_i(a, "HEAD~2", "sed -i -e '1s/^pick/reword/'", "sed -i -e 's/^Fixes EXAI-2/Refs EXAI-2/'")
    assert "Refs EXAI-2" in a.git("log", "-1", "--format=%B", "HEAD~1")
    assert a.status(2) == "open" and a.fix_conv(2) is None


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_feature_branch_commit_does_not_move_issue_lines(a: Clone) -> None:
    before = a.db.query("SELECT line_start, line_end FROM exai_issues WHERE issue_number = 1")
    a.git("checkout", "-q", "-b", "feat")
    glm = a.path / "src/providers/async_glm.py"
    glm.write_text("".join(f"new{i}\n" for i in range(10)) + glm.read_text())
    a.git("commit", "-qam", "ten lines on top, on a feature branch")
    assert a.db.query("SELECT line_start, line_end FROM exai_issues WHERE issue_number = 1"
                      ) == before
    a.git("checkout", "-q", "main")
    glm.write_text(glm.read_text().replace("l49\n", "changed\n"))
    a.git("add", "-A")
    out = git(a.path, "commit", "-m", "edit the issue's real line on main")
    assert "EXAI-1" in out.stdout + out.stderr


def test_merge_commit_markers_count(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "feat")
    a.commit("feature work")
    a.git("checkout", "-q", "main")
    a.commit("meanwhile on main")
    a.git("merge", "-q", "--no-ff", "-m", "Merge feat\n\nFixes EXAI-3", "feat")
    assert a.status(3) == "fixed"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_octopus_merge_markers_count(a: Clone) -> None:
    for name, msg in (("f1", "one\n\nRefs EXAI-2"), ("f2", "two\n\nFixes EXAI-1 step 7")):
        a.git("checkout", "-q", "-b", name, "main")
        a.commit(msg)
    a.git("checkout", "-q", "main")
    a.commit("meanwhile on main")
    a.git("merge", "-q", "-m", "octopus\n\nFixes EXAI-3", "f1", "f2")
    assert a.git("log", "-1", "--format=%P").count(" ") == 2
    assert a.status(3) == "fixed" and a.steps() == "ppppppc"


def test_revert_then_revert_of_the_revert(a: Clone) -> None:
    x = a.commit("step two\n\nFixes EXAI-1 step 2")
    assert a.steps() == "pcppppp"
    a.git("revert", "--no-edit", x)
    assert a.steps() == "ppppppp" and a.status(1) == "open"
    a.git("revert", "--no-edit", "HEAD")
    assert a.steps() == "pcppppp" and a.status(1) == "in_progress"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_cherry_pick_of_a_reverted_commit(a: Clone) -> None:
    x = a.commit("step two\n\nFixes EXAI-1 step 2")
    a.git("revert", "--no-edit", x)
    assert a.steps() == "ppppppp"
    a.git("cherry-pick", x)
    assert a.steps() == "pcppppp"
    a.git("revert", "--no-edit", "HEAD")
    a.git("cherry-pick", "-x", x)
    assert a.steps() == "pcppppp"


def test_commits_made_without_hooks_land_at_the_next_hook(a: Clone, remote: Path) -> None:
    """A teammate without hooks pushes; here a fetch moves origin/main (no hook), and the next
    hook that runs, whatever it is, applies what landed. Commits made here with the hooks
    off land at the next `exai-git status`."""
    b = clone_of(remote, "b", a.db, a.mode, hooks=False)
    b.commit("theirs\n\nFixes EXAI-2")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    assert a.status(2) == "open"
    a.git("checkout", "-q", "-b", "topic")  # post-checkout: origin/main moved
    assert a.status(2) == "fixed"
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", "--ff-only", "origin/main")
    a.commit("mine, no hooks\n\nFixes EXAI-1 step 6", None, "--no-verify")
    git(a.path, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m",
        "also without hooks\n\nFixes EXAI-3")
    assert a.status(3) == "open"
    assert a.exai("status").returncode == 0, a.said
    assert a.status(3) == "fixed" and a.steps() == "pppppcp"


def test_an_amend_mid_rebase_waits_for_the_rebase(a: Clone) -> None:
    a.commit(f"one\n\nFixes EXAI-2 conv:{CONV}")
    a.commit("two")
    rebase_i(a, "HEAD~2", "sed -i -e '1s/^pick/edit/'")
    assert (a.path / ".git" / "rebase-merge").is_dir()
    a.git("commit", "-q", "--amend", "-m", "one\n\nRefs EXAI-2")
    assert a.status(2) == "fixed"  # mid-rebase: nothing yet
    a.git("rebase", "--continue")
    assert a.status(2) == "open" and a.fix_conv(2) is None


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_revert_of_a_merge_undoes_what_it_brought(a: Clone) -> None:
    feature(a, "one\n\nFixes EXAI-1 step 1", "two\n\nFixes EXAI-2")
    a.git("checkout", "-q", "main")
    a.commit("meanwhile on main")
    a.git("merge", "-q", "--no-ff", "-m", "merge feat\n\nRefs EXAI-3", "feat")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    a.git("revert", "--no-edit", "-m", "1", "HEAD")
    assert a.steps() == "ppppppp" and a.status(2) == "open"


def test_pre_push_lands_what_a_fetch_brought(a: Clone, remote: Path) -> None:
    b = clone_of(remote, "b", a.db, a.mode, hooks=False)
    b.commit("theirs\n\nFixes EXAI-2")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    assert a.status(2) == "open"
    # a commit made with no hook at all (the frameworks run pre-push only for new commits)
    mine = a.git("commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "mine")
    a.git("push", "-q", "origin", f"{mine}:refs/heads/topic")
    assert a.status(2) == "fixed"


# ---------------------------------------------------------------------- feature branches


def feature(a: Clone, *messages: str) -> None:
    a.git("checkout", "-q", "-b", "feat")
    for m in messages:
        a.commit(m)


@pytest.mark.parametrize("how", ["no-ff", "ff-only"])
def test_feature_branch_then_merge(a: Clone, how: str) -> None:
    feature(a, "start\n\nStarts EXAI-3", "one\n\nFixes EXAI-1 step 1", "two\n\nFixes EXAI-2")
    assert a.status(3) == "in_progress"  # progress counts at once
    assert a.steps() == "ppppppp" and a.status(2) == "open"  # the rest is held, and said
    held = [ln for ln in a.said.splitlines() if "held until it lands" in ln]
    assert [ln.split(": ", 2)[2] for ln in held] == ["EXAI-1: step 1 -> complete",
                                                      "EXAI-2: -> fixed"], a.said
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", f"--{how}", "feat")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed" and a.status(3) == "in_progress"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_squash_merge_with_its_own_message(a: Clone) -> None:
    feature(a, "one\n\nFixes EXAI-1 step 1", "two\n\nFixes EXAI-1 step 2")
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", "--squash", "feat")
    a.git("commit", "-q", "-m", "the feature, squashed\n\nRefs EXAI-3")
    assert a.steps() == "ccppppp"
    assert sum("steps 1, 2 complete" in u for u in a.updates()) == 1  # one row, both steps
    assert a.db.scalar("SELECT count(*) FROM exai_commit_links WHERE action = 'ref'") == 1


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_conflicted_merge_finished_by_commit(a: Clone) -> None:
    feature(a)
    a.commit("theirs\n\nFixes EXAI-2", "same.txt")
    a.git("checkout", "-q", "main")
    a.commit("ours", "same.txt")
    assert a.git("merge", "feat", check=False) is not None
    assert (a.path / ".git/MERGE_HEAD").exists()
    write(a.path / "same.txt", "resolved\n")
    a.git("add", "same.txt")
    a.git("commit", "-q", "--no-edit")  # no post-merge: post-commit reconciles
    assert a.status(2) == "fixed"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_conflicted_squash_finished_by_commit(a: Clone) -> None:
    feature(a, "one\n\nFixes EXAI-1 step 3")
    a.commit("theirs", "same.txt")
    a.git("checkout", "-q", "main")
    a.commit("ours", "same.txt")
    a.git("merge", "--squash", "feat", check=False)
    write(a.path / "same.txt", "resolved\n")
    a.git("add", "same.txt")
    a.git("commit", "-q", "-m", "squashed, resolved")  # commit-msg remembers SQUASH_MSG
    assert a.steps() == "ppcpppp"


def test_rebase_i_rewords_squashes_and_drops_applied_commits(a: Clone) -> None:
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-1 step 2")
    a.commit("three\n\nFixes EXAI-2")
    a.commit("four\n\nRefs EXAI-3")
    assert a.steps() == "ccppppp" and a.status(2) == "fixed"
    rebase_i(a, "HEAD~4",
             "sed -i -e '1s/^pick/reword/' -e '2s/^pick/squash/' -e '3s/^pick/drop/'",
             "sed -i -e 's/step 1$/step 6/' -e '/^Fixes EXAI-1 step 2$/d'")
    assert a.steps() == "pppppcp" and a.status(2) == "open"


# ---------------------------------------------------------------------- against a remote


def test_pull_rebase_and_reset_hard(a: Clone, remote: Path) -> None:
    b = clone_of(remote, "b", a.db, a.mode, hooks=False)
    b.commit("theirs\n\nFixes EXAI-2")
    b.git("push", "-q", "origin", "main")
    a.commit("mine\n\nFixes EXAI-1 step 1")
    assert a.steps() == "cpppppp" and a.status(2) == "open"
    a.git("pull", "-q", "--rebase")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    before = len(a.updates())
    assert a.exai("status").returncode == 0
    assert len(a.updates()) == before  # nothing moved: nothing written again
    a.git("push", "-q", "origin", "main")
    a.commit("not pushed\n\nFixes EXAI-3")
    assert a.status(3) == "fixed"
    a.git("reset", "-q", "--hard", "origin/main")  # no hook: the next one reconciles
    a.git("checkout", "-q", "-b", "next")
    assert a.status(3) == "open" and a.status(2) == "fixed" and a.steps() == "cpppppp"


# ---------------------------------------------------------------------- status


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_status_lists_held_markers_and_orphaned_progress(a: Clone) -> None:
    feature(a, "start\n\nStarts EXAI-3", f"one\n\nFixes EXAI-1 step 4 conv:{CONV}")
    done = a.exai("status", "--json")
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout)
    assert s["branch"] == "feat" and s["tracked"] is False and s["detached"] is False
    assert s["main_line"]["branch"] == "main" and s["main_line"]["ref"] == "refs/heads/main"
    assert s["held_commits"] == 2
    assert [(h["key"], h["action"], h["steps"], h["counts_now"]) for h in s["held"]] == [
        ("EXAI-1", "fix", [4], False), ("EXAI-3", "progress", [], True)]
    assert s["held"][0]["conversation_id"] == CONV and "complete" in s["held"][0]["on_landing"]
    assert s["orphaned_progress"] == [] and s["queue"] == {"pending": 0, "failed": []}
    text = a.exai("status").stdout
    assert "not tracked" in text and "EXAI-1" in text
    # the branch goes away unmerged: its progress no longer stands on any branch
    a.git("checkout", "-q", "main")
    a.git("branch", "-q", "-D", "feat")
    assert a.status(3) == "in_progress"
    s = json.loads(a.exai("status", "--json").stdout)
    assert s["tracked"] is True and s["held"] == []
    assert [o["subject"] for o in s["orphaned_progress"]] == ["start"]
    assert s["orphaned_progress"][0]["undo"] == "exai-git status --undo-orphaned"
    undone = a.exai("status", "--undo-orphaned")
    assert undone.returncode == 0 and "undone" in undone.stdout, undone.stdout + undone.stderr
    assert a.status(3) == "open"
    assert json.loads(a.exai("status", "--json").stdout)["orphaned_progress"] == []


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_status_shows_queued_and_failed_work(a: Clone, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", "postgresql://postgres@127.0.0.1:1/none")
    a.commit("one\n\nFixes EXAI-2")
    s = json.loads(a.exai("status", "--json").stdout)
    assert s["queue"]["pending"] == 1 and a.status(2) == "open"
    monkeypatch.setenv("EXAI_GIT_DSN", a.db.dsn)
    s = json.loads(a.exai("status", "--json").stdout)  # the queue is replayed first
    assert s["queue"]["pending"] == 0 and a.status(2) == "fixed"


# ---------------------------------------------------------------------- cost


@pytest.fixture
def started(a: Clone, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A log of the hooks that started Python (an exai-git-hook first on PATH notes them)."""
    log = a.path.parent / "started.log"
    bindir = a.path.parent / "logged-bin"
    bindir.mkdir()
    wrapper = bindir / "exai-git-hook"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\n'
                       f'exec "{sys.executable}" -m exai_git.hookmain "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log.write_text("")
    yield log


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_native_landing_hooks_start_no_python_when_no_ref_moved(a: Clone, started: Path
                                                                ) -> None:
    a.git("checkout", "-q", "-b", "feat")  # a new branch: a ref moved, Python looks
    assert started.read_text().split() == ["post-checkout"]
    started.write_text("")
    a.git("checkout", "-q", "main")
    a.git("checkout", "-q", "feat")
    a.git("checkout", "-q", "main", "--", "base.txt" if (a.path / "base.txt").exists()
          else "src/providers/async_glm.py")  # a checkout of files
    assert started.read_text().split() == []
    a.commit("plain, no marker")
    started.write_text("")
    a.git("commit", "-q", "--amend", "-m", "plain, amended")  # post-commit reconciled it
    assert "post-rewrite" not in started.read_text().split()


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_install_writes_the_landing_hooks_and_doctor_wants_them(a: Clone) -> None:
    from exai_git.install import MARK

    hooks = a.path / ".git" / "hooks"
    for name in ("post-merge", "post-checkout", "post-rewrite"):
        assert MARK in (hooks / name).read_text(), name
    (hooks / "post-merge").unlink()
    doctor = a.exai("doctor")
    assert "no native post-merge hook" in doctor.stdout, doctor.stdout
    assert a.exai("install", "--uninstall").returncode == 0
    assert not any((hooks / n).exists() for n in ("post-checkout", "post-rewrite"))
