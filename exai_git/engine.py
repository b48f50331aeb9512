"""The semantics table of MARKERS.md as one pure function: (issues' state, commits' work) ->
effects. No database, no git, no I/O: store.load_state reads a State, apply() works out the
Effects in memory, store.write_effects writes them (apply.py runs the three).

Every link a commit makes records, in `effects`, what it changed (see Link); undo() reverses
a link from that record and the current state alone, so a revert, and any later reason to
take work back (a commit that left the branch), is the same pure step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exai_git import markers
from exai_git.markers import Action
from exai_git.model import (
    CommitResult,
    Effects,
    Issue,
    Link,
    PathChange,
    Report,
    State,
    Step,
    Update,
    Work,
)
from exai_git.paths import norm_path
from exai_git.ranges import remap

__all__ = ["FROZEN", "Check", "CommitResult", "Effects", "Issue", "Link", "PathChange", "Report",
           "State", "Step", "Update", "Work", "apply", "check_known", "merged_actions", "undo",
           "undo_link_rows"]

OPEN_STATES = ("open", "in_progress")
DONE_STEP = ("complete", "skipped")
FROZEN = ("verified", "closed", "wont_fix")  # a fix or progress never moves these
# Links that record bookkeeping, not work a revert takes back.
NOT_WORK = ("revert", "move", "rewrite")


# --------------------------------------------------------------------------- entry point


def apply(state: State, works: Sequence[Work], prefix: str = "EXAI") -> Effects:
    """The effects of applying works in order on state (which is left as it was)."""
    issues = {n: i.copy() for n, i in state.issues.items()}
    applier = _Applier(issues, state.links, prefix)
    for work in works:
        applier.start(work)
        for action in merged_actions(work.actions):
            applier.apply(action)
        for target in work.reverts:
            applier.revert(target)
        for change in work.changes:
            applier.move(change)
    return _effects(state, issues, applier.out)


def _effects(state: State, issues: Mapping[int, Issue], out: Effects) -> Effects:
    """out with the issue fields and steps that differ between state and issues."""
    for number, new in issues.items():
        old = state.issues[number]
        if dataclasses.replace(new, steps={}) != dataclasses.replace(old, steps={}):
            out.issues.append(dataclasses.replace(new, steps={}))
        out.steps += [(new.id, n, s) for n, s in new.steps.items() if s != old.steps.get(n)]
    return out


def undo(state: State, links: Sequence[Link], by: Work, why: str,
         prefix: str = "EXAI") -> Effects:
    """The effects of taking back the work links recorded, on account of `by` (why says so in
    the update rows, e.g. " (left main)"): each issue's links are undone together, from their
    recorded effects and the current state, and a "revert" link of by.sha records the undo.
    A revert commit is apply() of a Work whose reverts name the commit."""
    issues = {n: i.copy() for n, i in state.issues.items()}
    applier = _Applier(issues, state.links, prefix)
    applier.start(by)
    for issue_id in dict.fromkeys(lk.issue_id for lk in links if lk.action not in NOT_WORK):
        issue = applier.by_id.get(issue_id)
        if issue is not None and (issue_id, by.sha, "revert") not in applier.linked:
            applier.undo(issue, [lk for lk in links if lk.issue_id == issue_id], why, {})
    return _effects(state, issues, applier.out)


def merged_actions(actions: Sequence[Action]) -> list[Action]:
    """One action per (issue, action): steps unioned, first conversation kept."""
    merged: dict[tuple[int, str], Action] = {}
    for a in actions:
        k = (a.issue, a.action)
        if k in merged:
            m = merged[k]
            merged[k] = Action(a.issue, a.action, tuple(sorted(set(m.steps) | set(a.steps))),
                               m.conversation_id or a.conversation_id)
        else:
            merged[k] = a
    return list(merged.values())


def undo_link_rows(links: Sequence[Link], target: str) -> list[Link]:
    """The links whose work a revert of target takes back: target's own, and those of the
    commit it was recorded as a rewrite of (same patch-id)."""
    rows = [lk for lk in links if lk.sha == target]
    same_patch = {lk.patch_id for lk in rows if lk.patch_id and lk.action == "rewrite"}
    if same_patch:
        rows += [lk for lk in links if lk.sha != target and lk.patch_id in same_patch
                 and lk.action not in NOT_WORK]
    return rows


# --------------------------------------------------------------------------- semantics


class _Applier:
    def __init__(self, issues: dict[int, Issue], links: Sequence[Link], prefix: str) -> None:
        self.issues, self.prefix = issues, prefix
        self.by_id = {i.id: i for i in issues.values()}
        self.links = list(links)
        self.linked = {(lk.issue_id, lk.sha, lk.action) for lk in links}
        self.patch_linked = {(lk.issue_id, lk.patch_id, lk.action) for lk in links if lk.patch_id}
        # steps neither complete nor skipped, per issue, kept as steps change
        self.undone = {i.id: sum(s.status not in DONE_STEP for s in i.steps.values())
                       for i in issues.values()}
        self.out = Effects()
        self.work = Work("", "", 0)
        self.result = CommitResult("", "")

    def start(self, work: Work) -> None:
        self.work, self.result = work, CommitResult(work.sha, work.subject)
        self.out.results.append(self.result)

    def key(self, issue: Issue) -> str:
        return f"{self.prefix}-{issue.number}"

    def note(self, issue: Issue, kind: str, content: str, conv: str | None) -> None:
        self.out.updates.append(Update(issue.id, kind, f"{self.work.short} {self.work.subject}:"
                                       f" {content}", conv, self.work.when, len(self.out.updates) + 1))

    def link(self, issue: Issue, action: str, steps: Sequence[int], conv: str | None,
             effects: dict[str, Any]) -> None:
        w = self.work
        new = Link(issue.id, w.sha, w.patch_id, action, tuple(steps), effects, conv,
                   w.repository, w.subject, w.when)
        self.linked.add((issue.id, w.sha, action))
        if w.patch_id:
            self.patch_linked.add((issue.id, w.patch_id, action))
        self.links.append(new)
        self.out.links.append(new)

    def set_step(self, issue: Issue, step: Step, status: str) -> None:
        self.undone[issue.id] += (status not in DONE_STEP) - (step.status not in DONE_STEP)
        step.status = status

    def set_status(self, issue: Issue, new: str, conv: str | None, why: str) -> dict[str, Any]:
        old = issue.status
        effects: dict[str, Any] = {"status": [old, new]}
        issue.status = new
        if new == "fixed" and old != "fixed":
            effects["fix"] = [issue.fix_conversation_id, _iso(issue.fix_date)]
            issue.fix_conversation_id = conv or issue.fix_conversation_id
            issue.fix_date = self.work.when
        elif old in ("fixed", "verified", "closed") and new in OPEN_STATES:
            effects["fix"] = [issue.fix_conversation_id, _iso(issue.fix_date)]
            issue.fix_conversation_id = None
            issue.fix_date = None
        self.note(issue, "status_change", f"{old} -> {new}{why}", conv)
        return effects

    def apply(self, action: Action) -> None:
        issue = self.issues.get(action.issue)
        desc = markers.describe(action, self.prefix)
        if issue is None:
            self.result.errors.append(f"{self.prefix}-{action.issue}: no such issue")
            return
        if (issue.id, self.work.sha, action.action) in self.linked:
            self.result.skipped.append(f"{desc} (already applied)")
            return
        if self.work.patch_id and (issue.id, self.work.patch_id, action.action) in self.patch_linked:
            self.link(issue, "rewrite", action.steps, action.conversation_id,
                      {"of_action": action.action})
            self.result.skipped.append(f"{desc} (already applied as the same patch)")
            return
        missing = _missing_steps(action, issue.steps)
        if missing:
            self.result.errors.append(f"{self.key(issue)}: {missing}")
            return
        was = issue.status
        getattr(self, "_" + action.action)(issue, action)
        if action.steps and issue.status == "fixed" != was:  # the last step done: say so
            desc += f"; {self.key(issue)} -> fixed"
        self.result.applied.append(desc)

    def _frozen(self, issue: Issue, action: Action, kind: str) -> bool:
        if issue.status not in FROZEN:
            return False
        message = f"{action.action} ignored: {self.key(issue)} is {issue.status}"
        self.result.warnings.append(message)
        self.note(issue, kind, message, action.conversation_id)
        self.link(issue, action.action, action.steps, action.conversation_id, {"ignored": True})
        return True

    def _fix(self, issue: Issue, action: Action) -> None:
        if self._frozen(issue, action, "fix_applied"):
            return
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        if action.steps:
            old_steps = {}
            for n in action.steps:
                step = issue.steps[n]
                if step.status != "complete":
                    old_steps[str(n)] = step.status
                    self.set_step(issue, step, "complete")
                    step.completed_at = self.work.when
                    step.conversation_id = conv or step.conversation_id
            effects["steps"] = old_steps
            noun = "step" if len(action.steps) == 1 else "steps"
            self.note(issue, "fix_applied",
                      f"{noun} {', '.join(map(str, action.steps))} complete", conv)
            if self.undone[issue.id] == 0 and issue.status in OPEN_STATES:
                effects.update(self.set_status(issue, "fixed", conv, ": every step is done"))
            elif issue.status == "open":
                effects.update(self.set_status(issue, "in_progress", conv, ""))
        else:
            pending = [n for n, s in sorted(issue.steps.items()) if s.status not in DONE_STEP]
            if pending:
                self.result.warnings.append(
                    f"{self.key(issue)} fixed with step(s) {', '.join(map(str, pending))} "
                    "still pending")
            self.note(issue, "fix_applied", "fix applied", conv)
            if issue.status in OPEN_STATES:
                effects.update(self.set_status(issue, "fixed", conv, ""))
        self.link(issue, "fix", action.steps, conv, effects)

    def _progress(self, issue: Issue, action: Action) -> None:
        if self._frozen(issue, action, "comment"):
            return
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        old_steps = {}
        for n in action.steps:
            step = issue.steps[n]
            if step.status == "pending":
                old_steps[str(n)] = step.status
                self.set_step(issue, step, "in_progress")
                step.conversation_id = conv or step.conversation_id
        if old_steps:
            effects["steps"] = old_steps
        if issue.status == "open":
            steps = f": work started on step(s) {', '.join(old_steps)}" if old_steps else ""
            effects.update(self.set_status(issue, "in_progress", conv, steps))
        else:
            what = f"step(s) {', '.join(map(str, action.steps))} in progress" if action.steps \
                else "work in progress"
            self.note(issue, "comment", what, conv)
        self.link(issue, "progress", action.steps, conv, effects)

    def _ref(self, issue: Issue, action: Action) -> None:
        conv = action.conversation_id
        self.note(issue, "comment", "referenced", conv)
        if conv:
            self.note(issue, "conversation_link", f"conversation {conv} linked", conv)
        self.link(issue, "ref", action.steps, conv, {})

    def _verify(self, issue: Issue, action: Action) -> None:
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        if issue.status == "fixed":
            effects["status"] = ["fixed", "verified"]
            issue.status = "verified"
            self.note(issue, "verification", "verified (fixed -> verified)", conv)
        else:
            message = f"verify ignored: {self.key(issue)} is {issue.status}, not fixed"
            self.result.warnings.append(message)
            self.note(issue, "verification", message, conv)
            effects["ignored"] = True
        self.link(issue, "verify", action.steps, conv, effects)

    def _reopen(self, issue: Issue, action: Action) -> None:
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        if issue.status == "wont_fix":
            message = f"reopen ignored: {self.key(issue)} is wont_fix"
            self.result.warnings.append(message)
            self.note(issue, "comment", message, conv)
            self.link(issue, "reopen", action.steps, conv, {"ignored": True})
            return
        old_steps = {}
        for n in action.steps:
            step = issue.steps[n]
            if step.status != "pending":
                old_steps[str(n)] = step.status
                self.set_step(issue, step, "pending")
                step.completed_at = None
        effects["steps"] = old_steps
        if issue.status in ("fixed", "verified", "closed"):
            kept = ""
            if issue.fix_conversation_id or issue.fix_date:
                kept = (f" (was fixed in conversation {issue.fix_conversation_id or '-'}"
                        f" on {_iso(issue.fix_date) or '-'})")
            effects.update(self.set_status(issue, "open", conv, kept))
        elif old_steps:
            self.note(issue, "comment", f"step(s) {', '.join(old_steps)} back to pending", conv)
        else:
            self.note(issue, "comment", "reopen: already open", conv)
        self.link(issue, "reopen", action.steps, conv, effects)

    # ------------------------------------------------------------------ reverts

    def revert(self, target: str) -> None:
        rows = undo_link_rows(self.links, target)
        if not rows:
            self.result.warnings.append(
                f"reverts {target[:10]}, which changed nothing in the tracker")
            return
        done: set[Any] = set()
        for row in rows:
            issue = self.by_id.get(row.issue_id)
            if issue is None or row.action in NOT_WORK or issue.id in done:
                continue
            done.add(issue.id)
            if (issue.id, self.work.sha, "revert") in self.linked:
                self.result.skipped.append(f"revert of {target[:10]} on {self.key(issue)} "
                                           "(already applied)")
                continue
            self.undo(issue, [r for r in rows if r.issue_id == issue.id],
                      f" (revert of {target[:10]})", {"of": target})
            self.result.applied.append(f"{self.key(issue)}: revert of {target[:10]}")

    def undo(self, issue: Issue, rows: Sequence[Link], why: str, record: dict[str, Any]) -> None:
        """Take back the work of rows (links to issue) from their recorded effects: their steps
        go back to pending, and a status they moved steps back as far as the checklist says.
        Recorded as a "revert" link whose effects are record plus what this changed."""
        steps_back: list[int] = []
        moved_status = False
        for row in rows:
            effects = row.effects or {}
            if effects.get("ignored"):
                continue
            for n in (effects.get("steps") or {}):
                step = issue.steps.get(int(n))
                if step is not None and step.status != "pending":
                    self.set_step(issue, step, "pending")
                    step.completed_at = None
                    steps_back.append(int(n))
            if effects.get("status"):
                moved_status = True
        effects_out: dict[str, Any] = {**record, "steps": sorted(steps_back)}
        if steps_back:
            self.note(issue, "comment",
                      f"step(s) {', '.join(map(str, sorted(steps_back)))} back to pending{why}",
                      None)
        any_complete = any(s.status == "complete" for s in issue.steps.values())
        if moved_status:
            if issue.status == "fixed":
                new = "in_progress" if any_complete else "open"
                effects_out.update(self.set_status(issue, new, None, why))
            elif issue.status == "in_progress" and not any_complete:
                effects_out.update(self.set_status(issue, "open", None, why))
        if not steps_back and not moved_status:
            self.note(issue, "comment", f"reverted{why}", None)
        self.link(issue, "revert", sorted(steps_back), None, effects_out)

    # ------------------------------------------------------------------ moves

    def move(self, change: PathChange) -> None:
        old = norm_path(change.old_path or "")
        for issue in list(self.issues.values()):
            if issue.status not in OPEN_STATES or not issue.file_path:
                continue
            if norm_path(issue.file_path) != old:
                continue
            if issue.created_at is not None and \
                    int(issue.created_at.timestamp()) > self.work.committed_at:
                continue  # the issue was written against a later version of the file
            if (issue.id, self.work.sha, "move") in self.linked:
                continue
            if self.work.patch_id and (issue.id, self.work.patch_id, "move") in self.patch_linked:
                continue
            self._move_issue(issue, change)

    def _move_issue(self, issue: Issue, change: PathChange) -> None:
        before = _where(issue)
        effects: dict[str, Any] = {"from": [issue.file_path, issue.line_start, issue.line_end]}
        report = None
        if change.status == "deleted":
            report = f"{issue.file_path} was deleted; location left as it was"
        else:
            if change.status == "renamed" and change.new_path:
                issue.file_path = change.new_path
            if issue.line_start and not change.binary and change.hunks:
                end = issue.line_end or issue.line_start
                moved = remap(issue.line_start, end, change.hunks)
                if moved is None:
                    report = (f"lines {issue.line_start}-{end} of {issue.file_path} were all "
                              "deleted; location left as it was")
                elif moved != (issue.line_start, end):
                    issue.line_start, issue.line_end = moved
        after = _where(issue)
        if report is None and after == before:
            return
        message = report or f"location moved: {before} -> {after}"
        self.note(issue, "comment", message, None)
        effects["to"] = [issue.file_path, issue.line_start, issue.line_end]
        self.link(issue, "move", (), None, effects)
        self.result.moves.append(f"{self.key(issue)}: {message}")
        if report:
            self.result.warnings.append(f"{self.key(issue)}: {report}")


def _where(issue: Issue) -> str:
    if issue.line_start:
        return f"{issue.file_path}:{issue.line_start}-{issue.line_end or issue.line_start}"
    return str(issue.file_path)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _missing_steps(action: Action, steps: Mapping[int, Any]) -> str | None:
    missing = [n for n in action.steps if n not in steps]
    if not missing:
        return None
    have = f"1-{max(steps)}" if steps else "none"
    return f"no step {', '.join(map(str, missing))} (steps: {have})"


# --------------------------------------------------------------------------- check


@dataclass
class Check:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_known(rows: Mapping[int, tuple[str, Mapping[int, str]]], actions: Sequence[Action],
                prefix: str = "EXAI") -> Check:
    """What applying actions would do wrong, against the issues they name: rows is {issue
    number: (status, {step: status})} for every one that exists. Unknown issues or steps are
    errors; actions that would do nothing or leave work behind are warnings."""
    out = Check()
    p = prefix
    for a in merged_actions(actions):
        key = f"{p}-{a.issue}"
        if a.issue not in rows:
            out.errors.append(f"{key}: no such issue")
            continue
        status, steps = rows[a.issue]
        missing = _missing_steps(a, steps)
        if missing:
            out.errors.append(f"{key}: {missing}")
            continue
        if a.action in ("fix", "progress") and status in FROZEN:
            out.warnings.append(f"{key} is {status}: {a.action} would change nothing")
        elif a.action == "fix" and status == "fixed" and not a.steps:
            out.warnings.append(f"{key} is already fixed")
        elif a.action == "fix" and not a.steps:
            pending = [n for n, s in sorted(steps.items()) if s not in DONE_STEP]
            if pending:
                out.warnings.append(
                    f"{key}: fixing the issue leaves step(s) {', '.join(map(str, pending))} "
                    "pending")
        elif a.action == "verify" and status != "fixed":
            out.warnings.append(f"{key} is {status}, not fixed: verify would change nothing")
        elif a.action == "reopen" and status == "wont_fix":
            out.warnings.append(f"{key} is wont_fix: reopen would change nothing")
    return out
