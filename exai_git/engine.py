"""The semantics table of MARKERS.md as one pure function: (issues' state, commits' work) ->
effects. No database, no git, no I/O: store.load_state reads a State, apply() works out the
Effects in memory, store.write_effects writes them (apply.py runs the three).

Every link a commit makes records, in `effects`, what it changed (see Link), and stays in
force until undone. Undoing restores exactly what the link recorded, from that record and the
current state alone, so a revert, a commit that left every tracked branch, and markers that a
rewrite dropped are the same pure step; undoing a revert applies again what it undid.
The per-action rules are in rules.py.
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
    Report,
    State,
    Step,
    Update,
    Work,
)
from exai_git.rules import (
    DONE_STEP,
    FROZEN,
    NOT_WORK,
    OPEN_STATES,
    Applier,
    aside,
    from_iso,
    merge_effects,
    missing_steps,
    moved,
)

__all__ = ["FROZEN", "Check", "CommitResult", "Effects", "Issue", "Link", "Report",
           "State", "Step", "Update", "Work", "apply", "check_known", "merged_actions", "undo",
           "undo_link_rows"]


# --------------------------------------------------------------------------- entry points


def apply(state: State, works: Sequence[Work], prefix: str = "EXAI", *,
          progress_only: bool = False) -> Effects:
    """The effects of applying works in order on state (which is left as it was). A work
    that left undoes its links; one equivalent to an earlier commit is compared with it;
    progress_only (or a work's own flag): on a branch that is not tracked, only progress
    counts and the rest is held."""
    issues = {n: i.copy() for n, i in state.issues.items()}
    applier = _Rewinder(issues, state.links, prefix)
    for work in works:
        if progress_only and not work.progress_only:
            work = dataclasses.replace(work, progress_only=True)
        if work.patch_id and work.actions and not work.equivalent_of and work.left is None:
            # the same patch already applied, git could not tell more: only adds (a rewrite
            # that drops markers is undone by reconciliation, which sees both commits)
            same = applier.same_patch(work.patch_id, work.sha)
            if same:
                work = dataclasses.replace(work, equivalent_of=same, only_adds=True)
        applier.start(work)
        if work.left is not None:
            applier.leave(work.left)
            continue
        if work.equivalent_of:
            applier.equivalent(work.equivalent_of, work.only_adds)
        else:
            for action in merged_actions(work.actions):
                applier.apply(action)
        if not work.progress_only:
            for target in work.reverts:
                applier.revert(target)
    return _effects(state, issues, applier.out)


def _effects(state: State, issues: Mapping[int, Issue], out: Effects) -> Effects:
    """out with the issue fields and steps that differ between state and issues."""
    import dataclasses

    for number, new in issues.items():
        old = state.issues[number]
        if dataclasses.replace(new, steps={}) != dataclasses.replace(old, steps={}):
            out.issues.append(dataclasses.replace(new, steps={}))
        out.steps += [(new.id, n, s) for n, s in new.steps.items() if s != old.steps.get(n)]
    return out


def undo(state: State, links: Sequence[Link], by: Work, why: str,
         prefix: str = "EXAI") -> Effects:
    """The effects of taking back the links given (those in force), on account of `by` (why
    says so in the update rows, e.g. "left main"), newest first per issue."""
    issues = {n: i.copy() for n, i in state.issues.items()}
    applier = _Rewinder(issues, [*state.links, *links], prefix)
    applier.start(by)
    for issue_id in dict.fromkeys(lk.issue_id for lk in links):
        issue = applier.by_id.get(issue_id)
        rows = [applier.links[lk.key] for lk in links if lk.issue_id == issue_id]
        if issue is not None:
            applier.undo_all(issue, [r for r in rows if r.in_force], why)
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
    """The links in force whose work a revert of target takes back: target's own (work and
    revert links), and those moved from it to an equivalent commit."""
    rows = [lk for lk in links if lk.in_force and lk.action not in ("move", "rewrite")
            and (lk.sha == target or target in _was(lk))]
    # a commit that only repeated another's markers (a cherry-pick) undoes that one's
    same = {(lk.issue_id, lk.effects.get("of_action"), sha) for lk in links
            if lk.sha == target and lk.action == "rewrite" and lk.in_force
            for sha in lk.effects.get("same_as") or ()}
    return rows + [lk for lk in links if lk.in_force and (lk.issue_id, lk.action, lk.sha) in same]


def _was(link: Link) -> list[str]:
    was = (link.effects or {}).get("was") or []
    return [was] if isinstance(was, str) else list(was)


# --------------------------------------------------------------------------- taking back


class _Rewinder(Applier):
    """Applier plus what takes work back: leaving, reverts, and rewrites compared."""

    def work_links(self, sha: str) -> list[Link]:
        return [lk for lk in self.links.values()
                if lk.sha == sha and lk.in_force and lk.action not in ("move", "rewrite")]

    def same_patch(self, patch_id: str, sha: str) -> tuple[str, ...]:
        found = (self.links[k] for k in self.by_patch.get(patch_id, ()))
        return tuple(dict.fromkeys(
            lk.sha for lk in found if lk.patch_id == patch_id and lk.sha != sha
            and lk.in_force and lk.action not in NOT_WORK))

    def leave(self, why: str) -> None:
        """The commit left every tracked branch: undo its links in force."""
        rows = self.work_links(self.work.sha)
        for issue_id in dict.fromkeys(lk.issue_id for lk in rows):
            issue = self.by_id.get(issue_id)
            if issue is not None:
                self.undo_all(issue, [r for r in rows if r.issue_id == issue_id],
                              f"{self.work.short} {why}")
                self.result.applied.append(f"{self.key(issue)}: undone{aside(why)}")

    def revert(self, target: str) -> None:
        rows = [r for r in undo_link_rows(list(self.links.values()), target)
                if r.key not in self.this_work]
        if not rows:
            if any(lk.sha == target for lk in self.links.values()):
                self.result.skipped.append(f"revert of {target[:10]} (already undone)")
            else:
                self.result.warnings.append(
                    f"reverts {target[:10]}, which changed nothing in the tracker")
            return
        for issue_id in dict.fromkeys(lk.issue_id for lk in rows):
            issue = self.by_id.get(issue_id)
            if issue is None:
                continue
            before = issue.status, {n: st.status for n, st in issue.steps.items()}
            self.undo_all(issue, [r for r in rows if r.issue_id == issue_id],
                          f"revert of {target[:10]}")
            self.link(issue, "revert", (), None, {"of": target})
            self.result.applied.append(f"{self.key(issue)}: revert of {target[:10]}"
                                       f"{moved(before, issue)}")

    def equivalent(self, earlier: Sequence[str], only_adds: bool) -> None:
        """This commit is the same work as `earlier`: its latest message decides. Markers
        kept move their links here (no new rows), added ones are applied, dropped or
        weakened ones are undone, unless this commit only adds (a cherry-pick)."""
        w, e = self.work, ", ".join(sha[:10] for sha in earlier)
        old: dict[tuple[Any, str], list[Link]] = {}
        for sha in earlier:
            for lk in self.work_links(sha):
                if lk.action not in NOT_WORK:
                    old.setdefault((lk.issue_id, lk.action), []).append(lk)
        actions = merged_actions(w.actions)
        if not only_adds:  # dropped first: what is kept or added applies on what they leave
            kept = {(self.issues[a.issue].id, a.action) for a in actions
                    if a.issue in self.issues and not (w.progress_only and a.action != "progress")}
            for (issue_id, action), prev in old.items():
                issue = self.by_id.get(issue_id)
                if issue is None or (issue_id, action) in kept:
                    continue
                what = ", ".join(_describe(lk, issue, self.prefix) for lk in prev)
                self.undo_all(issue, prev, f"{e} rewritten as {w.short}: {what} dropped")
                self.result.applied.append(f"{what}: undone (dropped when {e} was rewritten)")
        for a in actions:
            issue = self.issues.get(a.issue)
            prev = old.get((issue.id, a.action), []) if issue is not None else []
            if issue is None or not prev or (w.progress_only and a.action != "progress"):
                self.apply(a)
                continue
            desc = markers.describe(a, self.prefix)
            if self.in_force((issue.id, w.sha, a.action)) is not None:
                self.result.skipped.append(f"{desc} (already applied)")
                continue
            have, want = _scope(a.action, [lk.steps for lk in prev]), _scope(a.action, [a.steps])
            if want == have or (only_adds and want <= have):
                if not only_adds:
                    self.relink(prev)
                elif self.in_force((issue.id, w.sha, "rewrite")) is None:
                    # bookkeeping only: a revert of this commit undoes the earlier one's work
                    self.link(issue, "rewrite", a.steps, a.conversation_id,
                              {"of_action": a.action, "same_as": [lk.sha for lk in prev]})
                self.result.skipped.append(f"{desc} (same work as {e})")
            elif want > have or only_adds:
                if not only_adds:
                    self.relink(prev)
                extra = Action(a.issue, a.action, tuple(sorted(want - have - {WHOLE})),
                               a.conversation_id)
                self.do(issue, extra, markers.describe(extra, self.prefix))
            else:
                what = ", ".join(_describe(lk, issue, self.prefix) for lk in prev)
                self.undo_all(issue, prev, f"{e} rewritten as {w.short}: {what} replaced")
                self.do(issue, a, desc)

    def relink(self, prev: Sequence[Link]) -> None:
        """Move links to this commit (same markers): no new update rows. Several links of
        one issue and action (a rebase squashed their commits) become one."""
        w = self.work
        for lk in sorted(prev, key=lambda lk: lk.committed_at or dt.datetime.min.replace(
                tzinfo=dt.UTC)):
            effects = {**lk.effects, "was": [*_was(lk), lk.sha]}
            new = Link(lk.issue_id, w.sha, w.patch_id, lk.action, lk.steps, effects,
                       lk.conversation_id, w.repository or lk.repository, w.subject, w.when)
            earlier = self.in_force(new.key)
            if earlier is not None and new.key in self.this_work:
                new = dataclasses.replace(
                    earlier, steps=tuple(sorted(set(earlier.steps) | set(lk.steps))),
                    effects={**merge_effects(earlier.effects, effects),
                             "was": [*earlier.effects.get("was", []), *effects["was"]]})
            self.mark_undone(lk, f"rewritten as {w.short}")
            self.this_work.add(new.key)
            self.put(new)

    def undo_all(self, issue: Issue, rows: Sequence[Link], why: str,
                 by: str | None = None) -> None:
        """Take back rows (links in force to issue), newest first: a work link's recorded
        effects are restored; a revert's undoing is taken back (what it undid applies
        again). Each is marked undone by `by` (default: the work being applied); why, the
        reason, ends each update row as an aside (see rules.aside)."""
        why = aside(why)
        changed = False
        for row in reversed(rows):
            self.mark_undone(row, why, by)
            if row.action == "revert":
                changed |= self.unrevert(issue, row.sha, why)
            else:
                changed |= self.restore(issue, row, why)
        if not changed:
            self.note(issue, "comment", f"{', '.join(r.action for r in rows)} undone{why}",
                      None)

    def unrevert(self, issue: Issue, sha: str, why: str) -> bool:
        """The revert `sha` no longer counts: the work links it undid apply again, and a
        revert it undid (sha reverted a revert) counts again, undoing its target anew."""
        found = False
        for lk in list(self.links.values()):
            if lk.issue_id != issue.id or lk.undone_by != sha or lk.action in ("move", "rewrite"):
                continue
            if lk.action == "revert":
                self.put(dataclasses.replace(lk, undone_by=None, undone_why=None))
                target = (lk.effects or {}).get("of")
                rows = [r for r in undo_link_rows(list(self.links.values()), str(target))
                        if r.issue_id == issue.id] if target else []
                if rows:
                    self.undo_all(issue, rows, why, by=lk.sha)
                    found = True
                continue
            self.base = lk
            try:
                action = Action(issue.number, lk.action, lk.steps, lk.conversation_id)
                found |= self.do(issue, action, markers.describe(action, self.prefix)
                                 + f" (again: {lk.sha[:10]})")
            finally:
                self.base = None
        return found

    def restore(self, issue: Issue, row: Link, why: str) -> bool:
        """Put back what row recorded, where the state still shows its change."""
        eff = row.effects or {}
        if eff.get("ignored"):
            return False
        back: dict[str, list[int]] = {}
        for n, old in (eff.get("steps") or {}).items():
            step = issue.steps.get(int(n))
            if step is None or step.status == old:
                continue
            self.set_step(issue, step, old)
            if old != "complete":
                step.completed_at = None
            back.setdefault(old, []).append(int(n))
        for old, ns in back.items():
            self.note(issue, "comment",
                      f"step(s) {', '.join(map(str, sorted(ns)))} back to {old}{why}", None)
        status = eff.get("status")
        if not status or issue.status != status[1]:
            return bool(back)
        target = status[0]
        started = any(s.status in ("complete", "in_progress") for s in issue.steps.values())
        if target == "open" and started:
            target = "in_progress"
        if target == issue.status:
            return bool(back)
        old_status, issue.status = issue.status, target
        fix = eff.get("fix")
        if fix:
            issue.fix_conversation_id, issue.fix_date = fix[0], from_iso(fix[1])
        elif target in OPEN_STATES:
            issue.fix_conversation_id, issue.fix_date = None, None
        self.note(issue, "status_change", f"{old_status} -> {target}{why}", None)
        return True


WHOLE = 0  # in a fix's scope: the whole issue (no step is numbered 0)


def _scope(action: str, steps: Sequence[Sequence[int]]) -> set[int]:
    """What markers of one action cover, to compare a rewrite with: their steps, and for a
    fix that names none, WHOLE (fixing the issue is not less than fixing a step of it)."""
    out = {n for s in steps for n in s}
    if action == "fix" and any(not s for s in steps):
        out.add(WHOLE)
    return out


def _describe(link: Link, issue: Issue, prefix: str) -> str:
    """A link's marker, as an undo's reason names it (no aside of its own: no "(comment)")."""
    if link.action == "ref":
        return f"{prefix}-{issue.number}: reference"
    return markers.describe(Action(issue.number, link.action, link.steps), prefix)


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
        missing = missing_steps(a, steps)
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
