"""`exai-git status`: this clone as the tracker sees it. It reconciles first (as every
command that touches the tracker does), then says which branch is checked out and whether it
is tracked, the main line, the markers held on this branch (and what they will do when they
land), progress that counted from a commit no branch reaches any more, queued and failed
work, and the last scan. `undo_orphaned` undoes that orphaned progress.

The JSON shape (README, "status") is Status.to_json(); cli.py only renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.model import Report
    from exai_git.repo import Repo

Say = Callable[[str], None]
HELD_LIMIT = 200  # commits listed as held, newest
UNDO_COMMAND = "exai-git status --undo-orphaned"


@dataclass(frozen=True)
class Held:
    """One marker of a commit on this branch that is on no tracked branch yet."""

    commit: str
    subject: str
    issue: int
    action: str
    steps: tuple[int, ...]
    conversation_id: str | None
    on_landing: str  # what it does when it lands (markers.describe)
    counts_now: bool  # progress counts at once, on any branch

    def to_json(self, prefix: str) -> dict[str, Any]:
        return {"commit": self.commit, "subject": self.subject, "issue": self.issue,
                "key": f"{prefix}-{self.issue}", "action": self.action,
                "steps": list(self.steps), "conversation_id": self.conversation_id,
                "on_landing": self.on_landing, "counts_now": self.counts_now}


@dataclass(frozen=True)
class Orphan:
    """A commit whose progress markers counted on a branch that was not tracked, and that no
    branch reaches any more (deleted, reset, rewritten)."""

    commit: str
    subject: str
    branch: str | None

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "subject": self.subject, "branch": self.branch,
                "undo": UNDO_COMMAND}


@dataclass
class Status:
    branch: str | None  # None: HEAD detached (or no commit yet)
    tracked: bool
    main_line: tuple[str, str, str] | None  # (branch, ref, sha); None: no tracked branch
    tracked_refs: dict[str, str]
    held_commits: int = 0
    held: list[Held] = field(default_factory=list)
    orphaned: list[Orphan] = field(default_factory=list)
    pending: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    last_scan: dict[str, Any] | None = None
    reconciled: Report | None = None

    def to_json(self, prefix: str) -> dict[str, Any]:
        main = self.main_line
        return {
            "branch": self.branch,
            "detached": self.branch is None,
            "tracked": self.tracked,
            "main_line": {"branch": main[0], "ref": main[1], "sha": main[2]} if main else None,
            "tracked_refs": self.tracked_refs,
            "reconciled": self.reconciled.to_json() if self.reconciled is not None else None,
            "held_commits": self.held_commits,
            "held": [h.to_json(prefix) for h in self.held],
            "orphaned_progress": [o.to_json() for o in self.orphaned],
            "queue": {"pending": self.pending, "failed": self.failed},
            "last_scan": self.last_scan,
        }


def status(repo: Repo, settings: Settings, say: Say) -> Status:
    """Reconcile, then read this clone's state: git and the clone-local state files only
    (the database is used by the reconciliation alone, and only when something moved)."""
    from exai_git import hookland, hooks, hookstate, landing
    from exai_git import repo as git

    report = hookland.land(repo, settings, None, say=say)
    plan = git.landing_plan(repo, settings.branches or None,
                            remote_only=settings.apply_on == "push")
    ref = git.head_ref(repo)
    tracked = plan.heads
    main = None
    if plan.main_line is not None:
        main = (*plan.main_line, tracked.get(plan.main_line[1], ""))
    out = Status(landing.branch_of(ref) if ref else None,
                 ref is not None and ref in tracked, main, dict(tracked), reconciled=report)
    if repo.has_head():
        held = git.rev_list(repo, ["HEAD"], list(tracked.values()))
        out.held_commits = len(held)
        out.held = _held_markers(repo, settings, list(reversed(held))[:HELD_LIMIT])
    out.orphaned = _orphaned(repo, tracked)
    box = hooks.outbox(repo)
    counts = box.counts()
    out.pending = counts.pending
    out.failed = [{"id": f.id, "commit": f.sha, "reason": f.reason,
                   "queued_at": _iso(f.queued_at), "failed_at": _iso(f.failed_at)}
                  for f in (box.failed() if counts.failed else [])]
    scan = hookstate.last_scan(repo)
    if scan is not None:
        out.last_scan = {"at": _iso(scan["at"]) if isinstance(scan.get("at"), float) else None,
                         "findings": list(scan.get("findings") or []),
                         "issues_on_paths": scan.get("issues")}
    return out


def _held_markers(repo: Repo, settings: Settings, shas: list[str]) -> list[Held]:
    """The markers of the held commits, newest commit first."""
    from exai_git import markers
    from exai_git.msgcheck import parse_message

    out = []
    for sha in shas:
        commit = repo.commit(sha)
        for a in parse_message(commit.message, settings, None).actions:
            out.append(Held(sha, commit.subject, a.issue, a.action, a.steps, a.conversation_id,
                            markers.describe(a, settings.prefix), a.action == "progress"))
    return out


def _orphaned(repo: Repo, tracked: Mapping[str, str]) -> list[Orphan]:
    """Held progress no branch reaches any more; those that landed since are forgotten."""
    from exai_git import hookstate
    from exai_git import repo as git

    held = hookstate.held_progress(repo)
    if not held:
        return []
    shas = list(held)
    landed = set(shas) - set(git.rev_list(repo, shas, list(tracked.values()))) \
        if tracked else set()
    gone = git.off_branches(repo, shas)
    if landed:
        hookstate.save_held_progress(repo, {k: v for k, v in held.items() if k not in landed})
    return [Orphan(sha, str(held[sha].get("subject", "")), held[sha].get("branch"))
            for sha in shas if sha in gone and sha not in landed]


def undo_orphaned(repo: Repo, settings: Settings, say: Say) -> list[Orphan]:
    """Undo the progress of every orphaned commit (its links, as when a commit leaves a
    tracked branch, with update rows that say why) and forget them."""
    from exai_git import hookstate
    from exai_git.apply import apply_or_queue
    from exai_git.model import Work

    current = status(repo, settings, say)
    if not current.orphaned:
        return []
    held = hookstate.held_progress(repo)
    why = f"on no branch any more (orphaned progress, undone by `{UNDO_COMMAND}`)"
    works = [Work(o.commit, o.subject, int(held.get(o.commit, {}).get("committed_at") or 0),
                  left=why) for o in current.orphaned]
    apply_or_queue(repo, works, settings, say)
    done = {o.commit for o in current.orphaned}
    hookstate.save_held_progress(repo, {k: v for k, v in held.items() if k not in done})
    return current.orphaned


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def lines(s: Status, prefix: str) -> list[str]:
    """The human form of a status (unescaped: the caller cleans each line)."""
    where = f"on branch {s.branch}" if s.branch else "HEAD detached"
    if s.main_line is None:
        out = [f"{where}; no tracked branch exists (setting `branches`): nothing is applied"]
    elif s.tracked:
        out = [f"{where} (tracked: its commits count when they land)"]
    else:
        out = [f"{where} (not tracked: markers are held until its commits reach a tracked"
               + " branch; progress counts now)"]
    if s.main_line is not None:
        name, ref, sha = s.main_line
        out.append(f"main line: {name} ({ref} at {sha[:10]})")
    if s.held:
        n = s.held_commits
        out.append(f"held: {n} commit{'s' if n != 1 else ''} on no tracked branch")
        for h in s.held:
            when = "counted now" if h.counts_now else "on landing"
            out.append(f"  {h.commit[:10]} {h.subject}: {when}: {h.on_landing}")
    elif s.held_commits:
        out.append(f"held: {s.held_commits} commit(s) on no tracked branch, without markers")
    if s.orphaned:
        out.append("orphaned progress (its commit is on no branch any more; it still counts):")
        out += [f"  {o.commit[:10]} {o.subject}" + (f" (was on {o.branch})" if o.branch else "")
                for o in s.orphaned]
        out.append(f"  undo it with `{UNDO_COMMAND}`")
    out.append(f"queue: {s.pending} pending, {len(s.failed)} failed"
               + ("; `exai-git sync` replays it" if s.pending else ""))
    out += [f"  failed {f['id']}: {f['commit'][:10]}: {f['reason']}"
            f" (`exai-git sync --drop {f['id']}` removes it)" for f in s.failed]
    if s.last_scan is None:
        out.append("last scan: none kept")
    else:
        found = s.last_scan["findings"]
        out.append(f"last scan: {s.last_scan['at'] or 'at an unknown time'}, "
                   f"{len(found)} finding{'s' if len(found) != 1 else ''}")
        out += [f"  {line}" for line in found]
    return out
