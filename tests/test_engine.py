"""The semantics table of MARKERS.md, as tables of (state, commit, expected effects): the pure
engine, no database, no git."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from exai_git import engine
from exai_git.engine import Effects, Issue, Link, State, Step, Work
from exai_git.markers import Action
from exai_git.model import PathChange
from exai_git.ranges import Hunk

U = "debb44af-15b9-456d-9b88-6a2519f81427"
SHA, OLD = "c" * 40, "0" * 40
WHEN = 1_700_000_000
AT = dt.datetime.fromtimestamp(WHEN, dt.timezone.utc)
EARLIER = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)


def issue(status: str = "open", steps: str = "", **fields: Any) -> Issue:
    """Issue 1 (id "i1"); steps: one letter per step, p(ending) i(n progress) c(omplete)
    s(kipped)."""
    names = {"p": "pending", "i": "in_progress", "c": "complete", "s": "skipped"}
    return Issue("i1", 1, status, steps={n: Step(names[c]) for n, c in enumerate(steps, 1)},
                 **fields)


def work(*actions: Action, reverts: tuple[str, ...] = (), patch_id: str | None = None,
         changes: tuple[PathChange, ...] = ()) -> Work:
    return Work(SHA, "the subject", WHEN, actions, reverts, patch_id, changes, "repo")


def fix(*steps: int, conv: str | None = None) -> Action:
    return Action(1, "fix", steps, conv)


def act(kind: str, *steps: int, conv: str | None = None, number: int = 1) -> Action:
    return Action(number, kind, steps, conv)


def link(action: str, effects: dict[str, Any], sha: str = OLD, pid: str | None = None) -> Link:
    return Link("i1", sha, pid, action, (), effects)


def summary(eff: Effects) -> dict[str, Any]:
    """The effects in a form a table can spell out."""
    (result,) = eff.results
    return {
        "status": {i.number: i.status for i in eff.issues},
        "steps": {n: s.status for _, n, s in eff.steps},
        "updates": [u.kind for u in eff.updates],
        "links": [(lk.action, dict(lk.effects)) for lk in eff.links],
        "applied": result.applied, "skipped": result.skipped,
        "warnings": result.warnings, "errors": result.errors, "moves": result.moves,
    }


def expect(**parts: Any) -> dict[str, Any]:
    """Expected effects: what is not named is expected to be empty."""
    base: dict[str, Any] = {"status": {}, "steps": {}, "updates": [], "links": [], "applied": [],
                            "skipped": [], "warnings": [], "errors": [], "moves": []}
    return {**base, **parts}


FIXED = {"status": ["open", "fixed"], "fix": [None, None]}

CASES = [
    # fix, no steps named
    pytest.param(issue(), work(fix()), expect(
        status={1: "fixed"}, updates=["fix_applied", "status_change"],
        links=[("fix", FIXED)], applied=["EXAI-1: -> fixed"]), id="fix-open"),
    pytest.param(issue("in_progress"), work(fix()), expect(
        status={1: "fixed"}, updates=["fix_applied", "status_change"],
        links=[("fix", {"status": ["in_progress", "fixed"], "fix": [None, None]})],
        applied=["EXAI-1: -> fixed"]), id="fix-in-progress"),
    pytest.param(issue(steps="cp"), work(fix()), expect(
        status={1: "fixed"}, updates=["fix_applied", "status_change"], links=[("fix", FIXED)],
        applied=["EXAI-1: -> fixed"], warnings=["EXAI-1 fixed with step(s) 2 still pending"]),
        id="fix-with-pending-steps-warns"),
    pytest.param(issue("fixed"), work(fix()), expect(
        updates=["fix_applied"], links=[("fix", {})], applied=["EXAI-1: -> fixed"]),
        id="fix-already-fixed"),
    # fix, steps named
    pytest.param(issue(steps="ppp"), work(fix(1, 2)), expect(
        status={1: "in_progress"}, steps={1: "complete", 2: "complete"},
        updates=["fix_applied", "status_change"],
        links=[("fix", {"steps": {"1": "pending", "2": "pending"},
                        "status": ["open", "in_progress"]})],
        applied=["EXAI-1: steps 1, 2 -> complete"]), id="fix-steps-open-to-in-progress"),
    pytest.param(issue("in_progress", steps="cpp"), work(fix(2)), expect(
        steps={2: "complete"}, updates=["fix_applied"], links=[("fix", {"steps": {"2": "pending"}})],
        applied=["EXAI-1: step 2 -> complete"]), id="fix-step-progress"),
    pytest.param(issue("in_progress", steps="csp"), work(fix(3)), expect(
        status={1: "fixed"}, steps={3: "complete"}, updates=["fix_applied", "status_change"],
        links=[("fix", {"steps": {"3": "pending"}, "status": ["in_progress", "fixed"],
                        "fix": [None, None]})],
        applied=["EXAI-1: step 3 -> complete; EXAI-1 -> fixed"]), id="fix-last-step-fixes"),
    pytest.param(issue(steps="p"), work(fix(1)), expect(
        status={1: "fixed"}, steps={1: "complete"}, updates=["fix_applied", "status_change"],
        links=[("fix", {"steps": {"1": "pending"}, **FIXED})],
        applied=["EXAI-1: step 1 -> complete; EXAI-1 -> fixed"]),
        id="fix-only-step-open-to-fixed"),
    pytest.param(issue("in_progress", steps="cp"), work(fix(1)), expect(
        updates=["fix_applied"], links=[("fix", {"steps": {}})],
        applied=["EXAI-1: step 1 -> complete"]), id="fix-step-already-complete"),
    # progress
    pytest.param(issue(steps="pp"), work(act("progress", 2)), expect(
        status={1: "in_progress"}, steps={2: "in_progress"}, updates=["status_change"],
        links=[("progress", {"steps": {"2": "pending"}, "status": ["open", "in_progress"]})],
        applied=["EXAI-1: -> in_progress; step 2 -> in_progress"]), id="progress-open"),
    pytest.param(issue("in_progress"), work(act("progress")), expect(
        updates=["comment"], links=[("progress", {})], applied=["EXAI-1: -> in_progress"]),
        id="progress-in-progress"),
    # ref
    pytest.param(issue(), work(act("ref")), expect(
        updates=["comment"], links=[("ref", {})], applied=["EXAI-1: reference (comment)"]),
        id="ref-without-conv"),
    pytest.param(issue(), work(act("ref", conv=U)), expect(
        updates=["comment", "conversation_link"], links=[("ref", {})],
        applied=["EXAI-1: reference (comment) (conversation debb44af…)"]), id="ref-with-conv"),
    # verify
    pytest.param(issue("fixed"), work(act("verify")), expect(
        status={1: "verified"}, updates=["verification"],
        links=[("verify", {"status": ["fixed", "verified"]})], applied=["EXAI-1: -> verified"]),
        id="verify-fixed"),
    pytest.param(issue("open"), work(act("verify")), expect(
        updates=["verification"], links=[("verify", {"ignored": True})],
        applied=["EXAI-1: -> verified"],
        warnings=["verify ignored: EXAI-1 is open, not fixed"]), id="verify-not-fixed"),
    # reopen
    pytest.param(issue("fixed", steps="cc", fix_conversation_id=U, fix_date=EARLIER),
                 work(act("reopen", 2)), expect(
        status={1: "open"}, steps={2: "pending"}, updates=["status_change"],
        links=[("reopen", {"steps": {"2": "complete"}, "status": ["fixed", "open"],
                           "fix": [U, EARLIER.isoformat()]})],
        applied=["EXAI-1: -> open; step 2 -> pending"]), id="reopen-fixed"),
    pytest.param(issue("in_progress", steps="c"), work(act("reopen", 1)), expect(
        steps={1: "pending"}, updates=["comment"],
        links=[("reopen", {"steps": {"1": "complete"}})],
        applied=["EXAI-1: -> open; step 1 -> pending"]), id="reopen-step-of-open-issue"),
    pytest.param(issue("open"), work(act("reopen")), expect(
        updates=["comment"], links=[("reopen", {"steps": {}})], applied=["EXAI-1: -> open"]),
        id="reopen-already-open"),
    pytest.param(issue("wont_fix"), work(act("reopen")), expect(
        updates=["comment"], links=[("reopen", {"ignored": True})], applied=["EXAI-1: -> open"],
        warnings=["reopen ignored: EXAI-1 is wont_fix"]), id="reopen-wont-fix"),
    # frozen states: a fix or progress never moves them back, but is recorded
    *[pytest.param(issue(frozen, steps="p"), work(act(kind, *steps)), expect(
        updates=[row], links=[(kind, {"ignored": True})], applied=[applied],
        warnings=[f"{kind} ignored: EXAI-1 is {frozen}"]), id=f"{kind}-{frozen}")
      for frozen in engine.FROZEN
      for kind, steps, row, applied in (
          ("fix", (1,), "fix_applied", "EXAI-1: step 1 -> complete"),
          ("progress", (), "comment", "EXAI-1: -> in_progress"))],
    # errors: apply never guesses
    pytest.param(issue(), work(act("fix", number=7)), expect(errors=["EXAI-7: no such issue"]),
                 id="unknown-issue"),
    pytest.param(issue(steps="ppp"), work(fix(4, 9)), expect(
        errors=["EXAI-1: no step 4, 9 (steps: 1-3)"]), id="unknown-step"),
    pytest.param(issue(), work(fix(1)), expect(errors=["EXAI-1: no step 1 (steps: none)"]),
                 id="step-of-issue-without-steps"),
    # idempotency
    pytest.param(State({1: issue()}, [Link("i1", SHA, None, "fix")]), work(fix()), expect(
        skipped=["EXAI-1: -> fixed (already applied)"]), id="already-linked"),
    pytest.param(State({1: issue("fixed")}, [Link("i1", OLD, "p1", "fix")]),
                 work(fix(), patch_id="p1"), expect(
        links=[("rewrite", {"of_action": "fix"})],
        skipped=["EXAI-1: -> fixed (already applied as the same patch)"]), id="same-patch-id"),
    # reverts: undo what the reverted commit's links recorded
    pytest.param(State({1: issue("in_progress", steps="cp")},
                       [link("fix", {"steps": {"1": "pending"},
                                     "status": ["open", "in_progress"]})]),
                 work(reverts=(OLD,)), expect(
        status={1: "open"}, steps={1: "pending"}, updates=["comment", "status_change"],
        links=[("revert", {"of": OLD, "steps": [1], "status": ["in_progress", "open"]})],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-step-fix"),
    pytest.param(State({1: issue("fixed", fix_conversation_id=U, fix_date=AT)},
                       [link("fix", FIXED)]),
                 work(reverts=(OLD,)), expect(
        status={1: "open"}, updates=["status_change"],
        links=[("revert", {"of": OLD, "steps": [], "status": ["fixed", "open"],
                           "fix": [U, AT.isoformat()]})],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-fix"),
    pytest.param(State({1: issue("fixed", steps="cc")},
                       [link("fix", {"steps": {"2": "pending"}, "status": ["in_progress",
                                                                           "fixed"]})]),
                 work(reverts=(OLD,)), expect(
        status={1: "in_progress"}, steps={2: "pending"}, updates=["comment", "status_change"],
        links=[("revert", {"of": OLD, "steps": [2], "status": ["fixed", "in_progress"],
                           "fix": [None, None]})],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-last-step"),
    pytest.param(State({1: issue()}, [link("ref", {})]), work(reverts=(OLD,)), expect(
        updates=["comment"], links=[("revert", {"of": OLD, "steps": []})],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-ref"),
    pytest.param(State({1: issue()}), work(reverts=(OLD,)), expect(
        warnings=["reverts 0000000000, which changed nothing in the tracker"]),
        id="revert-of-nothing"),
    pytest.param(State({1: issue("in_progress", steps="c")},
                       [link("rewrite", {"of_action": "fix"}, pid="p1"),
                        link("fix", {"steps": {"1": "pending"}}, sha="a" * 40, pid="p1")]),
                 work(reverts=(OLD,)), expect(
        steps={1: "pending"}, updates=["comment"], links=[("revert", {"of": OLD, "steps": [1]})],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-of-a-rewrite"),
    pytest.param(State({1: issue("open", steps="p")},
                       [link("fix", {"steps": {"1": "pending"}}),
                        Link("i1", SHA, None, "revert")]),
                 work(reverts=(OLD,)), expect(
        skipped=["revert of 0000000000 on EXAI-1 (already applied)"]), id="revert-already"),
    # locations move with the commit's hunks
    pytest.param(issue(file_path="a.py", line_start=10, line_end=12, created_at=EARLIER),
                 work(changes=(PathChange("modified", "a.py", "a.py", (Hunk(1, 0, 1, 3),)),)),
                 expect(status={1: "open"}, updates=["comment"],
                        links=[("move", {"from": ["a.py", 10, 12], "to": ["a.py", 13, 15]})],
                        moves=["EXAI-1: location moved: a.py:10-12 -> a.py:13-15"]),
                 id="move-lines"),
    pytest.param(issue(file_path="a.py", created_at=EARLIER),
                 work(changes=(PathChange("renamed", "a.py", "b.py"),)),
                 expect(status={1: "open"}, updates=["comment"],
                        links=[("move", {"from": ["a.py", None, None],
                                         "to": ["b.py", None, None]})],
                        moves=["EXAI-1: location moved: a.py -> b.py"]), id="move-rename"),
    pytest.param(issue(file_path="a.py", line_start=3, created_at=AT + dt.timedelta(days=1)),
                 work(changes=(PathChange("modified", "a.py", "a.py", (Hunk(1, 0, 1, 3),)),)),
                 expect(), id="move-skips-issue-filed-later"),
    pytest.param(issue("fixed", file_path="a.py", line_start=3),
                 work(changes=(PathChange("modified", "a.py", "a.py", (Hunk(1, 0, 1, 3),)),)),
                 expect(), id="move-skips-closed-issue"),
]


@pytest.mark.parametrize(("state", "commit", "expected"), CASES)
def test_semantics_table(state: State | Issue, commit: Work, expected: dict[str, Any]) -> None:
    if isinstance(state, Issue):
        state = State({state.number: state})
    before = copy.deepcopy(state)
    assert summary(engine.apply(state, [commit])) == expected
    assert state == before  # pure: the state given is left as it was


def test_fix_fields_and_step_fields() -> None:
    eff = engine.apply(State({1: issue(steps="pp")}), [work(fix(1), fix(2, conv=U))])
    (changed,) = eff.issues
    assert (changed.status, changed.fix_conversation_id, changed.fix_date) == ("fixed", U, AT)
    assert [(n, s) for _, n, s in eff.steps] == [(1, Step("complete", U, AT)),
                                                 (2, Step("complete", U, AT))]
    assert [u.content for u in eff.updates] == [
        "cccccccccc the subject: steps 1, 2 complete",
        "cccccccccc the subject: open -> fixed: every step is done"]
    assert [(u.conversation_id, u.at, u.seq) for u in eff.updates] == [(U, AT, 1), (U, AT, 2)]
    (new,) = eff.links
    assert (new.sha, new.steps, new.conversation_id, new.repository, new.subject,
            new.committed_at) == (SHA, (1, 2), U, "repo", "the subject", AT)


def test_a_batch_applies_in_order_and_sees_its_own_links() -> None:
    first = work(fix(1))
    second = Work("d" * 40, "second", WHEN + 1, (fix(2),))
    eff = engine.apply(State({1: issue(steps="pp")}), [first, second, first])
    assert [i.status for i in eff.issues] == ["fixed"]
    assert [lk.action for lk in eff.links] == ["fix", "fix"]
    assert [r.skipped for r in eff.results] == [[], [], ["EXAI-1: step 1 -> complete (already "
                                                         "applied)"]]


def test_undo_takes_back_what_links_recorded() -> None:
    fixed = issue("fixed", steps="cc")
    links = [link("fix", {"steps": {"1": "pending"}, "status": ["open", "in_progress"]}),
             link("fix", {"steps": {"2": "pending"}, "status": ["in_progress", "fixed"]},
                  sha="a" * 40)]
    by = Work("e" * 40, "left main", WHEN)
    eff = engine.undo(State({1: fixed}, links), links, by, " (left main)")
    assert [i.status for i in eff.issues] == ["open"]
    assert {n: s.status for _, n, s in eff.steps} == {1: "pending", 2: "pending"}
    assert [u.content for u in eff.updates] == [
        "eeeeeeeeee left main: step(s) 1, 2 back to pending (left main)",
        "eeeeeeeeee left main: fixed -> open (left main)"]
    assert [(lk.sha, lk.action) for lk in eff.links] == [("e" * 40, "revert")]
    again = State({1: fixed}, [*links, Link("i1", "e" * 40, None, "revert")])
    assert engine.undo(again, links, by, "").links == []  # once per (issue, commit)


KNOWN = {1: ("open", {1: "complete", 2: "pending"}), 2: ("fixed", {}), 3: ("closed", {}),
         4: ("wont_fix", {})}


@pytest.mark.parametrize(("actions", "errors", "warnings"), [
    pytest.param([fix(1)], [], [], id="clean"),
    pytest.param([act("fix", number=9)], ["EXAI-9: no such issue"], [], id="unknown-issue"),
    pytest.param([fix(3)], ["EXAI-1: no step 3 (steps: 1-2)"], [], id="unknown-step"),
    pytest.param([fix()], [], ["EXAI-1: fixing the issue leaves step(s) 2 pending"],
                 id="fix-leaves-steps"),
    pytest.param([act("fix", number=2)], [], ["EXAI-2 is already fixed"], id="already-fixed"),
    pytest.param([act("progress", number=3)], [], ["EXAI-3 is closed: progress would change "
                                                   "nothing"], id="frozen"),
    pytest.param([act("verify")], [], ["EXAI-1 is open, not fixed: verify would change nothing"],
                 id="verify-not-fixed"),
    pytest.param([act("reopen", number=4)], [], ["EXAI-4 is wont_fix: reopen would change "
                                                 "nothing"], id="reopen-wont-fix"),
    pytest.param([fix(1), fix(3)], ["EXAI-1: no step 3 (steps: 1-2)"], [],
                 id="merged-per-issue"),
])
def test_check_known(actions: list[Action], errors: list[str], warnings: list[str]) -> None:
    checked = engine.check_known(KNOWN, actions, "EXAI")
    assert (checked.errors, checked.warnings) == (errors, warnings)
