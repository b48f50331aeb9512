"""The git side of "When a commit counts" (MARKERS.md v2): what landed and what left after
everyday git work, equivalent commits, squash records, the repository's identity.

Real git in tmp dirs (a bare remote and clones of it), no database: landing decides on what
git says, and the tests check that against what each git command did.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from exai_git import landing, landstate
from exai_git import repo as gitrepo
from exai_git.errors import GitError
from exai_git.hookland import record_squash
from exai_git.landing import ZERO, Ident
from exai_git.repo import Repo
from tests.conftest import bare_remote, clone_repo, git, write


class Clone:
    """A work tree with deterministic commit dates, and the reconciliation a hook runs."""

    clock = 1_700_000_000  # shared by every clone of a test: dates never repeat

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        return git(self.path, *args, env={**self._dates(), **(env or {})}).stdout.strip()

    def _dates(self) -> dict[str, str]:
        Clone.clock += 60
        date = f"{Clone.clock} +0000"
        return {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}

    def commit(self, message: str, name: str | None = None, text: str | None = None) -> str:
        name = name or message.split()[0].lower() + ".txt"
        write(self.path / name, text if text is not None else f"{message}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev)

    @property
    def repo(self) -> Repo:
        return Repo(self.path)

    def reconcile(self, before: str | None = None, **kw: object) -> landing.Plan:
        """What a hook does: plan, (apply), record the heads."""
        plan = gitrepo.landing_plan(self.repo, before=before, **kw)  # type: ignore[arg-type]
        landstate.save_heads(self.repo.common_dir, plan.heads)
        return plan

    def subjects(self, shas: tuple[str, ...] | list[str]) -> list[str]:
        return [self.git("log", "-1", "--format=%s", s) for s in shas]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path, {"base.txt": "base\n"})


def clone(remote: Path, name: str) -> Clone:
    c = Clone(clone_repo(remote, name))
    c.reconcile()  # install: start from the heads as they are
    return c


@pytest.fixture
def a(remote: Path) -> Clone:
    return clone(remote, "a")


@pytest.fixture
def b(remote: Path) -> Clone:
    return clone(remote, "b")


# ---------------------------------------------------------------------- tracked branches


def test_tracked_names_default_and_setting() -> None:
    assert landing.tracked_names(None, "trunk") == ("trunk", "main", "master")
    assert landing.tracked_names([], "main") == ("main", "master")
    assert landing.tracked_names(["release/*", "main"], "trunk") == ("release/*", "main")


REFS = {
    "refs/heads/main": "1" * 40, "refs/heads/feat": "2" * 40, "refs/heads/release/1": "3" * 40,
    "refs/remotes/origin/main": "4" * 40, "refs/remotes/origin/other": "5" * 40,
    "refs/remotes/origin/release/2": "6" * 40, "refs/remotes/upstream/main": "7" * 40,
}


@pytest.mark.parametrize(("names", "remote_only", "expected"), [
    (("main", "master"), False, {"refs/heads/main", "refs/remotes/origin/main"}),
    (("master",), False, set()),
    (("other",), False, {"refs/remotes/origin/other"}),  # a literal name: twin alone counts
    (("*",), False, {"refs/heads/main", "refs/heads/feat", "refs/heads/release/1",
                     "refs/remotes/origin/main"}),  # every local branch, with its twin
    (("release/*",), False, {"refs/heads/release/1"}),
    (("main",), True, {"refs/remotes/origin/main"}),
    (("release/*",), True, {"refs/remotes/origin/release/2"}),
])
def test_tracked_refs(names: tuple[str, ...], remote_only: bool, expected: set[str]) -> None:
    got = landing.tracked_refs(REFS, names, remote_only=remote_only)
    assert set(got) == expected
    assert all(got[r] == REFS[r] for r in got)


def test_main_line_is_first_tracked_that_exists() -> None:
    assert landing.main_line(REFS, ("trunk", "main")) == ("main", "refs/heads/main")
    only_remote = {k: v for k, v in REFS.items() if k != "refs/heads/main"}
    assert landing.main_line(only_remote, ("main",)) == ("main", "refs/remotes/origin/main")
    assert landing.main_line(REFS, ("master",)) is None
    assert landing.main_line(REFS, ("*",)) == ("main", "refs/heads/main")  # preferred
    assert landing.main_line(REFS, ("*",), prefer=()) == ("feat", "refs/heads/feat")
    assert landing.main_line(REFS, ("release/*",)) == ("release/1", "refs/heads/release/1")
    assert landing.main_line(REFS, ("release/*",), remote_only=True) == (
        "release/2", "refs/remotes/origin/release/2")
    assert landing.main_line(REFS, ("main",), remote_only=True) == (
        "main", "refs/remotes/origin/main")
    assert landing.branch_ref(only_remote, "main") == "refs/remotes/origin/main"
    assert landing.branch_ref(REFS, "nope") is None
    assert landing.branch_of("refs/remotes/origin/a/b") == "a/b"
    assert landing.branch_of("refs/tags/v1") is None


def test_origin_head_names_the_default_branch(a: Clone) -> None:
    snap = gitrepo.read_refs(a.repo)
    assert landing.origin_head(snap.symrefs) == "main"
    assert "refs/remotes/origin/HEAD" not in snap.refs
    assert snap.refs["refs/heads/main"] == a.sha("main")


def test_no_tracked_branch(tmp_path: Path) -> None:
    c = Clone(tmp_path / "solo")
    git(tmp_path, "init", "-q", "-b", "work", str(c.path))
    c.commit("one")
    plan = c.reconcile(before="HEAD^")
    assert plan.main_line is None and plan.nothing and not plan.heads


# ---------------------------------------------------------------------- the cheap path


def test_nothing_moved_is_one_git_call_and_no_walk(a: Clone,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    a.commit("one")
    a.reconcile()
    calls: list[tuple[str, ...]] = []
    real = Repo.popen

    def counting(self: Repo, *args: str, **kw: object) -> object:
        calls.append(args)
        return real(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Repo, "popen", counting)
    plan = gitrepo.landing_plan(a.repo)
    assert plan.nothing and not plan.landed and not plan.left
    assert [c[0] for c in calls] == ["for-each-ref"]

    def no_walk(include: object, exclude: object) -> list[str]:
        raise AssertionError("walked")

    assert landing.plan(plan.heads, plan.heads, no_walk).nothing


# ---------------------------------------------------------------------- first hooks


def test_first_post_commit_starts_at_head_parent(remote: Path) -> None:
    path = remote.parent / "fresh"
    git(remote.parent, "clone", "-q", str(remote), str(path))
    c = Clone(path)
    one = c.commit("Fixes EXAI-1")
    plan = c.reconcile(before="HEAD^")
    assert plan.started and plan.landed == (one,) and not plan.left
    assert plan.main_line == ("main", "refs/heads/main")
    assert not c.reconcile().started


def test_first_post_commit_of_a_root_commit(tmp_path: Path) -> None:
    c = Clone(tmp_path / "new")
    git(tmp_path, "init", "-q", str(c.path))
    root = c.commit("Fixes EXAI-1")
    assert c.reconcile(before="HEAD^").landed == (root,)


def test_first_post_merge_starts_at_orig_head(remote: Path) -> None:
    path = remote.parent / "fresh"
    git(remote.parent, "clone", "-q", str(remote), str(path))
    c = Clone(path)
    old = c.commit("old")  # before the hooks were there: not applied
    c.git("checkout", "-q", "-b", "feat")
    f1 = c.commit("Fixes EXAI-2")
    c.git("checkout", "-q", "main")
    c.git("merge", "-q", "--no-ff", "-m", "Merge feat, Fixes EXAI-3", "feat")
    plan = c.reconcile(before="ORIG_HEAD")
    assert plan.landed == (f1, c.sha("HEAD")) and old not in plan.landed


def test_install_applies_nothing(a: Clone) -> None:
    assert landstate.load_heads(a.repo.common_dir) == {
        "refs/heads/main": a.sha("main"), "refs/remotes/origin/main": a.sha("main")}


# ---------------------------------------------------------------------- commits and rewrites


def test_commit_lands_and_amend_replaces_it(a: Clone) -> None:
    one = a.commit("Fixes EXAI-1 step 4")
    assert a.reconcile().landed == (one,)
    a.git("commit", "-q", "--amend", "-m", "Fixes EXAI-1 step 5")
    two = a.sha("HEAD")
    plan = a.reconcile()
    assert plan.landed == (two,) and plan.left == (one,)
    assert plan.moved == {"refs/heads/main": (one, two)}
    eq = gitrepo.equivalents(a.repo, plan.left, plan.landed)
    assert eq == {one: landing.Equivalent(two, "rewrite")}
    assert gitrepo.rewrites(a.repo)[one] == two


def test_amend_twice_follows_the_chain(a: Clone) -> None:
    one = a.commit("Fixes EXAI-1 step 1")
    a.reconcile()
    a.git("commit", "-q", "--amend", "-m", "Fixes EXAI-1 steps 1, 2")
    a.git("commit", "-q", "--amend", "-m", "Fixes EXAI-1 steps 1-3")
    three = a.sha("HEAD")
    plan = a.reconcile()
    assert plan.left == (one,) and plan.landed == (three,)
    assert gitrepo.equivalents(a.repo, plan.left, plan.landed)[one].sha == three


def _rebase_i(c: Clone, script: str, *args: str, editor: str = "true") -> None:
    c.git("rebase", "-q", "-i", *args, env={"GIT_SEQUENCE_EDITOR": f"sed -i -e '{script}'",
                                           "GIT_EDITOR": editor})


def test_rebase_reword_squash_drop(a: Clone) -> None:
    base = a.sha("HEAD")
    x = a.commit("Fixes EXAI-1 step 1")
    y = a.commit("Fixes EXAI-2")
    z = a.commit("Refs EXAI-3")
    w = a.commit("Fixes EXAI-3 step 2")
    a.reconcile()
    # reword x, squash z into y, drop w
    _rebase_i(a, "1s/^pick/reword/;3s/^pick/squash/;4s/^pick/drop/", base,
              editor="sed -i -e 's/Fixes EXAI-1/Refs EXAI-1/'")
    plan = a.reconcile()
    assert set(plan.left) == {x, y, z, w}
    assert a.subjects(plan.landed) == ["Refs EXAI-1 step 1", "Fixes EXAI-2"]
    eq = gitrepo.equivalents(a.repo, plan.left, plan.landed)
    assert eq[x] == landing.Equivalent(plan.landed[0], "patch-id")  # reworded: same patch
    assert w not in eq and z not in eq  # dropped; squashed into another patch
    assert y not in eq  # the squash changed its patch: only post-rewrite's stdin says y->yz


def test_post_rewrite_stdin_and_rewritten_list(a: Clone) -> None:
    hook = a.path / ".git" / "hooks" / "post-rewrite"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\ncat >> '{a.path.parent / 'mapping'}'\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    base = a.sha("HEAD")
    x = a.commit("Fixes EXAI-1 step 1")
    y = a.commit("Fixes EXAI-2")
    a.reconcile()
    # stop at y; x is rewritten (--force-rebase) and in the list before the rebase ends
    _rebase_i(a, "2s/^pick/edit/", "--force-rebase", base)
    assert gitrepo.rebase_in_progress(a.repo)
    x2 = a.sha("HEAD^")
    assert gitrepo.rewrites(a.repo)[x] == x2  # what a framework-run hook can read
    a.git("commit", "-q", "--amend", "-m", "Fixes EXAI-2 and EXAI-3")
    a.git("rebase", "--continue")
    assert not gitrepo.rebase_in_progress(a.repo)
    stdin = (a.path.parent / "mapping").read_text()
    mapping = landing.parse_rewrites(stdin)
    y2 = a.sha("HEAD")
    assert mapping[x] == x2 and mapping[y] == y2  # (and the amend's own post-rewrite line)
    plan = a.reconcile()
    assert set(plan.left) == {x, y} and plan.landed == (x2, y2)
    eq = gitrepo.equivalents(a.repo, plan.left, plan.landed, mapping)
    assert eq == {x: landing.Equivalent(x2, "rewrite"), y: landing.Equivalent(y2, "rewrite")}


def test_mid_rebase_nothing_moves(a: Clone) -> None:
    base = a.sha("HEAD")
    a.commit("one")
    a.commit("two")
    a.reconcile()
    _rebase_i(a, "1s/^pick/edit/", "--force-rebase", base)
    assert gitrepo.rebase_in_progress(a.repo)
    a.git("commit", "-q", "--amend", "-m", "one, amended")
    assert a.reconcile().nothing  # HEAD is detached: no tracked ref moved
    a.git("rebase", "--continue")
    assert len(a.reconcile().landed) == 2


# ---------------------------------------------------------------------- merges and squashes


def _feature(c: Clone, name: str = "feat", *messages: str) -> list[str]:
    c.git("checkout", "-q", "-b", name, "main")
    shas = [c.commit(m, f"{name}-{i}.txt") for i, m in enumerate(messages)]
    c.git("checkout", "-q", "main")
    return shas


def test_merge_no_ff_lands_commits_then_merge(a: Clone) -> None:
    f1, f2 = _feature(a, "feat", "Fixes EXAI-1 step 1", "Fixes EXAI-1 step 2")
    assert a.reconcile().nothing  # a branch that is not tracked
    a.commit("main moves on")
    a.reconcile()
    a.git("merge", "-q", "--no-ff", "-m", "Merge feat. Fixes EXAI-13 step 1", "feat")
    m = a.sha("HEAD")
    assert a.reconcile(before="ORIG_HEAD").landed == (f1, f2, m)
    assert gitrepo.merge_brought(a.repo, m) == [f1, f2, m]
    assert gitrepo.merge_brought(a.repo, f1) == [f1]
    assert a.reconcile().nothing


def test_main_line_move(a: Clone, b: Clone) -> None:
    old = a.sha("main")
    b.commit("teammate")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    plan = a.reconcile()
    assert plan.landed and plan.main_line_move is None  # origin/main moved, main did not
    a.git("merge", "-q", "--ff-only", "origin/main")
    assert a.reconcile().main_line_move == (old, a.sha("main"))


def test_merge_fast_forward(a: Clone) -> None:
    shas = _feature(a, "feat", "one", "two")
    a.git("merge", "-q", "--ff-only", "feat")
    assert list(a.reconcile().landed) == shas


def test_octopus_merge(a: Clone) -> None:
    f = _feature(a, "f", "f one", "f two")
    g = _feature(a, "g", "g one")
    a.commit("main one")
    a.reconcile()
    a.git("merge", "-q", "-m", "Octopus, Fixes EXAI-2", "f", "g")
    m = a.sha("HEAD")
    landed = a.reconcile().landed
    assert set(landed) == {*f, *g, m} and landed[-1] == m
    assert landed.index(f[0]) < landed.index(f[1])
    assert set(gitrepo.merge_brought(a.repo, m)) == {*f, *g, m}


def test_conflicted_merge_finished_by_commit(a: Clone) -> None:
    (f1,) = _feature(a, "feat", "Fixes EXAI-1 step 1")
    write(a.path / "feat-0.txt", "theirs\n")  # the same file, other text, on main
    a.git("add", "-A")
    a.git("commit", "-q", "-m", "main side")
    a.reconcile()
    assert git(a.path, "merge", "--no-ff", "feat", check=False).returncode != 0
    write(a.path / "feat-0.txt", "resolved\n")
    a.git("add", "-A")
    a.git("commit", "-q", "--no-edit")  # no post-merge: post-commit sees it
    m = a.sha("HEAD")
    assert a.reconcile(before="HEAD^").landed == (f1, m)


def test_squash_merge_record_and_take(a: Clone) -> None:
    f1, f2 = _feature(a, "feat", "Fixes EXAI-1 step 1", "Fixes EXAI-2")
    a.git("merge", "-q", "--squash", "feat")
    assert gitrepo.squash_pending(a.repo) == [f1, f2]  # oldest first
    assert record_squash(a.repo) == [f1, f2]  # post-merge (squash flag), commit-msg
    a.git("commit", "-q", "-m", "Feature, squashed")
    assert gitrepo.squash_pending(a.repo) == []  # git removed SQUASH_MSG before post-commit
    s = a.sha("HEAD")
    assert a.reconcile().landed == (s,)
    common = a.repo.common_dir
    assert landstate.take_squash(common, "main", a.sha("HEAD^")) == (f1, f2)
    assert landstate.take_squash(common, "main", a.sha("HEAD^")) == ()


def test_squash_abandoned_is_not_taken(a: Clone) -> None:
    _feature(a, "feat", "Fixes EXAI-1 step 1")
    a.git("merge", "-q", "--squash", "feat")
    record_squash(a.repo)  # post-merge
    a.git("reset", "-q", "--hard")
    write(a.path / "other.txt", "other\n")
    a.git("add", "-A")
    assert record_squash(a.repo) == []  # commit-msg: no SQUASH_MSG, the record goes
    a.git("commit", "-q", "-m", "other work")
    assert landstate.take_squash(a.repo.common_dir, "main", a.sha("HEAD^")) == ()


def test_squash_taken_only_on_the_head_it_was_made_on(tmp_path: Path) -> None:
    landstate.record_squash(tmp_path, "main", "a" * 40, ["c" * 40])
    assert landstate.take_squash(tmp_path, "main", "b" * 40) == ()
    assert landstate.take_squash(tmp_path, "main", "a" * 40) == ()  # dropped, not kept
    landstate.record_squash(tmp_path, "main", "a" * 40, ["c" * 40])
    assert landstate.take_squash(tmp_path, "other", "a" * 40) == ()
    assert landstate.take_squash(tmp_path, "main") == ("c" * 40,)


def test_conflicted_squash_is_seen_before_the_commit(a: Clone) -> None:
    (f1,) = _feature(a, "feat", "Fixes EXAI-1 step 1")
    write(a.path / "feat-0.txt", "theirs\n")
    a.git("add", "-A")
    a.git("commit", "-q", "-m", "main side")
    assert git(a.path, "merge", "--squash", "feat", check=False).returncode != 0
    assert gitrepo.squash_pending(a.repo) == [f1]  # what commit-msg would record


def test_squashed_commits_parse() -> None:
    msg = ("Squashed commit of the following:\n\ncommit " + "b" * 40 + "\nAuthor: x\n\n"
           "    commit " + "c" * 40 + "\n\ncommit " + "a" * 40 + "\n")
    assert landing.squashed_commits(msg) == ["b" * 40, "a" * 40]


# ---------------------------------------------------------------------- teammates and remotes


def test_pull_rebase(a: Clone, b: Clone) -> None:
    u = b.commit("Fixes EXAI-2", "u.txt")
    b.git("push", "-q", "origin", "main")
    local = a.commit("Fixes EXAI-1 step 1", "l.txt")
    a.reconcile()
    a.git("pull", "-q", "--rebase", "origin", "main")
    plan = a.reconcile()
    local2 = a.sha("HEAD")
    assert plan.landed == (u, local2) and plan.left == (local,)
    eq = gitrepo.equivalents(a.repo, plan.left, plan.landed)
    assert eq == {local: landing.Equivalent(local2, "patch-id")}


def test_reset_hard_to_origin(a: Clone) -> None:
    pushed = a.commit("pushed")
    a.git("push", "-q", "origin", "main")
    local = a.commit("local only")
    a.reconcile()
    a.git("reset", "-q", "--hard", "origin/main")
    plan = a.reconcile()
    assert plan.left == (local,) and not plan.landed
    a.git("reset", "-q", "--hard", "HEAD~1")  # still on origin/main: has not left
    plan = a.reconcile()
    assert plan.moved and not plan.left and pushed not in plan.left


def test_fetch_into_main_from_another_branch(a: Clone, b: Clone) -> None:
    u = b.commit("Fixes EXAI-3")
    b.git("push", "-q", "origin", "main")
    a.git("checkout", "-q", "-b", "work")
    a.git("fetch", "-q", "origin", "main:main")
    plan = a.reconcile()
    assert plan.landed == (u,)
    assert set(plan.moved) == {"refs/heads/main", "refs/remotes/origin/main"}


def test_fetch_lands_a_teammates_commit(a: Clone, b: Clone) -> None:
    u = b.commit("Fixes EXAI-3")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    assert a.reconcile().landed == (u,)


def test_branch_force(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "work")
    w1 = a.commit("w one")
    w2 = a.commit("w two")
    a.git("branch", "-f", "main", "work")
    assert a.reconcile().landed == (w1, w2)
    a.git("branch", "-f", "main", "main~2")
    plan = a.reconcile()
    assert plan.left == (w2, w1) and not plan.landed  # newest first: undo order


def test_force_push_seen_by_fetch(a: Clone, b: Clone) -> None:
    u = b.commit("Fixes EXAI-1 step 1")
    b.git("push", "-q", "origin", "main")
    a.git("fetch", "-q")
    assert a.reconcile().landed == (u,)
    b.git("reset", "-q", "--hard", "HEAD~1")
    v = b.commit("Fixes EXAI-2")
    b.git("push", "-q", "-f", "origin", "main")
    a.git("fetch", "-q")
    plan = a.reconcile()
    assert plan.landed == (v,) and plan.left == (u,)


def test_pre_push_hint_and_refused_push(a: Clone) -> None:
    one = a.commit("Fixes EXAI-1")
    a.reconcile(remote_only=True)  # apply_on = "push": local commits do not count
    assert landstate.load_heads(a.repo.common_dir) == {"refs/remotes/origin/main": a.sha("HEAD~1")}
    pushes = landing.parse_push_lines(f"refs/heads/main {one} refs/heads/main {a.sha('HEAD~1')}\n")
    snap = gitrepo.read_refs(a.repo)
    current = landing.tracked_refs(snap.refs, ["main"], remote_only=True)
    sent = landing.with_pushed(current, pushes, ["main"])
    recorded = landstate.load_heads(a.repo.common_dir) or {}
    plan = landing.plan(recorded, sent, lambda i, e: gitrepo.rev_list(a.repo, i, e))
    assert plan.landed == (one,)
    landstate.save_heads(a.repo.common_dir, plan.heads)
    # the remote refused it: origin/main never moved, so the commit leaves
    assert a.reconcile(remote_only=True).left == (one,)
    assert landing.with_pushed(sent, [("(delete)", ZERO, "refs/heads/main", one)], ["main"]) == {}
    assert landing.with_pushed(sent, [("refs/heads/f", one, "refs/heads/f", ZERO)],
                               ["main"]) == sent  # not a tracked branch
    assert landing.with_pushed({}, [("refs/heads/r", one, "refs/heads/release/3", ZERO)],
                               ["release/*"]) == {"refs/remotes/origin/release/3": one}


def test_landing_plan_against_the_refs_a_push_sets(a: Clone) -> None:
    """pre-push with apply_on = "push": planned as if the push were taken; a clone's first
    reconciliation being that pre-push starts from origin/main as it is, so what the push
    sends lands; a push to a branch that is not tracked plans nothing."""
    base = a.sha("HEAD")
    one = a.commit("Fixes EXAI-1")
    sent = landing.parse_push_lines(f"refs/heads/main {one} refs/heads/main {base}\n")
    (a.repo.common_dir / "exai-git" / "heads.json").unlink()
    plan = gitrepo.landing_plan(a.repo, remote_only=True, pushes=sent)
    assert plan.started and plan.landed == (one,) and plan.left == ()
    assert plan.heads == {"refs/remotes/origin/main": one}
    assert plan.main_line == ("main", "refs/remotes/origin/main")
    landstate.save_heads(a.repo.common_dir, {"refs/remotes/origin/main": base})
    elsewhere = [("refs/heads/main", one, "refs/heads/feature", ZERO)]
    assert gitrepo.landing_plan(a.repo, remote_only=True, pushes=elsewhere).nothing
    assert landing.pushed_refs([*sent, *elsewhere, ("(delete)", ZERO, "refs/heads/x", one),
                                ("HEAD", one, "refs/tags/v1", ZERO)]) == {
        "refs/remotes/origin/main": one, "refs/remotes/origin/feature": one}
    # what a pre-push recorded as pushed and the remote-tracking ref never took
    assert gitrepo.landing.not_taken(a.repo, {"refs/remotes/origin/main": one},
                                     {"refs/remotes/origin/main": base}) == {
        one: "refs/remotes/origin/main"}
    assert gitrepo.landing.not_taken(a.repo, {"refs/remotes/origin/main": one},
                                     {"refs/remotes/origin/main": one}) == {}


def test_deleted_branch_under_star(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "spike")
    s = a.commit("Starts EXAI-2")
    assert a.reconcile(branches=["*"]).landed == (s,)
    a.git("checkout", "-q", "main")
    a.git("branch", "-q", "-D", "spike")
    assert a.reconcile(branches=["*"]).left == (s,)


# ---------------------------------------------------------------------- equivalence


def test_cherry_pick_x_and_plain(a: Clone) -> None:
    (f1, f2) = _feature(a, "feat", "Fixes EXAI-1 step 1", "Fixes EXAI-2")
    a.git("cherry-pick", "-x", f1)
    p1 = a.sha("HEAD")
    a.git("cherry-pick", f2)
    p2 = a.sha("HEAD")
    eq = gitrepo.equivalents(a.repo, [f1, f2], [p1, p2])
    assert eq == {f1: landing.Equivalent(p1, "cherry-pick"),
                  f2: landing.Equivalent(p2, "patch-id")}
    assert gitrepo.equivalents(a.repo, [p1], [f1]) == {p1: landing.Equivalent(f1, "cherry-pick")}


def test_revert_is_not_equivalent(a: Clone) -> None:
    one = a.commit("Fixes EXAI-1 step 2")
    a.git("revert", "--no-edit", one)
    rev = a.sha("HEAD")
    a.git("revert", "--no-edit", rev)
    again = a.sha("HEAD")
    assert gitrepo.equivalents(a.repo, [one], [rev, again]) == {}


def test_same_patch_other_author_date_is_not_equivalent(a: Clone) -> None:
    one = a.commit("Fixes EXAI-1", "x.txt", "x\n")
    a.git("reset", "-q", "--hard", "HEAD~1")
    two = a.commit("Fixes EXAI-1", "x.txt", "x\n")  # same patch, a later author date
    assert a.repo.patch_ids([one])[one] == a.repo.patch_ids([two])[two]
    assert gitrepo.equivalents(a.repo, [one], [two]) == {}


def test_match_equivalents_pure() -> None:
    i = {s: Ident("A <a@x>", "1 +0000", "m") for s in "abcdef"}
    i["e"] = Ident("A <a@x>", "1 +0000", "m", merge=True)
    pids = {s: "p" for s in "abcdef"}
    # a rewrite chain a->b->c: the last candidate wins; patch-id: the latest candidate
    assert landing.match_equivalents(["a"], ["b", "c"], {"a": "b", "b": "c"}, i, {}) == {
        "a": landing.Equivalent("c", "rewrite")}
    assert landing.match_equivalents(["a"], ["b", "c", "e"], {}, i, pids) == {
        "a": landing.Equivalent("c", "patch-id")}
    assert landing.match_equivalents(["e"], ["b"], {}, i, pids) == {}  # merges: never
    assert landing.match_equivalents(["a"], ["b"], {"a": "a"}, i, {}) == {}  # no cycle
    assert landing.amend_rewrites([("n2", "commit (amend): x"), ("n1", "commit (amend): x"),
                                   ("o", "commit: x"), ("p", "checkout: y")]) == {
        "n1": "n2", "o": "n1"}


# ---------------------------------------------------------------------- identity, history


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/Owner/Name.git", "github.com/Owner/Name"),
    ("https://github.com/Owner/Name", "github.com/Owner/Name"),
    ("https://github.com/Owner/Name/", "github.com/Owner/Name"),
    ("git@github.com:Owner/Name.git", "github.com/Owner/Name"),
    ("ssh://git@github.com/Owner/Name.git", "github.com/Owner/Name"),
    ("ssh://git@GitHub.COM:22/Owner/Name.git", "github.com/Owner/Name"),
    ("https://user:secret@GitHub.com:443/Owner/Name.git", "github.com/Owner/Name"),
    ("http://github.com/Owner/Name.git/", "github.com/Owner/Name"),
    ("git://github.com/Owner/Name.git", "github.com/Owner/Name"),
    ("git@gitlab.com:group/sub/name.git", "gitlab.com/group/sub/name"),
    ("https://gitlab.com/group/sub/name.git", "gitlab.com/group/sub/name"),
    ("github.com:Owner/Name.git", "github.com/Owner/Name"),
    ("user@host.example:~/repo.git", "host.example/repo"),
    ("ssh://[::1]:2222/srv/repo.git", "[::1]/srv/repo"),
    ("/srv/git/repo.git", "/srv/git/repo"),
    ("file:///srv/git/repo.git/", "/srv/git/repo"),
])
def test_normalise_remote_url(url: str, expected: str) -> None:
    assert landing.normalise_remote_url(url) == expected


def test_ssh_and_https_agree() -> None:
    assert (landing.normalise_remote_url("git@GitHub.com:o/n.git")
            == landing.normalise_remote_url("https://token@github.com/o/n"))


def test_repository_name(a: Clone, tmp_path: Path) -> None:
    assert landing.repository_name("mine", "git@h:o/n", a.path) == "mine"
    assert gitrepo.repository(a.repo, "mine") == "mine"
    assert gitrepo.repository(a.repo) == str(a.path.parent / "remote")
    url = gitrepo.origin_url(a.repo)
    assert url is not None
    assert landing.repository_name(None, url, a.path) == str(a.path.parent / "remote")
    lone = tmp_path / "lone"
    git(tmp_path, "init", "-q", str(lone))
    assert gitrepo.origin_url(Repo(lone)) is None
    assert landing.repository_name(None, None, lone) == "lone"


def test_shallow_clone_is_refused(remote: Path, a: Clone) -> None:
    a.commit("two")
    a.git("push", "-q", "origin", "main")
    gitrepo.require_full_history(a.repo)
    path = remote.parent / "shallow"
    git(remote.parent, "clone", "-q", "--depth", "1", f"file://{remote}", str(path))
    with pytest.raises(GitError, match="fetch-depth: 0") as e:
        gitrepo.require_full_history(Repo(path))
    assert e.value.exit_code == 1


def test_missing_recorded_head_is_skipped(a: Clone) -> None:
    one = a.commit("one")
    assert one in gitrepo.rev_list(a.repo, [one], ["f" * 40])


def test_worktrees_share_the_recorded_heads(a: Clone) -> None:
    other = Clone(a.path.parent / "a-side")
    a.git("worktree", "add", "-q", "-b", "side", str(other.path))
    one = a.commit("Fixes EXAI-1")
    assert other.reconcile().landed == (one,)  # the commit on main, seen from the side tree
    assert a.reconcile().nothing  # recorded once, for the clone
    assert other.repo.common_dir == a.repo.common_dir != other.repo.git_dir
    base = other.sha("HEAD")
    other.commit("s1")
    other.commit("s2")
    _rebase_i(other, "1s/^pick/edit/", "--force-rebase", base)
    assert gitrepo.rebase_in_progress(other.repo) and not gitrepo.rebase_in_progress(a.repo)
    other.git("rebase", "--abort")


def test_off_branches(a: Clone) -> None:
    a.git("checkout", "-q", "-b", "spike")
    s = a.commit("Starts EXAI-2")
    kept = a.commit("Starts EXAI-3")
    a.git("reset", "-q", "--hard", "HEAD~1")
    assert gitrepo.off_branches(a.repo, [s, kept, "f" * 40]) == {kept}
    assert gitrepo.off_branches(a.repo, []) == set()


def test_state_files(tmp_path: Path) -> None:
    assert landstate.load_heads(tmp_path) is None
    landstate.save_heads(tmp_path, {"refs/heads/main": "a" * 40})
    assert landstate.load_heads(tmp_path) == {"refs/heads/main": "a" * 40}
    (tmp_path / "exai-git" / "heads.json").write_text("{not json")
    assert landstate.load_heads(tmp_path) is None  # starts afresh, as a first hook does
    assert [p.name for p in (tmp_path / "exai-git").iterdir()] == ["heads.json"]
    assert os.access(tmp_path / "exai-git", os.W_OK)


# ---------------------------------------------------------------------- property

OPS = ("commit", "feature", "merge", "reset", "amend", "force", "fetch", "push")


def test_reconciliation_applies_exactly_what_the_tracked_branches_hold(remote: Path) -> None:
    """Whatever happens, after each reconciliation the applied commits (landed minus left,
    accumulated) are all on a tracked branch, and every commit on one since the start is
    applied: nothing missed, nothing left in force that no tracked branch holds."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    counter = iter(range(10**6))

    @settings(max_examples=20, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(OPS), min_size=1, max_size=10))
    def run(ops: list[str]) -> None:
        c = clone(remote, f"p{next(counter)}")
        teammate = clone(remote, f"t{next(counter)}")
        start = set(_reachable(c))
        applied: set[str] = set()
        c.git("branch", "feat")
        for op in ops:
            n = next(counter)
            if op == "commit":
                c.commit(f"Fixes EXAI-{n}", f"f{n}.txt")
            elif op == "feature":
                c.git("checkout", "-q", "feat")
                c.commit(f"Starts EXAI-{n}", f"g{n}.txt")
                c.git("checkout", "-q", "main")
            elif op == "merge":
                c.git("merge", "-q", "--no-ff", "-m", f"Merge, Fixes EXAI-{n}", "feat")
            elif op == "reset" and c.git("rev-list", "--count", "HEAD") != "1":
                c.git("reset", "-q", "--hard", "HEAD~1")
            elif op == "amend":
                c.git("commit", "-q", "--amend", "-m", f"Refs EXAI-{n}")
            elif op == "force":
                c.git("branch", "-f", "feat", "main")
                c.git("checkout", "-q", "feat")
                c.commit(f"Fixes EXAI-{n}", f"h{n}.txt")
                c.git("checkout", "-q", "main")
                c.git("reset", "-q", "--hard", "feat")
            elif op == "fetch":
                teammate.git("pull", "-q", "--rebase", "origin", "main")
                teammate.commit(f"Fixes EXAI-{n}", f"t{n}.txt")
                teammate.git("push", "-q", "origin", "main")
                c.git("fetch", "-q")
            elif op == "push":
                c.git("push", "-q", "-f", "origin", "main")
            plan = c.reconcile()
            assert not set(plan.landed) & set(plan.left)
            assert not set(plan.landed) & applied
            applied = (applied | set(plan.landed)) - set(plan.left)
            held = set(_reachable(c))
            assert held - start <= applied <= held, ops

    run()


def _reachable(c: Clone) -> list[str]:
    snap = gitrepo.read_refs(c.repo)
    refs = landing.tracked_refs(snap.refs, landing.tracked_names(None, "main"))
    return gitrepo.rev_list(c.repo, sorted(set(refs.values())), [])
