"""The per-action rows of MARKERS.md's semantics table (fix, progress, ref, verify, reopen) and
the bookkeeping of links, as the in-memory Applier engine.py drives. Pure: no I/O.

Links are kept by key (issue, sha, action), latest version: a link is in force until undone;
one that is undone is applied again when its commit lands again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from exai_git import markers
from exai_git.markers import Action
from exai_git.model import CommitResult, Effects, Issue, Link, Step, Update, Work

OPEN_STATES = ("open", "in_progress")
DONE_STEP = ("complete", "skipped")
FROZEN = ("verified", "closed", "wont_fix")  # a fix or progress never moves these
# Links that record bookkeeping, not work a revert takes back.
NOT_WORK = ("revert", "move", "rewrite")
Key = tuple[Any, str, str]


class Applier:
    def __init__(self, issues: dict[int, Issue], links: Sequence[Link], prefix: str) -> None:
        self.issues, self.prefix = issues, prefix
        self.by_id = {i.id: i for i in issues.values()}
        self.links: dict[Key, Link] = {lk.key: lk for lk in links}
        # the keys of links by patch-id, in self.links' order (same_patch asks per work)
        self.by_patch: dict[str, dict[Key, None]] = {}
        for lk in self.links.values():
            if lk.patch_id:
                self.by_patch.setdefault(lk.patch_id, {})[lk.key] = None
        # steps neither complete nor skipped, per issue, kept as steps change
        self.undone = {i.id: sum(s.status not in DONE_STEP for s in i.steps.values())
                       for i in issues.values()}
        self.out = Effects()
        self.new: dict[Key, int] = {}  # key -> index in out.links
        self.this_work: set[Key] = set()  # links written by the current work
        self.work = Work("", "", 0)
        self.result = CommitResult("", "")
        self.base: Link | None = None  # re-applying this (undone) link, as its own commit

    def start(self, work: Work) -> None:
        self.work, self.result = work, CommitResult(work.sha, work.subject)
        self.this_work = set()
        self.out.results.append(self.result)

    def key(self, issue: Issue) -> str:
        return f"{self.prefix}-{issue.number}"

    def in_force(self, key: Key) -> Link | None:
        lk = self.links.get(key)
        return lk if lk is not None and lk.in_force else None

    def note(self, issue: Issue, kind: str, content: str, conv: str | None) -> None:
        self.out.updates.append(Update(issue.id, kind, f"{self.work.short} {self.work.subject}:"
                                       f" {content}", conv, self.work.when, len(self.out.updates) + 1))

    # ------------------------------------------------------------------ links

    def put(self, new: Link) -> None:
        """Record new as the latest version of its key (a row to insert, or to write over an
        undone one, or an update of a row written earlier in this batch)."""
        self.links[new.key] = new
        if new.patch_id:
            self.by_patch.setdefault(new.patch_id, {})[new.key] = None
        if new.key in self.new:
            self.out.links[self.new[new.key]] = new
        else:
            self.new[new.key] = len(self.out.links)
            self.out.links.append(new)

    def mark_undone(self, lk: Link, why: str, by: str | None = None) -> None:
        done = dataclasses.replace(lk, undone_by=by or self.work.sha,
                                   undone_why=aside(why)[2:-1])
        self.links[lk.key] = done
        if lk.key in self.new:
            self.out.links[self.new[lk.key]] = done
        else:
            self.out.undone.append(done)

    def link(self, issue: Issue, action: str, steps: Sequence[int], conv: str | None,
             effects: dict[str, Any]) -> None:
        w = self.work
        if self.base is not None:  # in force again, as the commit it was first
            new = dataclasses.replace(self.base, effects=effects, undone_by=None,
                                      undone_why=None)
        else:
            new = Link(issue.id, w.sha, w.patch_id, action, tuple(steps), effects, conv,
                       w.repository, w.subject, w.when)
        earlier = self.in_force(new.key)
        if earlier is not None and new.key in self.this_work:  # more of the same work
            new = dataclasses.replace(
                earlier, steps=tuple(sorted(set(earlier.steps) | set(new.steps))),
                effects=merge_effects(earlier.effects, effects))
        self.this_work.add(new.key)
        self.put(new)

    def set_step(self, issue: Issue, step: Step, status: str) -> None:
        self.undone[issue.id] += (status not in DONE_STEP) - (step.status not in DONE_STEP)
        step.status = status

    def move_steps(self, issue: Issue, numbers: Sequence[int], to: str, conv: str | None,
                   only_from: str | None = None) -> dict[str, str]:
        """The steps numbered go to status `to`, in order: those not there already (and, with
        only_from, only those in that status). A step completed gets the work's time, one back
        to pending loses its; conv, when given, becomes the step's conversation. Returns
        {step number: old status} of the steps moved, as a link's effects record them."""
        old: dict[str, str] = {}
        for n in numbers:
            step = issue.steps[n]
            if step.status == to or (only_from is not None and step.status != only_from):
                continue
            old[str(n)] = step.status
            self.set_step(issue, step, to)
            if to == "complete":
                step.completed_at = self.work.when
            elif to == "pending":
                step.completed_at = None
            step.conversation_id = conv or step.conversation_id
        return old

    def set_status(self, issue: Issue, new: str, conv: str | None, why: str) -> dict[str, Any]:
        old = issue.status
        effects: dict[str, Any] = {"status": [old, new]}
        issue.status = new
        if new == "fixed" and old != "fixed":
            effects["fix"] = [issue.fix_conversation_id, iso(issue.fix_date)]
            issue.fix_conversation_id = conv or issue.fix_conversation_id
            issue.fix_date = self.work.when
        elif old in ("fixed", "verified", "closed") and new in OPEN_STATES:
            effects["fix"] = [issue.fix_conversation_id, iso(issue.fix_date)]
            issue.fix_conversation_id = None
            issue.fix_date = None
        self.note(issue, "status_change", f"{old} -> {new}{why}", conv)
        return effects

    # ------------------------------------------------------------------ actions

    def apply(self, action: Action) -> None:
        issue = self.issues.get(action.issue)
        desc = markers.describe(action, self.prefix)
        if issue is None:
            self.result.errors.append(f"{self.prefix}-{action.issue}: no such issue")
            return
        if self.work.progress_only and action.action != "progress":
            self.result.skipped.append(f"{desc} (held until it lands on a tracked branch)")
            return
        if self.in_force((issue.id, self.work.sha, action.action)) is not None:
            self.result.skipped.append(f"{desc} (already applied)")
            return
        self.do(issue, action, desc)

    def do(self, issue: Issue, action: Action, desc: str) -> bool:
        missing = missing_steps(action, issue.steps)
        if missing:
            self.result.errors.append(f"{self.key(issue)}: {missing}")
            return False
        was = issue.status
        getattr(self, "_" + action.action)(issue, action)
        base = markers.describe(action, self.prefix)
        if desc.startswith(base) and issue.status == "in_progress" and (
                action.action == "reopen" or was == "in_progress"):
            # say what the tracker holds: a reopen moves only a fixed, verified or closed
            # issue; work started on an issue in progress moves no status
            desc = markers.describe(action, self.prefix, issue.status, was) + desc[len(base):]
        if action.steps and issue.status == "fixed" != was:  # the last step done: say so
            desc += f"; {self.key(issue)} -> fixed"
        self.result.applied.append(desc)
        return True

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
            effects["steps"] = self.move_steps(issue, action.steps, "complete", conv)
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
        old_steps = self.move_steps(issue, action.steps, "in_progress", conv, only_from="pending")
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
        old_steps = self.move_steps(issue, action.steps, "pending", None)
        effects["steps"] = old_steps
        if issue.status in ("fixed", "verified", "closed"):
            kept = was_fixed(issue.fix_conversation_id, issue.fix_date)
            effects.update(self.set_status(issue, "open", conv, kept))
        elif old_steps:
            self.note(issue, "comment", f"step(s) {', '.join(old_steps)} back to pending", conv)
        else:
            self.note(issue, "comment", "reopen: already open", conv)
        self.link(issue, "reopen", action.steps, conv, effects)


def merge_effects(first: Mapping[str, Any], then: Mapping[str, Any]) -> dict[str, Any]:
    """One record of two changes made in turn by the same link: first's old values win."""
    out = {**then, **first}
    out["steps"] = {**(then.get("steps") or {}), **(first.get("steps") or {})}
    if first.get("status") and then.get("status"):
        out["status"] = [first["status"][0], then["status"][1]]
    return out


_INNER = re.compile(r"\s*\(([^()]*)\)")


def aside(text: str) -> str:
    """text as the aside an update row ends with, " (text)", and without parentheses inside:
    an outer pair given is kept once, and an aside of its own becomes a clause ("left main
    (rewritten or reset)" reads " (left main, rewritten or reset)"). "" for no text."""
    t = text.strip()
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1].strip()
    while _INNER.search(t):
        t = _INNER.sub(r", \1", t)
    t = t.replace("(", "").replace(")", "")
    return f" ({t})" if t else ""


def moved(before: tuple[str, dict[int, str]], issue: Issue) -> str:
    """What an undo moved, for its line: `: step 2 -> pending; fixed -> in_progress`."""
    status, steps = before
    to_status: dict[str, list[int]] = {}
    for n, st in sorted(issue.steps.items()):
        if steps.get(n) != st.status:
            to_status.setdefault(st.status, []).append(n)
    said = [f"step{'s' if len(ns) > 1 else ''} {', '.join(map(str, ns))} -> {to}"
            for to, ns in to_status.items()]
    if issue.status != status:
        said.append(f"{status} -> {issue.status}")
    return ": " + "; ".join(said) if said else ""


def was_fixed(conv: Any, date: Any) -> str:
    """What a reopening keeps of the fix it clears, for the update row: ` (was fixed in
    conversation C on 2026-11-30 11:14:30 UTC)`, each part only when known."""
    when = from_iso(date) if isinstance(date, str) else date
    parts = [f"in conversation {conv}" if conv else "",
             f"on {when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
             if isinstance(when, dt.datetime) else ""]
    said = " ".join(p for p in parts if p)
    return f" (was fixed {said})" if said else ""


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def from_iso(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def missing_steps(action: Action, steps: Mapping[int, Any]) -> str | None:
    missing = [n for n in action.steps if n not in steps]
    if not missing:
        return None
    have = f"1-{max(steps)}" if steps else "none"
    return f"no step {', '.join(map(str, missing))} (steps: {have})"
