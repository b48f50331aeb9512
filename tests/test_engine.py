"""The semantics table of MARKERS.md, as tables of (state, commit, expected effects): the pure
engine, no database, no git."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest

from exai_git import engine
from exai_git.engine import Effects, Issue, Link, State, Step, Work
from exai_git.markers import Action

U = "debb44af-15b9-456d-9b88-6a2519f81427"
SHA, OLD = "c" * 40, "0" * 40
WHEN = 1_700_000_000
AT = dt.datetime.fromtimestamp(WHEN, dt.UTC)
EARLIER = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


def issue(status: str = "open", steps: str = "", **fields: Any) -> Issue:
    """Issue 1 (id "i1"); steps: one letter per step, p(ending) i(n progress) c(omplete)
    s(kipped)."""
    names = {"p": "pending", "i": "in_progress", "c": "complete", "s": "skipped"}
    return Issue("i1", 1, status, steps={n: Step(names[c]) for n, c in enumerate(steps, 1)},
                 **fields)


def work(*actions: Action, reverts: tuple[str, ...] = (), patch_id: str | None = None,
         **landing: Any) -> Work:
    return Work(SHA, "the subject", WHEN, actions, reverts, patch_id, "repo", **landing)


def fix(*steps: int, conv: str | None = None) -> Action:
    return Action(1, "fix", steps, conv)


def act(kind: str, *steps: int, conv: str | None = None, number: int = 1) -> Action:
    return Action(number, kind, steps, conv)


def link(action: str, effects: dict[str, Any], sha: str = OLD, pid: str | None = None,
         steps: tuple[int, ...] = (), undone_by: str | None = None) -> Link:
    return Link("i1", sha, pid, action, steps, effects, undone_by=undone_by)


def summary(eff: Effects) -> dict[str, Any]:
    """The effects in a form a table can spell out."""
    (result,) = eff.results
    return {
        "status": {i.number: i.status for i in eff.issues},
        "steps": {n: s.status for _, n, s in eff.steps},
        "updates": [u.kind for u in eff.updates],
        "links": [(lk.action, dict(lk.effects)) for lk in eff.links],
        "undone": [(lk.sha[:1], lk.action, lk.undone_why) for lk in eff.undone],
        "applied": result.applied, "skipped": result.skipped,
        "warnings": result.warnings, "errors": result.errors,
    }


def expect(**parts: Any) -> dict[str, Any]:
    """Expected effects: what is not named is expected to be empty."""
    base: dict[str, Any] = {"status": {}, "steps": {}, "updates": [], "links": [], "undone": [],
                            "applied": [],
                            "skipped": [], "warnings": [], "errors": []}
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
        updates=["comment"], links=[("progress", {})], applied=["EXAI-1: (stays in_progress)"]),
        id="progress-in-progress"),
    pytest.param(issue("in_progress", steps="pp"), work(act("progress", 2)), expect(
        steps={2: "in_progress"}, updates=["comment"],
        links=[("progress", {"steps": {"2": "pending"}})],
        applied=["EXAI-1: step 2 -> in_progress (stays in_progress)"]),
        id="progress-step-in-progress"),
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
        applied=["EXAI-1: step 1 -> pending (stays in_progress)"]),
        id="reopen-step-of-in-progress-issue"),
    pytest.param(issue("in_progress", steps="ip"), work(act("reopen", conv=U)), expect(
        updates=["comment"], links=[("reopen", {"steps": {}})],
        applied=["EXAI-1: (stays in_progress) (conversation debb44af…)"]),
        id="reopen-in-progress-issue"),
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
        links=[("rewrite", {"of_action": "fix", "same_as": [OLD]})],
        skipped=["EXAI-1: -> fixed (same work as 0000000000)"]),
        id="same-patch-id-only-adds"),
    pytest.param(State({1: issue("in_progress", steps="cpp")},
                       [Link("i1", OLD, "p1", "fix", (1,), {"steps": {"1": "pending"}})]),
                 work(fix(2), patch_id="p1"), expect(
        steps={2: "complete"}, updates=["fix_applied"],
        links=[("fix", {"steps": {"2": "pending"}})],
        applied=["EXAI-1: step 2 -> complete"]), id="same-patch-id-new-step-applies"),
    pytest.param(State({1: issue("fixed")},
                       [Link("i1", OLD, "p1", "fix", (), FIXED),
                        Link("i1", SHA, None, "rewrite", (), {"of_action": "fix",
                                                              "same_as": [OLD]})]),
                 Work("d" * 40, "revert", WHEN, reverts=(SHA,)), expect(
        status={1: "open"}, updates=["status_change"], links=[("revert", {"of": SHA})],
        undone=[("0", "fix", "revert of cccccccccc")],
        applied=["EXAI-1: revert of cccccccccc: fixed -> open"]),
        id="revert-of-a-cherry-pick"),
    pytest.param(State({1: issue()}, [link("fix", FIXED, sha=SHA, undone_by=OLD)]),
                 work(fix()), expect(
        status={1: "fixed"}, updates=["fix_applied", "status_change"],
        links=[("fix", FIXED)], applied=["EXAI-1: -> fixed"]), id="undone-applies-again"),
    # reverts: undo what the reverted commit's links recorded, exactly
    pytest.param(State({1: issue("in_progress", steps="cp")},
                       [link("fix", {"steps": {"1": "pending"},
                                     "status": ["open", "in_progress"]})]),
                 work(reverts=(OLD,)), expect(
        status={1: "open"}, steps={1: "pending"}, updates=["comment", "status_change"],
        links=[("revert", {"of": OLD})], undone=[("0", "fix", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000: step 1 -> pending; in_progress -> open"]),
        id="revert-step-fix"),
    pytest.param(State({1: issue("fixed", fix_conversation_id=U, fix_date=AT)},
                       [link("fix", FIXED)]),
                 work(reverts=(OLD,)), expect(
        status={1: "open"}, updates=["status_change"], links=[("revert", {"of": OLD})],
        undone=[("0", "fix", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000: fixed -> open"]),
        id="revert-fix"),
    pytest.param(State({1: issue("fixed", steps="cc")},
                       [link("fix", {"steps": {"2": "pending"}, "status": ["in_progress",
                                                                           "fixed"]})]),
                 work(reverts=(OLD,)), expect(
        status={1: "in_progress"}, steps={2: "pending"}, updates=["comment", "status_change"],
        links=[("revert", {"of": OLD})], undone=[("0", "fix", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000: step 2 -> pending; fixed -> in_progress"]),
        id="revert-last-step"),
    pytest.param(State({1: issue("in_progress", steps="cp")},
                       [link("fix", {"steps": {"1": "in_progress"}})]),
                 work(reverts=(OLD,)), expect(
        steps={1: "in_progress"}, updates=["comment"], links=[("revert", {"of": OLD})],
        undone=[("0", "fix", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000: step 1 -> in_progress"]),
        id="revert-restores-step-status"),
    pytest.param(State({1: issue()}, [link("ref", {})]), work(reverts=(OLD,)), expect(
        updates=["comment"], links=[("revert", {"of": OLD})],
        undone=[("0", "ref", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000"]), id="revert-ref"),
    pytest.param(State({1: issue()}), work(reverts=(OLD,)), expect(
        warnings=["reverts 0000000000, which changed nothing in the tracker"]),
        id="revert-of-nothing"),
    pytest.param(State({1: issue("in_progress", steps="c")},
                       [link("fix", {"steps": {"1": "pending"}, "was": [OLD]}, sha="a" * 40)]),
                 work(reverts=(OLD,)), expect(
        steps={1: "pending"}, updates=["comment"], links=[("revert", {"of": OLD})],
        undone=[("a", "fix", "revert of 0000000000")],
        applied=["EXAI-1: revert of 0000000000: step 1 -> pending"]),
        id="revert-of-a-rewritten-commit"),
    pytest.param(State({1: issue("open", steps="p")},
                       [link("fix", {"steps": {"1": "pending"}}, undone_by=SHA),
                        Link("i1", SHA, None, "revert", (), {"of": OLD})]),
                 work(reverts=(OLD,)), expect(
        skipped=["revert of 0000000000 (already undone)"]), id="revert-already"),
    pytest.param(State({1: issue("open", steps="p")},
                       [link("fix", {"steps": {"1": "pending"}}, sha="a" * 40, steps=(1,),
                             undone_by=OLD),
                        link("revert", {"of": "a" * 40})]),
                 work(reverts=(OLD,)), expect(
        status={1: "fixed"}, steps={1: "complete"},
        updates=["fix_applied", "status_change"],
        links=[("fix", {"steps": {"1": "pending"}, "status": ["open", "fixed"],
                        "fix": [None, None]}), ("revert", {"of": OLD})],
        undone=[("0", "revert", "revert of 0000000000")],
        applied=["EXAI-1: step 1 -> complete (again: aaaaaaaaaa); EXAI-1 -> fixed",
                 "EXAI-1: revert of 0000000000: step 1 -> complete; open -> fixed"]),
        id="revert-of-a-revert-applies-again"),
    # leaving: a commit on no tracked branch any more is undone exactly
    pytest.param(State({1: issue("fixed", steps="cc")},
                       [link("fix", {"steps": {"2": "in_progress"},
                                     "status": ["in_progress", "fixed"]}, sha=SHA)]),
                 work(left="left main (rewritten or reset)"), expect(
        status={1: "in_progress"}, steps={2: "in_progress"},
        updates=["comment", "status_change"],
        undone=[("c", "fix", "cccccccccc left main, rewritten or reset")],
        applied=["EXAI-1: undone (left main, rewritten or reset)"]), id="left"),
    pytest.param(issue(), work(left="left main"), expect(), id="left-with-nothing-linked"),
    # equivalent commits: the latest landed message decides
    pytest.param(State({1: issue("in_progress", steps="cp")},
                       [link("fix", {"steps": {"1": "pending"}}, steps=(1,))]),
                 work(fix(1), equivalent_of=(OLD,)), expect(
        links=[("fix", {"steps": {"1": "pending"}, "was": [OLD]})],
        undone=[("0", "fix", "rewritten as cccccccccc")],
        skipped=["EXAI-1: step 1 -> complete (same work as 0000000000)"]),
        id="rewrite-same-markers-moves-links"),
    pytest.param(State({1: issue("in_progress", steps="cpp")},
                       [link("fix", {"steps": {"1": "pending"}}, steps=(1,))]),
                 work(fix(1, 2), equivalent_of=(OLD,)), expect(
        steps={2: "complete"}, updates=["fix_applied"],
        links=[("fix", {"steps": {"1": "pending", "2": "pending"}, "was": [OLD]})],
        undone=[("0", "fix", "rewritten as cccccccccc")],
        applied=["EXAI-1: step 2 -> complete"]), id="rewrite-adds-a-step"),
    pytest.param(State({1: issue("in_progress", steps="cpp")},
                       [link("fix", {"steps": {"1": "pending"},
                                     "status": ["open", "in_progress"]}, steps=(1,))]),
                 work(fix(2), equivalent_of=(OLD,)), expect(
        steps={1: "pending", 2: "complete"},
        updates=["comment", "status_change", "fix_applied", "status_change"],
        links=[("fix", {"steps": {"2": "pending"}, "status": ["open", "in_progress"]})],
        undone=[("0", "fix", "0000000000 rewritten as cccccccccc: EXAI-1: step 1 -> "
                             "complete replaced")],
        applied=["EXAI-1: step 2 -> complete"]), id="rewrite-changes-the-step"),
    pytest.param(State({1: issue("fixed", fix_conversation_id=U, fix_date=AT)},
                       [link("fix", FIXED)]),
                 work(act("ref"), equivalent_of=(OLD,)), expect(
        status={1: "open"}, updates=["status_change", "comment"], links=[("ref", {})],
        undone=[("0", "fix", "0000000000 rewritten as cccccccccc: EXAI-1: -> fixed dropped")],
        applied=["EXAI-1: -> fixed: undone (dropped when 0000000000 was rewritten)",
                 "EXAI-1: reference (comment)"]), id="rewrite-weakens-fixes-to-refs"),
    pytest.param(State({1: issue("in_progress", steps="cpp")},
                       [link("fix", {"steps": {"1": "pending"}}, steps=(1,))]),
                 work(fix(2), equivalent_of=(OLD,), only_adds=True), expect(
        steps={2: "complete"}, updates=["fix_applied"],
        links=[("fix", {"steps": {"2": "pending"}})],
        applied=["EXAI-1: step 2 -> complete"]), id="cherry-pick-only-adds"),
    pytest.param(State({1: issue("fixed", steps="c")},
                       [link("fix", {"steps": {"1": "pending"}}, steps=(1,), undone_by="r" * 40)]),
                 work(fix(1), equivalent_of=(OLD,), only_adds=True), expect(
        updates=["fix_applied"], links=[("fix", {"steps": {}})],
        applied=["EXAI-1: step 1 -> complete"]), id="cherry-pick-of-a-reverted-commit"),
    # a branch that is not tracked: progress counts, the rest is held
    pytest.param(issue(steps="pp"), work(fix(1), act("progress", 2), progress_only=True),
                 expect(status={1: "in_progress"}, steps={2: "in_progress"},
                        updates=["status_change"],
                        links=[("progress", {"steps": {"2": "pending"},
                                             "status": ["open", "in_progress"]})],
                        applied=["EXAI-1: -> in_progress; step 2 -> in_progress"],
                        skipped=["EXAI-1: step 1 -> complete (held until it lands on a tracked"
                                 " branch)"]), id="held-but-progress"),
    # a whole-issue fix rewritten into a step's fix: the fix of the issue is undone, the step
    # fixed (a step is less than the whole issue, not more)
    pytest.param(State({1: issue("fixed", steps="pp")}, [link("fix", FIXED)]),
                 work(fix(1), equivalent_of=(OLD,)), expect(
        status={1: "in_progress"}, steps={1: "complete"},
        updates=["status_change", "fix_applied", "status_change"],
        links=[("fix", {"steps": {"1": "pending"}, "status": ["open", "in_progress"]})],
        undone=[("0", "fix", "0000000000 rewritten as cccccccccc: EXAI-1: -> fixed replaced")],
        applied=["EXAI-1: step 1 -> complete"]), id="rewrite-whole-fix-into-a-step"),
    pytest.param(State({1: issue("in_progress", steps="cp")},
                       [link("fix", {"steps": {"1": "pending"}, "status": ["open", "in_progress"]},
                             steps=(1,))]),
                 work(fix(1, 2), equivalent_of=(OLD,), only_adds=True), expect(
        status={1: "fixed"}, steps={2: "complete"}, updates=["fix_applied", "status_change"],
        links=[("fix", {"steps": {"2": "pending"}, "status": ["in_progress", "fixed"],
                        "fix": [None, None]})],
        applied=["EXAI-1: step 2 -> complete; EXAI-1 -> fixed"]),
        id="cherry-pick-adds-the-last-step"),
    # a dropped fix is undone before the new markers apply, on the state the undo leaves
    pytest.param(State({1: issue("fixed")}, [link("fix", FIXED)]),
                 work(act("progress"), equivalent_of=(OLD,)), expect(
        status={1: "in_progress"}, updates=["status_change", "status_change"],
        links=[("progress", {"status": ["open", "in_progress"]})],
        undone=[("0", "fix", "0000000000 rewritten as cccccccccc: EXAI-1: -> fixed dropped")],
        applied=["EXAI-1: -> fixed: undone (dropped when 0000000000 was rewritten)",
                 "EXAI-1: -> in_progress"]), id="rewrite-fixes-into-starts"),
    # held progress amended away (a branch that is not tracked): the progress is undone
    pytest.param(State({1: issue("in_progress", steps="pi")},
                       [link("progress", {"steps": {"2": "pending"},
                                          "status": ["open", "in_progress"]}, steps=(2,))]),
                 work(act("ref"), equivalent_of=(OLD,), progress_only=True), expect(
        status={1: "open"}, steps={2: "pending"}, updates=["comment", "status_change"],
        undone=[("0", "progress", "0000000000 rewritten as cccccccccc: EXAI-1: -> in_progress;"
                                  " step 2 -> in_progress dropped")],
        applied=["EXAI-1: -> in_progress; step 2 -> in_progress: undone (dropped when "
                 "0000000000 was rewritten)"],
        skipped=["EXAI-1: reference (comment) (held until it lands on a tracked branch)"]),
        id="held-progress-amended-away"),
    pytest.param(State({1: issue("in_progress", steps="pi")},
                       [link("progress", {"steps": {"2": "pending"},
                                          "status": ["open", "in_progress"]}, steps=(2,))]),
                 work(equivalent_of=(OLD,), progress_only=True), expect(
        status={1: "open"}, steps={2: "pending"}, updates=["comment", "status_change"],
        undone=[("0", "progress", "0000000000 rewritten as cccccccccc: EXAI-1: -> in_progress;"
                                  " step 2 -> in_progress dropped")],
        applied=["EXAI-1: -> in_progress; step 2 -> in_progress: undone (dropped when "
                 "0000000000 was rewritten)"]), id="held-progress-amended-to-no-markers"),
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
        "eeeeeeeeee left main: step(s) 2 back to pending (left main)",
        "eeeeeeeeee left main: fixed -> in_progress (left main)",
        "eeeeeeeeee left main: step(s) 1 back to pending (left main)",
        "eeeeeeeeee left main: in_progress -> open (left main)"]
    assert [(lk.sha, lk.undone_by) for lk in eff.undone] == [("a" * 40, "e" * 40),
                                                             (OLD, "e" * 40)]
    undone = [dataclasses.replace(lk, undone_by="e" * 40) for lk in links]
    assert engine.undo(State({1: fixed}, undone), undone, by, "").undone == []  # once


def nested(text: str) -> bool:
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth > 1:
            return True
    return False


def test_undo_reasons_never_nest_parentheses() -> None:
    """A reason with an aside of its own (a branch left "(rewritten or reset)", a marker's
    "(comment)" or conversation) reads as one aside in update rows, links and results."""
    orphan = "on no branch any more (orphaned progress, undone by `exai-git status`)"
    left = engine.apply(State({1: issue("fixed", steps="cc")},
                              [link("fix", {"steps": {"2": "in_progress"},
                                            "status": ["in_progress", "fixed"]}, sha=SHA)]),
                        [work(left=orphan)])
    assert left.results[0].applied == [
        "EXAI-1: undone (on no branch any more, orphaned progress, undone by `exai-git status`)"]
    assert [u.content for u in left.updates] == [
        "cccccccccc the subject: step(s) 2 back to in_progress (cccccccccc on no branch any "
        "more, orphaned progress, undone by `exai-git status`)",
        "cccccccccc the subject: fixed -> in_progress (cccccccccc on no branch any more, "
        "orphaned progress, undone by `exai-git status`)"]
    # a rewrite that drops a reference and replaces a fix named with a conversation
    rewritten = engine.apply(
        State({1: issue("fixed", fix_conversation_id=U, fix_date=AT)},
              [link("fix", FIXED), link("ref", {}, steps=())]),
        [work(fix(conv=U), act("ref", conv=U), equivalent_of=(OLD,))])
    rows = [u.content for u in rewritten.updates] + [str(lk.undone_why) for lk in
                                                     rewritten.undone]
    rows += rewritten.results[0].applied + rewritten.results[0].skipped
    assert rows and not [r for r in rows if nested(r)], rows
    undo = engine.undo(State({1: issue("fixed")}, [link("fix", FIXED)]),
                       [link("fix", FIXED)], work(), " (left main (rewritten or reset))")
    assert [u.content for u in undo.updates] == [
        "cccccccccc the subject: fixed -> open (left main, rewritten or reset)"]


def test_revert_chain_alternates() -> None:
    """X, its revert, a revert of that, and so on: each step flips X's effect."""
    x = Work("a" * 40, "x", WHEN, (fix(1),))
    state = State({1: issue(steps="p")})
    links: list[Link] = []
    target = x.sha
    for n, sha in enumerate(["b" * 40, "d" * 40, "e" * 40, "f" * 40], start=1):
        batch = [x] if n == 1 else []
        eff = engine.apply(state, [*batch, Work(sha, f"r{n}", WHEN + n, reverts=(target,))])
        # carry the state forward as a database would
        issues = {1: dataclasses.replace(state.issues[1], steps=dict(state.issues[1].steps))}
        for i in eff.issues:
            issues[1] = dataclasses.replace(i, steps=issues[1].steps)
        for _, k, step in eff.steps:
            issues[1].steps[k] = step
        keyed = {lk.key: lk for lk in links}
        keyed.update({lk.key: lk for lk in [*eff.undone, *eff.links]})
        links = list(keyed.values())
        state = State(issues, links)
        assert state.issues[1].steps[1].status == ("pending" if n % 2 else "complete"), n
        target = sha


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


def test_queued_work_from_before_v2_locations_still_loads() -> None:
    """Work queued by an older version carries "changes" (per-commit line moves): ignored,
    locations move only with the main line now."""
    import json

    queued = work(fix(1))
    data = json.loads(queued.to_json())
    assert "changes" not in data
    data["changes"] = [{"status": "modified", "old_path": "a.py", "new_path": "a.py",
                        "hunks": [[1, 0, 1, 3]], "binary": False}]
    assert Work.from_json(json.dumps(data)) == queued
