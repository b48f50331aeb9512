"""The rules of a change made by hand (`step`, `mark`, `note`) as pure functions: an issue's
state in, the fields that change and the update rows to write out (model.Effects), the way a
marker's would (MARKERS.md "What each action does"). No database, no git: hand.py loads the
issue, calls one of these, and has store.write_effects write the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from exai_git.errors import EXIT_USAGE, CheckFailed, ExaiError
from exai_git.markers import UUID_RE
from exai_git.model import Effects, Issue, Update
from exai_git.rules import DONE_STEP, OPEN_STATES, was_fixed

SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = ("timeout", "architecture", "configuration", "performance", "security", "other")
ISSUE_STATUSES = ("open", "in_progress", "fixed", "verified", "closed", "wont_fix")
STEP_STATUSES = ("pending", "in_progress", "complete", "skipped")
BY_HAND = "by hand"


@dataclass
class Edit:
    """What a hand change does: Effects to write, lines that say it, and the changed fields
    (for --json)."""

    key: str
    effects: Effects = field(default_factory=Effects)
    said: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "issue": int(self.key.rsplit("-", 1)[1]),
                "changed": self.changed, "said": self.said, "warnings": self.warnings,
                "updates": [{"update_type": u.kind, "content": u.content,
                             "conversation_id": u.conversation_id}
                            for u in self.effects.updates]}


# --------------------------------------------------------------------------- input


def one_of(value: str, valid: tuple[str, ...], what: str) -> str:
    """value when it is one of valid (any case), else a usage error that lists them."""
    v = value.strip().lower()
    if v not in valid:
        raise ExaiError(f"not a {what}: {value!r} (one of {', '.join(valid)})",
                        exit_code=EXIT_USAGE)
    return v


def conversation(value: str | None) -> str | None:
    """A --conv value, lower-cased; a usage error when it is not a whole UUID (the expected
    form is shown, never an example id)."""
    if value is None:
        return None
    v = value.strip()
    if not UUID_RE.match(v):
        raise ExaiError(f"not a conversation id: {value!r} (expected a UUID, "
                        "8-4-4-4-12 hex digits)", exit_code=EXIT_USAGE)
    return v.lower()


def text(value: str, what: str) -> str:
    v = value.strip()
    if not v:
        raise ExaiError(f"the {what} is empty", exit_code=EXIT_USAGE)
    return v


def location(spec: str) -> tuple[str, int | None, int | None]:
    """`PATH`, `PATH:A` or `PATH:A-B` as (path, line_start, line_end); a usage error when the
    lines are not 1 <= A <= B."""
    path, sep, lines = spec.rpartition(":")
    if not sep or not lines or not all(part.strip().isdigit() for part in lines.split("-", 1)):
        if sep and lines and lines[:1].isdigit():
            raise ExaiError(f"not a line range: {lines!r} in {spec!r} (expected PATH:A or "
                            "PATH:A-B, 1 <= A <= B)", exit_code=EXIT_USAGE)
        return text(spec, "path"), None, None
    a_text, _, b_text = lines.partition("-")
    a = int(a_text)
    b = int(b_text) if b_text else a
    if a < 1 or b < a:
        raise ExaiError(f"not a line range: {lines!r} in {spec!r} (expected A-B with "
                        "1 <= A <= B)", exit_code=EXIT_USAGE)
    return text(path, "path"), a, b


# --------------------------------------------------------------------------- rules


class _Change:
    def __init__(self, issue: Issue, prefix: str, now: dt.datetime) -> None:
        self.old = issue
        self.issue = issue.copy()
        self.now = now
        self.edit = Edit(f"{prefix}-{issue.number}")

    def row(self, kind: str, content: str, conv: str | None) -> None:
        ups = self.edit.effects.updates
        ups.append(Update(self.issue.id, kind, f"{BY_HAND}: {content}", conv, self.now,
                          len(ups) + 1))

    def status(self, new: str, conv: str | None, why: str = "") -> None:
        """Move the issue to new, with the fix fields a marker would set or clear."""
        i, old = self.issue, self.issue.status
        i.status = new
        if new == "fixed" and old != "fixed":
            i.fix_conversation_id = conv or i.fix_conversation_id
            i.fix_date = self.now
        elif old in ("fixed", "verified", "closed") and new in OPEN_STATES:
            why += was_fixed(i.fix_conversation_id, i.fix_date)
            i.fix_conversation_id = None
            i.fix_date = None
        kind = "verification" if new == "verified" else "status_change"
        self.row(kind, f"{old} -> {new}{why}", conv)
        self.edit.said.append(f"{self.edit.key} -> {new}")

    def done(self) -> Edit:
        out, old, new = self.edit, self.old, self.issue
        for name in ("status", "fix_conversation_id", "fix_date"):
            if getattr(new, name) != getattr(old, name):
                out.changed[name] = getattr(new, name)
        if dataclasses.replace(new, steps={}) != dataclasses.replace(old, steps={}):
            out.effects.issues.append(dataclasses.replace(new, steps={}))
        for n, s in sorted(new.steps.items()):
            if s != old.steps.get(n):
                out.effects.steps.append((new.id, n, s))
                out.changed.setdefault("steps", {})[str(n)] = {
                    "status": s.status, "conversation_id": s.conversation_id,
                    "completed_at": s.completed_at}
        return out


def set_step(issue: Issue, number: int, status: str, conv: str | None, now: dt.datetime,
             prefix: str = "EXAI") -> Edit:
    """`step N K STATUS`: as a marker would, complete sets completed_at and the conversation
    (fix), in_progress and pending clear completed_at (progress, reopen); the last step done
    makes an open or in_progress issue fixed, the first one started makes an open issue
    in_progress. An issue is never moved backwards: a step undone on a fixed issue leaves it
    fixed, with a warning that says how to reopen it."""
    ch = _Change(issue, prefix, now)
    key = ch.edit.key
    if number not in issue.steps:
        have = f"1-{max(issue.steps)}" if issue.steps else "none"
        raise CheckFailed(f"{key}: no step {number} (steps: {have})")
    step = ch.issue.steps[number]
    was = step.status
    step.status = status
    step.conversation_id = conv or step.conversation_id
    step.completed_at = (step.completed_at if was == "complete" else now) \
        if status == "complete" else None
    ch.edit.said.append(f"{key} step {number} -> {status}")
    kind = "fix_applied" if status == "complete" else "comment"
    ch.row(kind, f"step {number} {was} -> {status}", conv)
    undone = sum(s.status not in DONE_STEP for s in ch.issue.steps.values())
    state = ch.issue.status
    if status in DONE_STEP and undone == 0 and state in OPEN_STATES:
        ch.status("fixed", conv, ": every step is done")
    elif status in ("complete", "in_progress") and state == "open":
        ch.status("in_progress", conv)
    elif status not in DONE_STEP and state not in OPEN_STATES:
        ch.edit.warnings.append(f"{key} is still {state}; `exai-git mark {issue.number} "
                                "in_progress` reopens it")
    return ch.done()


def add_step(issue: Issue, description: str, conv: str | None, now: dt.datetime,
             prefix: str = "EXAI") -> tuple[int, Edit]:
    """`step N add TEXT`: the next step number, and a comment that records it."""
    number = max(issue.steps, default=0) + 1
    ch = _Change(issue, prefix, now)
    ch.row("comment", f"step {number} added: {description}", conv)
    ch.edit.said.append(f"{ch.edit.key} step {number} added")
    ch.edit.changed["steps"] = {str(number): {"status": "pending",
                                              "description": description}}
    if issue.status not in OPEN_STATES:
        ch.edit.warnings.append(f"{ch.edit.key} is {issue.status}; the new step is pending")
    return number, ch.done()


def mark(issue: Issue, status: str, conv: str | None, note: str | None, now: dt.datetime,
         prefix: str = "EXAI") -> Edit:
    """`mark N STATUS`: the issue's status by hand, with the fix fields a marker sets (fixed)
    or clears (back to open or in_progress; the update row keeps them); a comment with
    --note. The same status again changes nothing."""
    ch = _Change(issue, prefix, now)
    if status == issue.status:
        ch.edit.said.append(f"{ch.edit.key} is already {status}")
    else:
        ch.status(status, conv)
        pending = [n for n, s in sorted(issue.steps.items()) if s.status not in DONE_STEP]
        if status in ("fixed", "verified", "closed") and pending:
            ch.edit.warnings.append(f"{ch.edit.key} {status} with step(s) "
                                    f"{', '.join(map(str, pending))} still pending")
    if note is not None:
        ch.row("comment", note, conv)
    return ch.done()


def note(issue: Issue, content: str, conv: str | None, now: dt.datetime,
         prefix: str = "EXAI") -> Edit:
    """`note N TEXT`: a comment, or a conversation_link when a conversation is given."""
    ch = _Change(issue, prefix, now)
    kind = "conversation_link" if conv else "comment"
    ch.row(kind, content, conv)
    ch.edit.said.append(f"{ch.edit.key}: {kind} added")
    return ch.done()


__all__ = ["CATEGORIES", "ISSUE_STATUSES", "SEVERITIES", "STEP_STATUSES", "Edit",
           "add_step", "conversation", "location", "mark", "note", "one_of", "set_step",
           "text"]
