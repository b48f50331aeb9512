"""Applies commits' actions to the tracker: the semantics table of MARKERS.md.

Commits are applied in batches, each batch in one transaction: lock the issues involved
(one statement, in id order, so concurrent appliers never deadlock), read their checklists
and commit links, apply every action in memory, then write the result with executemany.
The commit-link table's (issue, commit, action) key makes re-applying a no-op; a commit
whose patch-id matches an applied one is a rewrite and is recorded, not applied again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from exai_git import markers
from exai_git.markers import Action
from exai_git.paths import norm_path
from exai_git.ranges import Hunk, remap

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings

OPEN_STATES = ("open", "in_progress")
DONE_STEP = ("complete", "skipped")
FROZEN = ("verified", "closed", "wont_fix")  # a fix or progress never moves these


# --------------------------------------------------------------------------- work items


@dataclass(frozen=True)
class PathChange:
    """What one commit did to one file, as far as issue locations care."""

    status: str
    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False


@functools.lru_cache(maxsize=1024)
def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


@dataclass(frozen=True)
class Work:
    """Everything needed to apply one commit; plain data, so the outbox can keep it."""

    sha: str
    subject: str
    committed_at: int
    actions: tuple[Action, ...] = ()
    reverts: tuple[str, ...] = ()
    patch_id: str | None = None
    changes: tuple[PathChange, ...] = ()
    repository: str | None = None
    # Actions a backfill found already linked to this sha: reported as skipped, not re-read.
    applied_before: tuple[str, ...] = ()

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
        data["changes"] = [
            {**asdict(c), "hunks": [[h.old_start, h.old_count, h.new_start, h.new_count]
                                    for h in c.hunks]} for c in self.changes
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
            changes=tuple(PathChange(c["status"], c["old_path"], c["new_path"],
                                     tuple(Hunk(*h) for h in c["hunks"]), c["binary"])
                          for c in data["changes"]),
            repository=data.get("repository"),
            applied_before=tuple(data.get("applied_before", ())),
        )

    @property
    def needs_database(self) -> bool:
        return bool(self.actions or self.reverts or self.changes)


# --------------------------------------------------------------------------- results


@dataclass
class CommitResult:
    sha: str
    subject: str
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)

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

    @property
    def moves(self) -> int:
        return self._total("moves")

    def to_json(self) -> dict[str, Any]:
        return {"commits_read": self.read, "actions_applied": self.applied,
                "skipped": self.skipped, "errors": self.errors, "moves": self.moves,
                "commits": [c.to_json() for c in self.commits if
                            c.applied or c.skipped or c.errors or c.warnings or c.moves]}


# --------------------------------------------------------------------------- state


@dataclass
class _Step:
    status: str
    conversation_id: str | None
    completed_at: Any
    dirty: bool = False


@dataclass
class _Issue:
    id: Any
    number: int
    status: str
    fix_conversation_id: str | None
    fix_date: Any
    file_path: str | None
    line_start: int | None
    line_end: int | None
    created_at: Any
    steps: dict[int, _Step] = field(default_factory=dict)
    dirty: bool = False
    undone: int = 0  # steps neither complete nor skipped, kept as steps change

    def set_step(self, step: _Step, status: str) -> None:
        self.undone += (status not in DONE_STEP) - (step.status not in DONE_STEP)
        step.status = status
        step.dirty = True


@dataclass
class _State:
    issues: dict[int, _Issue]
    by_id: dict[Any, _Issue]
    links: set[tuple[Any, str, str]]  # (issue_id, sha, action)
    patch_links: set[tuple[Any, str, str]]  # (issue_id, patch_id, action)
    link_rows: dict[str, list[dict[str, Any]]]  # sha -> links (for reverts)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    new_links: list[tuple[Any, ...]] = field(default_factory=list)
    seq: int = 0


_ISSUE_COLUMNS = ("id, issue_number, status, fix_conversation_id, fix_date, file_path,"
                  " line_start, line_end, created_at")


def _load(conn: psycopg.Connection[Any], works: Sequence[Work]) -> _State:
    """Lock and read what a batch touches: the issues it names (and those its reverts and moves
    reach), their steps and their links to these commits. One round trip within the batch's
    pipeline: the statements name each other's rows by subquery, not by earlier answers."""
    numbers = sorted({a.issue for w in works for a in w.actions})
    shas = [w.sha for w in works]
    pids = sorted({w.patch_id for w in works if w.patch_id})
    reverted = sorted({s for w in works for s in w.reverts})
    paths = sorted({norm_path(p) for w in works for c in w.changes
                    for p in (c.old_path,) if p})
    # A reverted commit may have been recorded as a rewrite (amend, rebase) of the commit that
    # did the work: its patch-id leads to that commit's links.
    chosen = ("SELECT id FROM exai_issues WHERE issue_number = ANY(%(numbers)s)"
              " OR id IN (SELECT issue_id FROM exai_commit_links"
              "  WHERE commit_sha = ANY(%(reverted)s))"
              " OR (exai_norm_path(file_path) = ANY(%(paths)s)"
              "  AND status IN ('open', 'in_progress'))")
    params = {"numbers": numbers, "reverted": reverted, "paths": paths, "shas": shas,
              "pids": pids}
    with conn.cursor() as issues_cur, conn.cursor() as steps_cur, conn.cursor() as links_cur:
        issues_cur.execute(f"SELECT {_ISSUE_COLUMNS} FROM exai_issues WHERE id IN ({chosen})"
                           " ORDER BY id FOR UPDATE", params)
        steps_cur.execute(
            "SELECT issue_id, step_number, status, conversation_id, completed_at"
            f" FROM exai_issue_checklist WHERE issue_id IN ({chosen})", params)
        links_cur.execute(
            "SELECT issue_id, commit_sha, patch_id, action, steps, effects"
            f" FROM exai_commit_links WHERE issue_id IN ({chosen})"
            " AND (commit_sha = ANY(%(shas)s) OR commit_sha = ANY(%(reverted)s)"
            "  OR patch_id = ANY(%(pids)s) OR patch_id IN (SELECT patch_id"
            "   FROM exai_commit_links WHERE commit_sha = ANY(%(reverted)s)))", params)
        issue_rows = issues_cur.fetchall()
        step_rows = steps_cur.fetchall()
        link_rows_db = links_cur.fetchall()
    issues = {r[1]: _Issue(*r) for r in issue_rows}
    by_id = {i.id: i for i in issues.values()}
    for issue_id, n, status, conv, completed in step_rows:
        issue = by_id[issue_id]
        issue.steps[n] = _Step(status, conv, completed)
        if status not in DONE_STEP:
            issue.undone += 1
    links: set[tuple[Any, str, str]] = set()
    patch_links: set[tuple[Any, str, str]] = set()
    link_rows: dict[str, list[dict[str, Any]]] = {}
    for issue_id, sha, pid, action, steps, effects in link_rows_db:
        links.add((issue_id, sha, action))
        if pid:
            patch_links.add((issue_id, pid, action))
        link_rows.setdefault(sha, []).append(
            {"issue_id": issue_id, "action": action, "steps": steps, "effects": effects,
             "patch_id": pid})
    return _State(issues, by_id, links, patch_links, link_rows)


# --------------------------------------------------------------------------- semantics


class _Applier:
    def __init__(self, st: _State, work: Work, result: CommitResult, prefix: str) -> None:
        self.st, self.work, self.result, self.prefix = st, work, result, prefix

    def key(self, issue: _Issue) -> str:
        return f"{self.prefix}-{issue.number}"

    def note(self, issue: _Issue, kind: str, content: str, conv: str | None) -> None:
        self.st.seq += 1
        self.st.updates.append((issue.id, kind, f"{self.work.short} {self.work.subject}: {content}",
                                conv, self.work.when, self.st.seq))

    def link(self, issue: _Issue, action: str, steps: Sequence[int], conv: str | None,
             effects: dict[str, Any]) -> None:
        self.st.links.add((issue.id, self.work.sha, action))
        if self.work.patch_id:
            self.st.patch_links.add((issue.id, self.work.patch_id, action))
        row = {"issue_id": issue.id, "action": action, "steps": list(steps), "effects": effects,
               "patch_id": self.work.patch_id}
        self.st.link_rows.setdefault(self.work.sha, []).append(row)
        self.st.new_links.append((issue.id, self.work.sha, self.work.patch_id, action,
                                  "{" + ",".join(map(str, steps)) + "}",  # an int[] literal
                                  conv, self.work.repository, self.work.subject,
                                  self.work.when, effects))

    def set_status(self, issue: _Issue, new: str, conv: str | None, why: str) -> dict[str, Any]:
        old = issue.status
        effects: dict[str, Any] = {"status": [old, new]}
        issue.status = new
        issue.dirty = True
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
        issue = self.st.issues.get(action.issue)
        desc = markers.describe(action, self.prefix)
        if issue is None:
            self.result.errors.append(f"{self.prefix}-{action.issue}: no such issue")
            return
        if (issue.id, self.work.sha, action.action) in self.st.links:
            self.result.skipped.append(f"{desc} (already applied)")
            return
        if self.work.patch_id and (issue.id, self.work.patch_id, action.action) in self.st.patch_links:
            self.link(issue, "rewrite", action.steps, action.conversation_id,
                      {"of_action": action.action})
            self.result.skipped.append(f"{desc} (already applied as the same patch)")
            return
        missing = [n for n in action.steps if n not in issue.steps]
        if missing:
            have = f"1-{max(issue.steps)}" if issue.steps else "none"
            self.result.errors.append(
                f"{self.key(issue)}: no step {', '.join(map(str, missing))} (steps: {have})")
            return
        getattr(self, "_" + action.action)(issue, action)
        self.result.applied.append(desc)

    def _frozen(self, issue: _Issue, action: Action, kind: str) -> bool:
        if issue.status not in FROZEN:
            return False
        message = f"{action.action} ignored: {self.key(issue)} is {issue.status}"
        self.result.warnings.append(message)
        self.note(issue, kind, message, action.conversation_id)
        self.link(issue, action.action, action.steps, action.conversation_id, {"ignored": True})
        return True

    def _fix(self, issue: _Issue, action: Action) -> None:
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
                    issue.set_step(step, "complete")
                    step.completed_at = self.work.when
                    step.conversation_id = conv or step.conversation_id
            effects["steps"] = old_steps
            noun = "step" if len(action.steps) == 1 else "steps"
            self.note(issue, "fix_applied",
                      f"{noun} {', '.join(map(str, action.steps))} complete", conv)
            if issue.undone == 0 and issue.status in OPEN_STATES:
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

    def _progress(self, issue: _Issue, action: Action) -> None:
        if self._frozen(issue, action, "comment"):
            return
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        old_steps = {}
        for n in action.steps:
            step = issue.steps[n]
            if step.status == "pending":
                old_steps[str(n)] = step.status
                issue.set_step(step, "in_progress")
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

    def _ref(self, issue: _Issue, action: Action) -> None:
        conv = action.conversation_id
        self.note(issue, "comment", "referenced", conv)
        if conv:
            self.note(issue, "conversation_link", f"conversation {conv} linked", conv)
        self.link(issue, "ref", action.steps, conv, {})

    def _verify(self, issue: _Issue, action: Action) -> None:
        conv = action.conversation_id
        effects: dict[str, Any] = {}
        if issue.status == "fixed":
            effects["status"] = ["fixed", "verified"]
            issue.status = "verified"
            issue.dirty = True
            self.note(issue, "verification", "verified (fixed -> verified)", conv)
        else:
            message = f"verify ignored: {self.key(issue)} is {issue.status}, not fixed"
            self.result.warnings.append(message)
            self.note(issue, "verification", message, conv)
            effects["ignored"] = True
        self.link(issue, "verify", action.steps, conv, effects)

    def _reopen(self, issue: _Issue, action: Action) -> None:
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
                issue.set_step(step, "pending")
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
        rows = list(self.st.link_rows.get(target, []))
        same_patch = {r["patch_id"] for r in rows if r["patch_id"] and r["action"] == "rewrite"}
        if same_patch:
            rows += [r for sha, shas_rows in self.st.link_rows.items() if sha != target
                     for r in shas_rows if r["patch_id"] in same_patch
                     and r["action"] not in ("rewrite", "revert", "move")]
        if not rows:
            self.result.warnings.append(f"reverts {target[:10]}, which changed nothing in the tracker")
            return
        done: set[Any] = set()
        for row in rows:
            issue = self.st.by_id.get(row["issue_id"])
            if issue is None or row["action"] in ("revert", "move", "rewrite") \
                    or issue.id in done:
                continue
            done.add(issue.id)
            if (issue.id, self.work.sha, "revert") in self.st.links:
                self.result.skipped.append(f"revert of {target[:10]} on {self.key(issue)} "
                                           "(already applied)")
                continue
            self._undo(issue, target, [r for r in rows if r["issue_id"] == issue.id])

    def _undo(self, issue: _Issue, target: str, rows: list[dict[str, Any]]) -> None:
        steps_back: list[int] = []
        moved_status = False
        for row in rows:
            effects = row["effects"] or {}
            if effects.get("ignored"):
                continue
            for n in (effects.get("steps") or {}):
                step = issue.steps.get(int(n))
                if step is not None and step.status != "pending":
                    issue.set_step(step, "pending")
                    step.completed_at = None
                    steps_back.append(int(n))
            if effects.get("status"):
                moved_status = True
        why = f" (revert of {target[:10]})"
        effects_out: dict[str, Any] = {"of": target, "steps": sorted(steps_back)}
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
        self.result.applied.append(f"{self.key(issue)}: revert of {target[:10]}")

    # ------------------------------------------------------------------ moves

    def move(self, change: PathChange) -> None:
        old = norm_path(change.old_path or "")
        for issue in list(self.st.issues.values()):
            if issue.status not in OPEN_STATES or not issue.file_path:
                continue
            if norm_path(issue.file_path) != old:
                continue
            if issue.created_at is not None and \
                    int(issue.created_at.timestamp()) > self.work.committed_at:
                continue  # the issue was written against a later version of the file
            if (issue.id, self.work.sha, "move") in self.st.links:
                continue
            if self.work.patch_id and (issue.id, self.work.patch_id, "move") in self.st.patch_links:
                continue
            self._move_issue(issue, change)

    def _move_issue(self, issue: _Issue, change: PathChange) -> None:
        before = _where(issue)
        effects: dict[str, Any] = {"from": [issue.file_path, issue.line_start, issue.line_end]}
        report = None
        if change.status == "deleted":
            report = f"{issue.file_path} was deleted; location left as it was"
        else:
            if change.status == "renamed" and change.new_path:
                issue.file_path = change.new_path
                issue.dirty = True
            if issue.line_start and not change.binary and change.hunks:
                end = issue.line_end or issue.line_start
                moved = remap(issue.line_start, end, change.hunks)
                if moved is None:
                    report = (f"lines {issue.line_start}-{end} of {issue.file_path} were all "
                              "deleted; location left as it was")
                elif moved != (issue.line_start, end):
                    issue.line_start, issue.line_end = moved
                    issue.dirty = True
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


def _where(issue: _Issue) -> str:
    if issue.line_start:
        return f"{issue.file_path}:{issue.line_start}-{issue.line_end or issue.line_start}"
    return str(issue.file_path)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


# --------------------------------------------------------------------------- entry points


def apply(
    conn: psycopg.Connection[Any],
    works: Iterable[Work],
    settings: Settings,
    *,
    batch_size: int = 500,
    on_progress: Any = None,
) -> Report:
    """Apply commits oldest first, a batch per transaction; idempotent.

    A batch's writes and COMMIT are waited for in a thread while the next batch is read (git
    and the parser keep this one busy meanwhile); the next batch starts only once that
    COMMIT is answered, and a batch's results are reported only then."""
    report = Report()
    batch: list[Work] = []
    committing: _Committing | None = None

    def settle() -> None:
        """Wait for the batch in flight, if any, and report it."""
        nonlocal committing
        if committing is not None:
            committed, committing = committing, None
            report.commits += committed.wait()
            if on_progress:
                on_progress(len(committed.works))

    try:
        for work in works:
            report.read += 1
            if work.applied_before:
                report.commits.append(CommitResult(
                    work.sha, work.subject,
                    skipped=[f"{d} (already applied)" for d in work.applied_before]))
            if not work.needs_database:
                if on_progress:
                    on_progress(1)
                continue
            batch.append(work)
            if len(batch) >= batch_size:
                settle()
                committing = _apply_batch(conn, batch, settings)
                batch = []
        settle()
        if batch:
            committing = _apply_batch(conn, batch, settings)
            settle()
    finally:
        if committing is not None:  # reading failed: let the batch in flight finish first
            committing.wait(raise_error=False)
    return report


class _Committing:
    """A batch whose writes and COMMIT are on their way; wait() returns its results once the
    database has answered, or raises what it answered instead."""

    def __init__(self, works: Sequence[Work], results: list[CommitResult],
                 finish: Callable[[], None]) -> None:
        import threading

        self.works, self.results = works, results
        self.error: BaseException | None = None

        def run() -> None:
            try:
                finish()
            except BaseException as e:  # noqa: BLE001 - raised again by wait()
                self.error = e

        self.thread = threading.Thread(target=run, name="exai-git-commit", daemon=True)
        self.thread.start()

    def wait(self, *, raise_error: bool = True) -> list[CommitResult]:
        self.thread.join()
        if self.error is not None and raise_error:
            raise self.error
        return self.results


def _apply_batch(conn: psycopg.Connection[Any], works: Sequence[Work],
                 settings: Settings) -> _Committing:
    """Read and lock what the batch touches, work out its effects and send its writes; the
    COMMIT is waited for by the returned _Committing. Two round trips: the reads (with the row
    locks), then the writes with the commit."""
    from exai_git import store

    results = []
    with contextlib.ExitStack() as stack:  # a failure before the writes are sent rolls back
        stack.enter_context(store.pipelined(conn, settings))
        with conn.cursor() as cur:
            st = _load(conn, works)
            for work in works:
                result = CommitResult(work.sha, work.subject)
                applier = _Applier(st, work, result, settings.prefix)
                for action in merged_actions(work.actions):
                    applier.apply(action)
                for target in work.reverts:
                    applier.revert(target)
                for change in work.changes:
                    applier.move(change)
                results.append(result)
            _write(cur, st)
        commit = stack.pop_all()  # the COMMIT (the transaction's end) is _Committing's
    return _Committing(works, results, commit.close)


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


def _rows(rows: Sequence[Sequence[Any]]) -> str:
    """A batch of rows as one JSON array of arrays: one text parameter that the database
    unpacks (jsonb_array_elements), instead of a typed array per column that the driver would
    build element by element."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)  # UUID


def _write(cur: psycopg.Cursor[Any], st: _State) -> None:
    """Write a batch's outcome: one statement per table, each row set passed as one JSON
    parameter."""
    issues = [(i.id, i.status, i.fix_conversation_id, i.fix_date, i.file_path, i.line_start,
               i.line_end) for i in st.by_id.values() if i.dirty]
    if issues:
        cur.execute(
            "UPDATE exai_issues i SET status = u.v->>1, fix_conversation_id = u.v->>2,"
            " fix_date = (u.v->>3)::timestamptz, file_path = u.v->>4,"
            " line_start = (u.v->>5)::int, line_end = (u.v->>6)::int"
            " FROM jsonb_array_elements(%s::jsonb) AS u(v) WHERE i.id = (u.v->>0)::uuid",
            (_rows(issues),))
    steps = [(i.id, n, s.status, s.conversation_id, s.completed_at)
             for i in st.by_id.values() for n, s in i.steps.items() if s.dirty]
    if steps:
        cur.execute(
            "UPDATE exai_issue_checklist c SET status = u.v->>2, conversation_id = u.v->>3,"
            " completed_at = (u.v->>4)::timestamptz"
            " FROM jsonb_array_elements(%s::jsonb) AS u(v)"
            " WHERE c.issue_id = (u.v->>0)::uuid AND c.step_number = (u.v->>1)::int",
            (_rows(steps),))
    if st.updates:
        cur.execute(
            "INSERT INTO exai_issue_updates (issue_id, update_type, content, conversation_id,"
            " created_at)"
            " SELECT u.issue_id, u.kind, u.content, u.conv,"
            " coalesce(last.at, u.at) + make_interval(secs => u.seq * 1e-6)"
            " FROM (SELECT (v->>0)::uuid AS issue_id, v->>1 AS kind, v->>2 AS content,"
            "  v->>3 AS conv, (v->>4)::timestamptz AS at, (v->>5)::int AS seq, ord"
            "  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord)) u"
            # git dates commits to the second: an earlier commit's rows in the same second
            # stay before this one's
            " LEFT JOIN LATERAL (SELECT max(x.created_at) AS at FROM exai_issue_updates x"
            "  WHERE x.issue_id = u.issue_id AND x.created_at >= u.at"
            "  AND x.created_at < u.at + interval '1 second') last ON true"
            " ORDER BY u.ord", (_rows(st.updates),))
    if st.new_links:
        cur.execute(
            "INSERT INTO exai_commit_links (issue_id, commit_sha, patch_id, action, steps,"
            " conversation_id, repository, subject, committed_at, effects)"
            " SELECT (v->>0)::uuid, v->>1, v->>2, v->>3,"
            " (v->>4)::int[], v->>5, v->>6, v->>7,"
            " (v->>8)::timestamptz, v->9"
            " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord) ORDER BY ord"
            " ON CONFLICT ON CONSTRAINT exai_commit_links_once DO NOTHING",
            (_rows(st.new_links),))


# --------------------------------------------------------------------------- preview


@dataclass
class Check:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(conn: psycopg.Connection[Any], actions: Sequence[Action], settings: Settings) -> Check:
    """What applying actions would do wrong: unknown issues or steps (errors), actions that
    would do nothing or leave work behind (warnings). One round trip."""
    from exai_git import store

    numbers = sorted({a.issue for a in actions})
    if not numbers:
        return Check()
    with conn.cursor() as cur:
        with store.pipelined(conn, settings):
            cur.execute(
                "SELECT i.issue_number, i.status, coalesce(array_agg(c.step_number ORDER BY"
                " c.step_number) FILTER (WHERE c.step_number IS NOT NULL), '{}'),"
                " coalesce(array_agg(c.status ORDER BY c.step_number)"
                " FILTER (WHERE c.step_number IS NOT NULL), '{}')"
                " FROM exai_issues i LEFT JOIN exai_issue_checklist c ON c.issue_id = i.id"
                " WHERE i.issue_number = ANY(%s) GROUP BY i.issue_number, i.status",
                (numbers,))
        rows = {r[0]: (r[1], dict(zip(r[2], r[3]))) for r in cur.fetchall()}
    return check_known(rows, actions, settings)


def check_known(rows: Mapping[int, tuple[str, Mapping[int, str]]], actions: Sequence[Action],
                settings: Settings) -> Check:
    """check() against issues already read: {issue number: (status, {step: status})} holding
    every issue the actions name that exists."""
    out = Check()
    p = settings.prefix
    for a in merged_actions(actions):
        key = f"{p}-{a.issue}"
        if a.issue not in rows:
            out.errors.append(f"{key}: no such issue")
            continue
        status, steps = rows[a.issue]
        missing = [n for n in a.steps if n not in steps]
        if missing:
            have = f"1-{max(steps)}" if steps else "none"
            out.errors.append(f"{key}: no step {', '.join(map(str, missing))} (steps: {have})")
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
