"""Landing is reconciliation, against real git and a real database: after everyday git work
(amend, reword, rebase, reset, revert, cherry-pick, merges, fetch, pull --rebase), reconcile()
leaves the tracker saying what the tracked branches say. Starts from the seed's three issues
(issue 1 with seven steps; 2 and 3 without)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exai_git.reconcile import reconcile
from exai_git.repo import Repo
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


class Clone(TrackerReads):
    clock = 1_700_000_000

    def __init__(self, path: Path, db: Database) -> None:
        self.path, self.db = path, db
        self.said: list[str] = []

    def git(self, *args: str, check: bool = True) -> str:
        Clone.clock += 60
        date = f"{Clone.clock} +0000"
        return git(self.path, *args, check=check,
                   env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}).stdout.strip()

    def commit(self, message: str, name: str | None = None) -> str:
        Clone.clock += 1
        write(self.path / (name or f"f{Clone.clock}.txt"), f"{message}\n{Clone.clock}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev)

    def reconcile(self, hook: str | None = None, **kw: Any) -> Any:
        return reconcile(Repo(self.path), self.db.settings(), hook=hook,
                         say=self.said.append, **kw)



@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path, {"base.txt": "base\n"})


def clone_of(remote: Path, name: str, db: Database) -> Clone:
    c = Clone(clone_repo(remote, name), db)
    assert c.reconcile() is None or True  # the first run records where the clone starts
    return c


@pytest.fixture
def a(remote: Path, seeded: Database) -> Clone:
    return clone_of(remote, "a", seeded)


# ---------------------------------------------------------------------- amend and reword


def test_nothing_moved_returns_none_without_database(a: Clone) -> None:
    assert a.reconcile() is None
    assert a.reconcile(hook="post-checkout") is None


def test_amend_step_4_into_step_5(a: Clone) -> None:
    a.commit(f"work\n\nFixes EXAI-1 step 4 conv:{CONV}")
    a.reconcile("post-commit")
    assert a.steps() == "pppcppp" and a.status(1) == "in_progress"
    a.git("commit", "-q", "--amend", "-m", "work\n\nFixes EXAI-1 step 5")
    a.reconcile("post-rewrite")
    assert a.steps() == "ppppcpp" and a.status(1) == "in_progress"
    assert any("step(s) 4 back to pending" in u for u in a.updates())
    a.reconcile()  # nothing moved: nothing changes
    assert a.steps() == "ppppcpp"
    # `show` lists both commits, and says which one no longer counts
    shown = exai("show", "1", "--dsn", a.db.dsn, cwd=a.path).stdout
    commits = shown.split("commits:")[1].strip().splitlines()
    assert len(commits) == 2, shown
    assert "(undone" in commits[0] and "(undone" not in commits[1], shown


def test_amend_step_1_into_steps_1_and_2(a: Clone) -> None:
    a.commit("work\n\nFixes EXAI-1 step 1")
    a.reconcile("post-commit")
    before = len(a.updates())
    a.git("commit", "-q", "--amend", "-m", "work\n\nFixes EXAI-1 steps 1, 2")
    a.reconcile("post-rewrite")
    assert a.steps() == "ccppppp"
    new = a.updates()[before:]
    assert len(new) == 1 and "step 2 complete" in new[0]  # step 1: moved, no new row


def test_same_message_amend_moves_links_without_rows(a: Clone) -> None:
    a.commit("work\n\nFixes EXAI-1 step 3")
    a.reconcile("post-commit")
    before = len(a.updates())
    a.git("commit", "-q", "--amend", "--no-edit", "--date=now")
    a.reconcile("post-rewrite")
    assert a.steps() == "ppcpppp" and len(a.updates()) == before
    head = a.sha("HEAD")
    rows = a.db.query("SELECT commit_sha, undone_by FROM exai_commit_links WHERE action = 'fix'"
                      " ORDER BY id")
    assert [r for r in rows if r[1] is None] == [(head, None)]


def test_reword_fixes_into_refs(a: Clone) -> None:
    a.commit(f"work\n\nFixes EXAI-2 conv:{CONV}")
    a.reconcile("post-commit")
    assert a.status(2) == "fixed" and a.fix_conv(2) == CONV
    a.git("commit", "-q", "--amend", "-m", "work\n\nRefs EXAI-2")
    a.reconcile("post-rewrite")
    assert a.status(2) == "open" and a.fix_conv(2) is None
    assert any("dropped" in u or "replaced" in u for u in a.updates())


def test_rebase_reword_squash_drop(a: Clone) -> None:
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-1 step 2")
    a.commit("three\n\nFixes EXAI-2")
    a.commit("four\n\nRefs EXAI-3")
    a.reconcile("post-commit")
    assert a.steps() == "ccppppp" and a.status(2) == "fixed"
    # reword one (step 1 -> step 6), squash two into it, drop three
    todo = ("sed -i -e '1s/^pick/reword/' -e '2s/^pick/squash/' -e '3s/^pick/drop/'")
    git(a.path, "rebase", "-q", "-i", "HEAD~4",
        env={"GIT_SEQUENCE_EDITOR": todo,
             "GIT_EDITOR": "sed -i -e 's/step 1$/step 6/' -e '/^Fixes EXAI-1 step 2$/d'"})
    a.reconcile("post-rewrite")
    assert a.steps() == "pppppcp"
    assert a.status(2) == "open"


# ---------------------------------------------------------------------- leaving


def test_reset_hard_undoes_what_left(a: Clone) -> None:
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-2")
    a.reconcile("post-commit")
    a.git("reset", "-q", "--hard", "HEAD~2")
    a.reconcile("post-checkout")
    assert a.steps() == "ppppppp" and a.status(1) == "open" and a.status(2) == "open"
    assert any("left main, rewritten or reset" in u for u in a.updates())
    # back again: applied again
    a.git("reset", "-q", "--hard", "HEAD@{1}")
    a.reconcile("post-checkout")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"


def test_still_on_origin_main_has_not_left(a: Clone) -> None:
    a.commit("one\n\nFixes EXAI-2")
    a.git("push", "-q", "origin", "main")
    a.reconcile()
    a.git("reset", "-q", "--hard", "HEAD~1")
    a.reconcile()
    assert a.status(2) == "fixed"


# ---------------------------------------------------------------------- reverts


def test_revert_revert_of_revert_and_cherry_pick(a: Clone) -> None:
    x = a.commit("step two\n\nFixes EXAI-1 step 2")
    a.reconcile()
    assert a.steps() == "pcppppp"
    a.git("revert", "--no-edit", x)
    r1 = a.sha("HEAD")
    a.reconcile()
    assert a.steps() == "ppppppp" and a.status(1) == "open"
    a.git("revert", "--no-edit", r1)
    a.reconcile()
    assert a.steps() == "pcppppp" and a.status(1) == "in_progress"
    a.git("revert", "--no-edit", "HEAD")
    a.reconcile()
    assert a.steps() == "ppppppp"
    a.git("cherry-pick", "-x", x)
    a.reconcile()
    assert a.steps() == "pcppppp"


def test_revert_of_a_merge_undoes_what_it_brought(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "feat")
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-2")
    a.git("checkout", "-q", "main")
    a.commit("on main")
    a.git("merge", "-q", "--no-ff", "-m", "merge feat\n\nRefs EXAI-3", "feat")
    a.reconcile("post-merge")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    a.git("revert", "--no-edit", "-m", "1", "HEAD")
    a.reconcile()
    assert a.steps() == "ppppppp" and a.status(2) == "open"


# ---------------------------------------------------------------------- branches and merges


def test_feature_branch_holds_all_but_progress(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "feat")
    a.commit("start\n\nStarts EXAI-1 step 3\nFixes EXAI-2")
    a.reconcile("post-commit")
    assert a.steps() == "ppipppp" and a.status(2) == "open"
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", "--no-ff", "-m", "merge feat\n\nFixes EXAI-1 step 1", "feat")
    a.reconcile("post-merge")
    assert a.steps() == "cpipppp" and a.status(2) == "fixed"


def test_octopus_merge_markers_count(a: Clone) -> None:
    for name, msg in (("f1", "one\n\nRefs EXAI-3"), ("f2", "two\n\nRefs EXAI-3")):
        a.git("checkout", "-q", "-b", name, "main")
        a.commit(msg)
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", "-m", "octopus\n\nFixes EXAI-2", "f1", "f2")
    a.reconcile("post-merge")
    assert a.status(2) == "fixed"


def test_squash_merge_carries_the_squashed_markers(a: Clone) -> None:
    from exai_git.hookland import record_squash

    a.git("checkout", "-q", "-b", "feat")
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-1 step 2")
    a.git("checkout", "-q", "main")
    a.git("merge", "-q", "--squash", "feat")
    record_squash(Repo(a.path))
    a.git("commit", "-q", "-m", "squashed feat")
    a.reconcile("post-commit")
    assert a.steps() == "ccppppp"
    assert sum("steps 1, 2 complete" in u for u in a.updates()) == 1


def test_teammate_commit_arrives_by_fetch_and_pull_rebase(a: Clone, remote: Path,
                                                          seeded: Database) -> None:
    b = clone_of(remote, "b", seeded)
    b.commit("theirs\n\nFixes EXAI-2")
    b.git("push", "-q", "origin", "main")
    a.commit("mine\n\nFixes EXAI-1 step 1")
    a.reconcile("post-commit")
    a.git("fetch", "-q")
    a.reconcile("post-checkout")  # origin/main moved: their commit landed
    assert a.status(2) == "fixed"
    a.git("pull", "-q", "--rebase")
    a.reconcile("post-rewrite")
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    before = len(a.updates())
    a.reconcile()
    assert len(a.updates()) == before


def test_queued_when_unreachable_then_synced(a: Clone, seeded: Database) -> None:
    from exai_git.apply import sync

    a.commit("one\n\nFixes EXAI-2")
    settings = seeded.settings()
    bad = type(settings)(dsn="postgresql://postgres@127.0.0.1:1/none", dsn_source="test",
                         connect_timeout=1)
    reconcile(Repo(a.path), bad, hook="post-commit", say=a.said.append)
    assert any("queued" in s for s in a.said) and a.status(2) == "open"
    a.said.clear()
    reconcile(Repo(a.path), bad, hook=None, say=a.said.append)
    # heads were recorded: the work is in the queue once, not landed again
    assert any("1 commit still queued" in s for s in a.said), a.said
    count, _ = sync(Repo(a.path), settings)
    assert count == 1 and a.status(2) == "fixed"
    # the locations' move the tracker did not take is not queued: the next reconciliation
    # that reaches it moves them, then there is nothing left to do
    assert a.reconcile() is not None
    assert a.reconcile() is None


# ---------------------------------------------------------------------- apply --branch (CI)


def force_push_back(dev: Clone, to: str) -> None:
    """main reset to `to`, a commit that fixes step 2 of issue 1, force-pushed."""
    dev.git("reset", "-q", "--hard", to)
    dev.commit("three\n\nFixes EXAI-1 step 2")
    dev.git("push", "-q", "--force", "origin", "main")


def fresh_clone(remote: Path, db: Database) -> Clone:
    """A new clone of the remote over file:// (objects fetched, none copied whole)."""
    fresh = Clone(remote.parent / "ci2", db)
    git(remote.parent, "clone", "-q", f"file://{remote}", str(fresh.path))
    return fresh


def ci(clone: Clone, *args: str) -> Any:
    from tests.conftest import exai

    return exai("apply", "--branch", "main", *args, cwd=clone.path,
                env={"EXAI_GIT_DSN": clone.db.dsn})


def head_row(clone: Clone) -> Any:
    return clone.db.query("SELECT branch, sha FROM exai_branch_heads")


def test_apply_branch_records_then_applies_then_changes_nothing(a: Clone) -> None:
    first = ci(a)
    assert first.returncode == 0, first.stderr
    assert "backfill" in first.stdout and head_row(a) == [("main", a.sha("HEAD"))]
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-2")
    second = ci(a)
    assert second.returncode == 0, second.stderr
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    assert head_row(a) == [("main", a.sha("HEAD"))]
    rows = len(a.updates())
    third = ci(a, "--json")
    assert third.returncode == 0 and '"actions_applied": 0' in third.stdout
    assert len(a.updates()) == rows


def test_apply_branch_since_and_force_push(a: Clone) -> None:
    base = a.sha("HEAD")
    a.commit("one\n\nFixes EXAI-1 step 1")
    a.commit("two\n\nFixes EXAI-2")
    assert ci(a, "--since", base).returncode == 0
    assert a.steps() == "cpppppp" and a.status(2) == "fixed"
    # a force-push that rewrites "two" into Refs and drops "one"
    a.git("reset", "-q", "--hard", base)
    a.commit("two\n\nRefs EXAI-2")
    out = ci(a)
    assert out.returncode == 0, out.stderr
    assert a.steps() == "ppppppp" and a.status(2) == "open"
    assert any("left main" in u for u in a.updates())


def test_apply_branch_twice_at_once(a: Clone) -> None:
    import subprocess
    import sys

    assert ci(a).returncode == 0
    for n in range(1, 6):
        a.commit(f"c{n}\n\nFixes EXAI-1 step {n}")
    env = {"EXAI_GIT_DSN": a.db.dsn}
    import os
    procs = [subprocess.Popen([sys.executable, "-m", "exai_git", "apply", "--branch", "main"],
                              cwd=a.path, env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert a.steps() == "cccccpp"
    kinds = a.db.query("SELECT count(*) FROM exai_issue_updates WHERE update_type = "
                       "'fix_applied'")
    assert kinds == [(5,)]  # each step once: the second run waited, then found nothing new


def test_apply_branch_refuses_a_shallow_clone(remote: Path, seeded: Database) -> None:
    path = remote.parent / "shallow"
    git(remote.parent, "clone", "-q", "--depth", "1", f"file://{remote}", str(path))
    out = ci(Clone(path, seeded))
    assert out.returncode == 1 and "fetch-depth: 0" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("how", ["fresh clone", "gc"])
def test_apply_branch_when_its_recorded_head_is_gone(remote: Path, seeded: Database,
                                                     how: str) -> None:
    """A force-push, then the recorded head is gone from the CI clone (a fresh clone of the
    remote, or a clone that pruned it): the tracker's links say what the branch has. "two",
    force-pushed away, is gone from the clone too: CI cannot tell it from a developer's commit
    not pushed yet, so its effects are kept and the line says so. "one" (still on main) is
    kept, "three" lands, "zero" (before CI started) stays unapplied, and progress from a
    commit on another branch is left alone."""
    dev = Clone(remote.parent / "dev", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(dev.path))
    dev.commit("zero\n\nFixes EXAI-1 step 7")
    dev.git("push", "-q", "origin", "main")
    runner = Clone(remote.parent / "ci", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(runner.path))
    assert ci(runner).returncode == 0  # CI starts here: zero is not applied
    feat = clone_of(remote, "feat", seeded)
    feat.git("checkout", "-qb", "feat")
    feat.commit("feat\n\nStarts EXAI-3")
    feat.reconcile("post-commit")  # progress counts at once from any branch
    feat.git("push", "-q", "origin", "feat")
    one = dev.commit("one\n\nFixes EXAI-1 step 1")
    two = dev.commit("two\n\nFixes EXAI-2")
    dev.git("push", "-q", "origin", "main")
    runner.git("pull", "-q")
    assert ci(runner).returncode == 0
    assert runner.steps() == "cpppppp" and runner.status(2) == "fixed"
    assert runner.status(3) == "in_progress"
    force_push_back(dev, one)
    if how == "gc":
        runner.git("fetch", "-q")
        runner.git("reset", "-q", "--hard", "origin/main")
        runner.git("reflog", "expire", "--expire=now", "--all")
        runner.git("gc", "-q", "--prune=now")
    else:
        runner = fresh_clone(remote, seeded)  # file://: no objects copied whole
    assert git(runner.path, "cat-file", "-e", f"{two}^{{commit}}", check=False).returncode != 0
    out = ci(runner)
    assert out.returncode == 0, out.stderr
    assert (f"the head recorded for main ({two[:10]}) is not in this clone: 0 linked commit(s)"
            " no branch has are undone; 1 linked commit(s) this clone does not have could not"
            " be checked, their effects are kept") in out.stdout, out.stdout
    assert runner.steps() == "ccppppp"  # one kept, three applied, zero never
    assert runner.status(2) == "fixed"  # two: not in the clone, kept
    assert runner.status(3) == "in_progress"  # feat is on origin/feat: left alone
    assert not any("its old head is gone" in u for u in runner.updates())
    assert head_row(runner) == [("main", runner.sha("HEAD"))]
    again = ci(runner)
    assert again.returncode == 0 and "not in this clone" not in again.stdout
    assert runner.steps() == "ccppppp" and runner.status(2) == "fixed"


def test_a_gone_head_leaves_progress_from_branches_ci_never_saw(remote: Path,
                                                               seeded: Database) -> None:
    """Progress counts at once from any branch, so its commit may be on a branch only a
    developer has. With the recorded head gone, a fresh CI clone has neither that commit nor
    the one force-pushed off main: it cannot tell them from a developer's commits not pushed
    yet, and leaves both as they are."""
    dev = Clone(remote.parent / "dev", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(dev.path))
    runner = Clone(remote.parent / "ci", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(runner.path))
    assert ci(runner).returncode == 0
    feat = clone_of(remote, "feat", seeded)
    feat.git("checkout", "-qb", "feat")
    feat.commit("feat\n\nStarts EXAI-3")
    feat.reconcile("post-commit")  # never pushed
    assert feat.status(3) == "in_progress"
    base = dev.sha("HEAD")
    two = dev.commit("two\n\nFixes EXAI-2")
    dev.git("push", "-q", "origin", "main")
    runner.git("pull", "-q")
    assert ci(runner).returncode == 0 and runner.status(2) == "fixed"
    force_push_back(dev, base)
    runner = fresh_clone(remote, seeded)
    out = ci(runner)
    assert out.returncode == 0, out.stderr
    assert f"({two[:10]}) is not in this clone" in out.stdout
    assert "1 linked commit(s) this clone does not have could not be checked" in out.stdout
    assert runner.status(2) == "fixed"  # two: not in the clone, kept
    assert runner.status(3) == "in_progress"  # the feature branch's progress stays


def test_a_gone_head_undoes_what_the_clone_has_and_no_branch_reaches(
        remote: Path, seeded: Database) -> None:
    """A CI clone that fetched "two" while it was on main, not the head CI recorded after it:
    after a force-push drops both, "two" is in the clone and no branch reaches it, so it
    left main and is undone; "one" is kept and "three" lands."""
    dev = Clone(remote.parent / "dev", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(dev.path))
    runner = Clone(remote.parent / "ci", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(runner.path))
    assert ci(runner).returncode == 0
    one = dev.commit("one\n\nFixes EXAI-1 step 1")
    two = dev.commit("two\n\nFixes EXAI-2")
    dev.git("push", "-q", "origin", "main")
    other = fresh_clone(remote, seeded)  # has two
    tip = dev.commit("tip\n\nRefs EXAI-3")
    dev.git("push", "-q", "origin", "main")
    runner.git("pull", "-q")
    assert ci(runner).returncode == 0 and runner.status(2) == "fixed"
    force_push_back(dev, one)
    other.git("fetch", "-q")
    other.git("reset", "-q", "--hard", "origin/main")
    assert git(other.path, "cat-file", "-e", f"{tip}^{{commit}}", check=False).returncode != 0
    out = ci(other)
    assert out.returncode == 0, out.stderr
    assert (f"the head recorded for main ({tip[:10]}) is not in this clone: 1 linked commit(s)"
            " no branch has are undone; 1 linked commit(s) this clone does not have could not"
            " be checked, their effects are kept") in out.stdout, out.stdout
    assert other.status(2) == "open"  # two left main
    assert any(f"{two[:10]} left main, its old head is gone" in u for u in other.updates())
    assert other.steps() == "ccppppp"  # one kept, three applied


def test_apply_branch_when_no_commit_it_has_is_linked(remote: Path, seeded: Database) -> None:
    """The recorded head is gone and the tracker links no commit of the branch: nothing is
    applied (the branch's start is unknown), and it says how to backfill. "one", force-pushed
    away, is not in the fresh clone: its effects are kept."""
    dev = Clone(remote.parent / "dev", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(dev.path))
    base = dev.sha("HEAD")
    dev.commit("zero\n\nFixes EXAI-1 step 7")
    dev.git("push", "-q", "origin", "main")
    runner = Clone(remote.parent / "ci", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(runner.path))
    assert ci(runner).returncode == 0
    dev.commit("one\n\nFixes EXAI-2")
    dev.git("push", "-q", "origin", "main")
    runner.git("pull", "-q")
    assert ci(runner).returncode == 0 and runner.status(2) == "fixed"
    force_push_back(dev, base)
    fresh = fresh_clone(remote, seeded)
    out = ci(fresh)
    assert out.returncode == 0, out.stderr
    assert "none of main is linked, none applied: backfill with `exai-git apply" in out.stdout
    assert fresh.status(2) == "fixed" and fresh.steps() == "ppppppp"
    assert head_row(fresh) == [("main", fresh.sha("HEAD"))]


def test_apply_branch_moves_issue_locations(remote: Path, seeded: Database) -> None:
    """Lines inserted above an issue's range on main, pushed: apply --branch moves the stored
    range with them and anchors it at the new head, once per move."""
    kimi = "src/providers/async_kimi.py"  # issue 2: lines 58-60

    def where() -> Any:
        return seeded.query("SELECT file_path, line_start, line_end, anchor_sha FROM exai_issues"
                            " WHERE issue_number = 2")[0]

    def prepend(clone: Clone, lines: int, message: str) -> str:
        path = clone.path / kimi
        path.write_text("".join(f"new {n}\n" for n in range(lines)) + path.read_text())
        clone.git("commit", "-qam", message)
        clone.git("push", "-q", "origin", "main")
        return clone.sha("HEAD")

    dev = Clone(remote.parent / "dev", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(dev.path))
    write(dev.path / kimi, "".join(f"l{i}\n" for i in range(1, 101)))
    dev.git("add", "-A")
    dev.git("commit", "-qm", "kimi")
    dev.git("push", "-q", "origin", "main")
    runner = Clone(remote.parent / "ci", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(runner.path))
    assert ci(runner).returncode == 0  # the head recorded; the issue is not anchored yet
    assert where() == (kimi, 58, 60, None)
    first = prepend(dev, 5, "five lines on top")
    runner.git("pull", "-q")
    out = ci(runner)
    assert out.returncode == 0, out.stderr
    assert f"EXAI-2: location moved: {kimi}:58-60 -> {kimi}:63-65" in out.stdout
    assert where() == (kimi, 63, 65, first)
    second = prepend(dev, 2, "two more")
    runner.git("pull", "-q")
    assert ci(runner).returncode == 0
    assert where() == (kimi, 65, 67, second)
    again = ci(runner)
    assert again.returncode == 0 and "location moved" not in again.stdout
    assert where() == (kimi, 65, 67, second)


# ---------------------------------------------------------------------- the clone's side


def test_first_run_says_once_how_to_backfill(remote: Path, seeded: Database) -> None:
    c = clone_of(remote, "fresh", seeded)
    head = git(c.path, "rev-parse", "HEAD").stdout.strip()[:10]
    said = [s for s in c.said if "backfill them with" in s]
    assert said == [f"EXAI: this clone now follows its tracked branches from {head}; {head} and"
                    f" the commits before it are not applied: backfill them with `exai-git "
                    f"apply A..{head}` (the commits after A; `exai-git apply A` for A itself)"]
    c.commit("one\n\nFixes EXAI-2")
    c.reconcile("post-commit")
    assert sum("backfill them with" in s for s in c.said) == 1
    assert c.status(2) == "fixed"


def test_a_first_run_in_post_commit_names_the_parent_as_where_it_starts(
        remote: Path, seeded: Database) -> None:
    """The clone's first reconciliation is its first post-commit: the commit lands, and the
    line names its parent, not the commit, as the last one not applied."""
    c = Clone(clone_repo(remote, "late"), seeded)
    parent = git(c.path, "rev-parse", "HEAD").stdout.strip()[:10]
    c.commit("one\n\nFixes EXAI-2")
    c.reconcile("post-commit", before="HEAD^")
    assert c.status(2) == "fixed"
    [line] = [s for s in c.said if "backfill them with" in s]
    assert f"follows its tracked branches from {parent}; {parent} and" in line, line


def test_a_busy_lock_is_waited_for_one_second_then_left(a: Clone) -> None:
    import fcntl
    import os
    import time

    a.commit("one\n\nFixes EXAI-2")
    path = Path(a.path) / ".git" / "exai-git" / "reconcile.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        t = time.monotonic()
        assert a.reconcile("post-commit") is None
        assert 0.9 < time.monotonic() - t < 5
        assert any("another exai-git is reconciling" in s for s in a.said)
        assert a.status(2) == "open"
    finally:
        os.close(fd)
    a.reconcile()
    assert a.status(2) == "fixed"  # the next run applies it


def test_cherry_pick_to_another_tracked_branch_only_adds(remote: Path, seeded: Database
                                                         ) -> None:
    c = Clone(remote.parent / "rel", seeded)
    git(remote.parent, "clone", "-q", str(remote), str(c.path))
    c.git("branch", "release")
    reconcile(Repo(c.path), seeded.settings(branches=("main", "release")), hook=None,
              say=c.said.append)
    x = c.commit("one\n\nFixes EXAI-1 steps 1, 2")
    reconcile(Repo(c.path), seeded.settings(branches=("main", "release")), hook=None,
              say=c.said.append)
    c.git("checkout", "-q", "release")
    c.git("cherry-pick", "-x", x)
    c.git("commit", "-q", "--amend", "-m", f"one\n\nFixes EXAI-1 step 1\n\n"
          f"(cherry picked from commit {x})")
    reconcile(Repo(c.path), seeded.settings(branches=("main", "release")), hook=None,
              say=c.said.append)
    assert c.steps() == "ccppppp"  # step 2 is still on main: not undone


def test_apply_branch_usage_and_unknown_branch(a: Clone) -> None:
    from tests.conftest import exai

    env = {"EXAI_GIT_DSN": a.db.dsn}
    unknown = exai("apply", "--branch", "nope", cwd=a.path, env=env)
    assert unknown.returncode == 2 and "no branch nope" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    both = exai("apply", "HEAD", "--branch", "main", cwd=a.path, env=env)
    assert both.returncode == 2


def test_amend_of_a_pushed_commit_waits_for_the_force_push(a: Clone) -> None:
    a.commit("one\n\nFixes EXAI-1 steps 1, 2")
    a.git("push", "-q", "origin", "main")
    a.reconcile()
    a.git("commit", "-q", "--amend", "-m", "one\n\nFixes EXAI-1 step 1")
    a.reconcile("post-rewrite")
    assert a.steps() == "ccppppp"  # the old commit is still on origin/main
    a.git("push", "-q", "--force", "origin", "main")
    a.reconcile()
    assert a.steps() == "cpppppp"  # now the latest landed message decides


# ---------------------------------------------------------------------- the hook role


@pytest.fixture
def hook_db(seeded: Database) -> Any:
    """The seeded database reached as a login with exactly the hook role's rights."""
    import uuid

    from psycopg.conninfo import make_conninfo

    name = f"exai_hook_{uuid.uuid4().hex[:8]}"
    seeded.query(f"CREATE ROLE {name} LOGIN PASSWORD 'hookpw' IN ROLE exai_git_hook")
    yield Database(make_conninfo(seeded.dsn, user=name, password="hookpw"), seeded.name)
    seeded.query(f"DROP OWNED BY {name}")
    seeded.query(f"DROP ROLE {name}")


def test_hook_role_reconciles_and_applies_branches(remote: Path, seeded: Database,
                                                   hook_db: Database) -> None:
    import psycopg

    c = clone_of(remote, "hooked", hook_db)
    c.commit("one\n\nFixes EXAI-1 step 4")
    c.reconcile("post-commit")
    c.git("commit", "-q", "--amend", "-m", "one\n\nFixes EXAI-1 step 5")
    c.reconcile("post-rewrite")
    c.git("revert", "--no-edit", "HEAD")
    c.reconcile()
    c.git("revert", "--no-edit", "HEAD")
    c.reconcile()  # a link undone, then written over in force again: UPDATE rights
    assert c.steps() == "ppppcpp" and not any("error" in s for s in c.said), c.said
    assert ci(c).returncode == 0 and ci(c).returncode == 0
    with psycopg.connect(hook_db.dsn, autocommit=True) as conn:
        for statement in ("DELETE FROM exai_branch_heads", "UPDATE exai_branch_heads SET"
                          " repository = 'x'", "UPDATE exai_commit_links SET commit_sha = 'x'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_nothing_moved_imports_no_database_driver(a: Clone) -> None:
    """A hook's reconciliation when nothing moved: one for-each-ref, no psycopg import."""
    import subprocess
    import sys

    code = ("import sys; from exai_git.reconcile import reconcile; from exai_git.repo import Repo;"
            "from exai_git.config import Settings;"
            "r = reconcile(Repo('.'), Settings(dsn='postgresql://nowhere:1/x'), hook='post-commit',"
            " say=print); assert r is None, r; assert 'psycopg' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=a.path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_links_and_branch_heads_name_the_repository_alike(remote: Path, seeded: Database
                                                          ) -> None:
    """Two clones of one origin, in directories of different names, and CI: links and heads
    are recorded under one repository name (was: each clone's directory name)."""
    a, b = clone_of(remote, "a", seeded), clone_of(remote, "b", seeded)
    a.commit("one\n\nRefs EXAI-1")
    a.reconcile("post-commit")
    b.commit("two\n\nRefs EXAI-2")
    b.reconcile("post-commit")
    assert ci(a).returncode == 0
    names = {r[0] for r in seeded.query("SELECT DISTINCT repository FROM exai_commit_links")}
    heads = {r[0] for r in seeded.query("SELECT DISTINCT repository FROM exai_branch_heads")}
    assert len(names) == 1 and names == heads, (names, heads)


# ---------------------------------------------------------------------- a large pull


def test_a_pull_of_many_commits_costs_a_fixed_number_of_git_calls(
        tmp_path: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 commits land at once (7 with markers): the reconciliation starts as many git
    processes as for a few (counted by a `git` first on PATH that logs, then runs the real
    one); it was a few per landed commit."""
    import shutil

    from tests.history import fast_import_history

    gen, remote, clone = tmp_path / "gen", tmp_path / "remote.git", tmp_path / "clone"
    git(tmp_path, "init", "-q", "-b", "main", str(gen))
    fast_import_history(gen, 301, 40, [1], 7)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(gen, "push", "-q", str(remote), "main~300:refs/heads/main")
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    c = Clone(clone, seeded)
    c.reconcile()  # the clone starts at the first commit
    git(gen, "push", "-q", str(remote), "main")
    c.git("pull", "-q", "--ff-only")
    log, shim = tmp_path / "calls.log", tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{__import__('os').environ['PATH']}")
    report = c.reconcile()
    assert report is not None and report.applied == 7 and c.steps() == "ccccccc"
    calls = log.read_text().splitlines()
    assert len(calls) <= 20, calls


# ---------------------------------------------------------------------- a commit that comes back


def test_a_commit_force_pushed_back_applies_again(a: Clone) -> None:
    """X fixes EXAI-2 on main; a force-push drops it (CI undoes it); X is force-pushed back:
    CI applies it again (its undone links are not "already applied"), and so does `apply A..B`
    over it after it left again."""
    base = a.sha("HEAD")
    assert ci(a).returncode == 0
    x = a.commit("x\n\nFixes EXAI-2")
    assert ci(a).returncode == 0 and a.status(2) == "fixed"
    a.git("reset", "-q", "--hard", base)  # main force-pushed back to base
    assert ci(a).returncode == 0 and a.status(2) == "open"
    a.git("reset", "-q", "--hard", x)  # and X pushed again: a fast-forward
    back = ci(a)
    assert back.returncode == 0, back.stderr
    assert "0 skipped as already applied" in back.stdout, back.stdout
    assert a.status(2) == "fixed"
    a.git("reset", "-q", "--hard", base)
    assert ci(a).returncode == 0 and a.status(2) == "open"
    again = exai("apply", f"{base}..{x}", cwd=a.path, env={"EXAI_GIT_DSN": a.db.dsn})
    assert again.returncode == 0, again.stderr
    assert "0 skipped as already applied" in again.stdout, again.stdout
    assert a.status(2) == "fixed"
