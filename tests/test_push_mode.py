"""apply_on = "push" (DESIGN.md "Hooks"): the tracked branches are the remote-tracking ones
(origin/main). A commit on main is held until a push or a fetch brings it there; pre-push
applies what it sends; reconciliation undoes what the remote refused and what a force-push
dropped. Real git with a bare remote in tmp, the seed's three issues, the hooks installed
natively (`exai-git install`) and through the pre-commit framework and prek; what the tests
check is read from the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.test_hooks_misc import logged_python
from tests.test_landing_e2e import Clone, clone_of, framework_config, make_remote

FRAMEWORK = [pytest.param(tool, marks=pytest.mark.slow) for tool in ("pre-commit", "prek")]
PUSH_MODE = {".exai-git.toml": 'apply_on = "push"\n'}


@pytest.fixture(params=["native", *FRAMEWORK])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def remote(tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> Path:
    extra = dict(PUSH_MODE)
    if mode != "native":
        extra[".pre-commit-config.yaml"] = framework_config(
            request.getfixturevalue("hook_repo"))
    return make_remote(tmp_path, extra)


@pytest.fixture
def a(remote: Path, seeded: Database, mode: str, frameworks_path: str,
      monkeypatch: pytest.MonkeyPatch) -> Clone:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    return clone_of(remote, "a", seeded, mode)


def refuse_pushes(remote: Path, refuse: bool = True) -> None:
    """The remote refuses every push (a pre-receive hook that exits 1), or takes them again."""
    hook = remote / "hooks" / "pre-receive"
    if refuse:
        hook.parent.mkdir(exist_ok=True)
        hook.write_text("#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n")
        hook.chmod(0o755)
    else:
        hook.unlink()


def updates_of(c: Clone, number: int) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in c.db.query(
        "SELECT u.update_type, u.content FROM exai_issue_updates u JOIN exai_issues i"
        " ON i.id = u.issue_id WHERE i.issue_number = %s ORDER BY u.created_at, u.id",
        (number,))]


def held(c: Clone) -> int:
    done = c.exai("status", "--json")
    assert done.returncode == 0, c.said
    return int(json.loads(done.stdout)["held_commits"])


def test_a_commit_on_main_lands_when_pushed_and_only_once(a: Clone) -> None:
    a.commit("work\n\nFixes EXAI-2")
    assert a.status(2) == "open"
    assert "held until it is pushed: EXAI-2: -> fixed" in a.said, a.said
    assert held(a) == 1 and a.status(2) == "open"  # status reconciles: still held
    a.git("push", "-q", "origin", "main")  # only pre-push ran: it applied what it sent
    assert a.status(2) == "fixed"
    rows = a.updates()
    a.git("push", "-q", "origin", "main")  # nothing to send
    assert held(a) == 0
    a.commit("more, no marker")
    a.git("checkout", "-q", "-b", "side")
    a.git("checkout", "-q", "main")
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed" and a.updates() == rows, a.said


def test_a_push_the_remote_refuses_is_undone(a: Clone, remote: Path) -> None:
    refuse_pushes(remote)
    a.commit("work\n\nFixes EXAI-2")
    a.git("push", "-q", "origin", "main", check=False)
    assert "refused by policy" in a.said
    assert a.status(2) == "fixed"  # pre-push applies what it sends, as if it were taken
    assert held(a) == 1  # `status` reconciles: origin/main never moved there
    assert a.status(2) == "open"
    assert any("the push was refused" in row for row in a.updates()), a.updates()
    refuse_pushes(remote, False)
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed" and held(a) == 0


def test_a_teammates_commit_lands_with_git_pull(a: Clone, remote: Path) -> None:
    b = clone_of(remote, "b", a.db, a.mode, hooks=False)
    b.commit("theirs\n\nFixes EXAI-3")
    b.git("push", "-q", "origin", "main")
    a.commit("mine\n\nFixes EXAI-2")
    a.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    assert a.status(3) == "fixed" and a.status(2) == "open"  # mine is not on origin yet
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_a_force_push_that_drops_a_commit_undoes_it(a: Clone, remote: Path) -> None:
    a.commit("work\n\nFixes EXAI-2")
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed"
    a.git("reset", "-q", "--hard", "HEAD~1")
    assert a.status(2) == "fixed"  # a local reset: origin/main still has it
    a.commit("instead\n\nRefs EXAI-3")
    a.git("push", "-q", "-f", "origin", "main")
    assert a.status(2) == "open"
    assert any("left origin/main, rewritten or reset" in r for r in a.updates()), a.updates()
    # a teammate's force-push, fetched here, is undone here too
    a.commit("again\n\nFixes EXAI-2")
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed"
    b = clone_of(remote, "b", a.db, a.mode, hooks=False)
    b.git("reset", "-q", "--hard", "HEAD~1")
    b.git("push", "-q", "-f", "origin", "main")
    a.git("fetch", "-q")
    assert a.exai("status").returncode == 0 and a.status(2) == "open"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_progress_on_main_counts_at_once_the_rest_waits(a: Clone) -> None:
    a.commit("begin\n\nStarts EXAI-3")
    assert a.status(3) == "in_progress"  # held like a feature branch: progress counts
    a.commit("step two\n\nFixes EXAI-1 step 2")
    assert a.steps() == "ppppppp"
    rows = updates_of(a, 3)
    a.git("push", "-q", "origin", "main")
    assert a.steps() == "pcppppp" and a.status(3) == "in_progress"
    assert updates_of(a, 3) == rows  # the progress counted once, not again as it landed


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_native_hooks_start_python_only_when_something_moved(
        a: Clone, remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = a.path.parent / "started.log"
    logged_python(a.path, log, monkeypatch)

    def started(*args: str, check: bool = True) -> list[str]:
        log.write_text("")
        a.git(*args, check=check)
        return log.read_text().split()

    a.commit("work\n\nFixes EXAI-2")
    assert started("push", "-q", "origin", "main") == ["pre-push"]
    assert a.exai("status").returncode == 0  # the push was taken: recorded, nothing moved
    a.path.joinpath("plain.txt").write_text("plain\n")
    a.git("add", "-A")
    assert started("commit", "-qm", "plain") == ["pre-commit"]  # post-commit: shell only
    assert started("checkout", "-q", "-b", "side") == ["post-checkout"]  # a new ref
    assert started("checkout", "-q", "main") == []
    # a refused push: the next commit's post-commit runs, and undoes it
    refuse_pushes(remote)
    a.commit("more\n\nFixes EXAI-3")
    started("push", "-q", "origin", "main", check=False)
    assert a.status(3) == "fixed"
    a.path.joinpath("plain.txt").write_text("plain again\n")
    a.git("add", "-A")
    assert started("commit", "-qm", "plain again") == ["pre-commit", "post-commit"]
    assert a.status(3) == "open" and a.status(2) == "fixed"


@pytest.mark.parametrize("mode", ["native"], indirect=True)
def test_the_setting_from_the_environment_switches_mode(
        a: Clone, monkeypatch: pytest.MonkeyPatch) -> None:
    """EXAI_GIT_APPLY_ON=commit wins over the file: a commit on main lands at once. Back in
    push mode what is not on origin is held again; the native hooks' shell test sees the
    setting change although no ref moved."""
    monkeypatch.setenv("EXAI_GIT_APPLY_ON", "commit")
    a.commit("work\n\nFixes EXAI-2")
    assert a.status(2) == "fixed"
    monkeypatch.setenv("EXAI_GIT_APPLY_ON", "push")
    a.git("checkout", "-q", "main")
    assert a.status(2) == "open"
    a.git("push", "-q", "origin", "main")
    assert a.status(2) == "fixed"
