"""Plain values the engine takes and returns: a commit's work, the issues' state, the effects
of applying work, and what a run reports. No I/O; the outbox stores Work as JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from exai_git.markers import Action

# --------------------------------------------------------------------------- work


@functools.lru_cache(maxsize=1024)
def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


@dataclass(frozen=True)
class Work:
    """Everything needed to apply one commit; plain data, so the outbox can keep it."""

    sha: str
    subject: str
    committed_at: int
    actions: tuple[Action, ...] = ()
    reverts: tuple[str, ...] = ()
    patch_id: str | None = None
    repository: str | None = None
    # Actions a backfill found already linked to this sha: reported as skipped, not re-read.
    applied_before: tuple[str, ...] = ()
    # Landing is reconciliation (MARKERS.md, "When a commit counts"):
    # the same work as these earlier commits (amend, rebase, cherry-pick; several when a
    # rebase squashed them into this one): compare with them, don't add
    equivalent_of: tuple[str, ...] = ()
    # E is still on a tracked branch (a cherry-pick): this commit only ever adds
    only_adds: bool = False
    # this commit left every tracked branch: undo its links; the text says why
    left: str | None = None
    # on a branch that is not tracked: only progress counts, the rest is held
    progress_only: bool = False

    @property
    def short(self) -> str:
        return self.sha[:10]

    @property
    def when(self) -> dt.datetime:
        return _utc(self.committed_at)

    def to_json(self) -> str:
        data = asdict(self)
        data["actions"] = [
            {"issue": a.issue, "action": a.action, "steps": list(a.steps),
             "conversation_id": a.conversation_id} for a in self.actions
        ]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Work:
        data = json.loads(text)
        return cls(
            sha=data["sha"], subject=data["subject"], committed_at=data["committed_at"],
            actions=tuple(Action(a["issue"], a["action"], tuple(a["steps"]), a["conversation_id"])
                          for a in data["actions"]),
            reverts=tuple(data["reverts"]), patch_id=data["patch_id"],
            # "changes" (v1 per-commit line moves) in older queued work is ignored: locations
            # move only when the main line moves (locations.move_locations)
            repository=data.get("repository"),
            applied_before=tuple(data.get("applied_before", ())),
            equivalent_of=tuple(data.get("equivalent_of") or ()), only_adds=bool(data.get("only_adds")),
            left=data.get("left"), progress_only=bool(data.get("progress_only")),
        )

    @property
    def needs_database(self) -> bool:
        return bool(self.actions or self.reverts or self.left
                    or self.equivalent_of)


# --------------------------------------------------------------------------- results


@dataclass
class CommitResult:
    sha: str
    subject: str
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    commits: list[CommitResult] = field(default_factory=list)
    read: int = 0

    def _total(self, kind: str) -> int:
        return sum(len(getattr(c, kind)) for c in self.commits)

    @property
    def applied(self) -> int:
        return self._total("applied")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    @property
    def errors(self) -> int:
        return self._total("errors")

    def to_json(self) -> dict[str, Any]:
        return {"commits_read": self.read, "actions_applied": self.applied,
                "skipped": self.skipped, "errors": self.errors,
                "commits": [c.to_json() for c in self.commits if
                            c.applied or c.skipped or c.errors or c.warnings]}



# --------------------------------------------------------------------------- state


@dataclass
class Step:
    status: str
    conversation_id: str | None = None
    completed_at: dt.datetime | None = None


@dataclass
class Issue:
    """An issue as the rules see it: status, fix fields, location and checklist."""

    id: Any  # the database's uuid; any hashable value in tests
    number: int
    status: str
    fix_conversation_id: str | None = None
    fix_date: dt.datetime | None = None
    file_path: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    created_at: dt.datetime | None = None
    steps: dict[int, Step] = field(default_factory=dict)

    def copy(self) -> Issue:
        return dataclasses.replace(
            self, steps={n: dataclasses.replace(s) for n, s in self.steps.items()})


@dataclass(frozen=True)
class Link:
    """A commit-link row: one commit did `action` to one issue.

    `effects` is what the link changed, enough to take it back from the current state:
    {"status": [old, new]}, {"fix": [old fix_conversation_id, old fix_date (ISO)]},
    {"steps": {"n": old status}}, {"ignored": true} (the action changed nothing),
    {"of": sha} (a revert), {"of_action": action} (a rewrite), {"from"/"to": [path, a, b]}
    (a move), {"was": sha} (moved here from an equivalent commit).

    A link is in force until something undoes it (undone_by: the commit that reverted it,
    left, or was its rewrite; undone_why says so). A landed commit whose links are undone
    is applied again."""

    issue_id: Any
    sha: str
    patch_id: str | None
    action: str
    steps: tuple[int, ...] = ()
    effects: Mapping[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None
    repository: str | None = None
    subject: str = ""
    committed_at: dt.datetime | None = None
    undone_by: str | None = None
    undone_why: str | None = None

    @property
    def key(self) -> tuple[Any, str, str]:
        return (self.issue_id, self.sha, self.action)

    @property
    def in_force(self) -> bool:
        return self.undone_by is None


@dataclass(frozen=True)
class State:
    """What a batch of works may touch: the issues they name (by number), those their reverts
    reach and the open ones on the files they change; the links of these commits, of their
    patch-ids and of the commits they revert."""

    issues: Mapping[int, Issue]
    links: Sequence[Link] = ()


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class Update:
    """An exai_issue_updates row; seq orders the rows of one batch (same-second commits)."""

    issue_id: Any
    kind: str
    content: str
    conversation_id: str | None
    at: dt.datetime
    seq: int


@dataclass
class Effects:
    """What applying a batch changes: issues whose fields changed (their new values, steps
    aside), steps that changed as (issue id, number, new values), rows to add, links to mark
    undone, and a result per work, in order."""

    issues: list[Issue] = field(default_factory=list)
    steps: list[tuple[Any, int, Step]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # new, or in force again (upsert)
    undone: list[Link] = field(default_factory=list)  # existing links now undone
    results: list[CommitResult] = field(default_factory=list)


