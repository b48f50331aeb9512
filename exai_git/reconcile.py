"""Landing is reconciliation (MARKERS.md, "When a commit counts"): the one function every
hook, `status`, `sync` and `apply` calls. It compares the tracked branches with the heads
this clone has applied through (repo.landing_plan), applies what landed, oldest first, undoes
what left, and records the new heads once the work is applied or durably queued. When the
main line moved, the open issues' locations move with it (locations.LocationMove), in the
transaction that applies the work. `apply --branch` (branch.py) is CI's counterpart.

When nothing moved (and no location move is pending) it returns at once: no database, no
psycopg import."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.landing import Equivalent, Plan
    from exai_git.model import Report, Work
    from exai_git.repo import Commit, Repo

Say = Callable[[str], None]
LOCK_WAIT = 1.0  # seconds: a hook never waits longer for another one in the same clone
MAX_CANDIDATES = 5000  # commits a left commit's equivalent is looked for among


def reconcile(repo: Repo, settings: Settings, *, hook: str | None, before: str | None = None,
              rewrites_stdin: str | None = None, pushes: Sequence[tuple[str, str, str, str]] = (),
              say: Say, head: Commit | None = None) -> Report | None:
    """Bring the tracker up to this clone's tracked branches. hook: the hook that runs it
    (None for commands); before: the rev the checked-out branch was at before the event
    (HEAD^ in post-commit, ORIG_HEAD in post-merge), used by a clone's first run only;
    rewrites_stdin: post-rewrite's old->new lines. Returns None when nothing moved (and no
    held progress was applied), else what was applied (empty when it was queued).

    With apply_on = "push" the tracked branches are the remote-tracking ones (origin/main):
    a local commit is held until a push or a fetch brings it there. pushes: pre-push's lines
    for a push to origin: the plan is against the refs as they will be once it succeeds, and
    those heads are recorded as pushed; a reconciliation that finds a ref not moved there
    undoes what the push brought, saying the push was refused. head: the commit HEAD names,
    when the caller has read it (post-commit)."""
    from exai_git import landing, landstate
    from exai_git import repo as git
    from exai_git.repo.landing import not_taken

    push_mode = settings.apply_on == "push"
    with clone_lock(repo.common_dir) as got:
        if not got:
            say("EXAI: another exai-git is reconciling this clone; it will apply what landed")
            return None
        plan = git.landing_plan(repo, settings.branches or None, before=before,
                                remote_only=push_mode, pushes=pushes if push_mode else ())
        pushed = landstate.pushed_heads(repo.common_dir) if push_mode else {}
        sent = {r: s for r, s in landing.pushed_refs(pushes).items() if plan.heads.get(r) == s}
        held = (_held_progress(repo, settings, plan.heads, head, say)
                if hook == "post-commit" else [])
        if plan.main_line is None:
            # no commit at all: nothing to say, and nothing recorded (the first run with a
            # commit says it, if `branches` names no branch there is)
            if plan.started and (head is not None or repo.has_head()):
                say("EXAI: no tracked branch exists (setting `branches`); nothing is applied")
                landstate.save_heads(repo.common_dir, plan.heads)
            return None
        if plan.started:
            # where the main line starts: as it is (install, pre-commit), else where it was
            # before the event (post-commit: HEAD^); None: it had no commit, all of it lands
            ref = plan.main_line[1]
            start = plan.moved.get(ref, (plan.heads.get(ref), None))[0]
            if start is not None:
                at = start[:10]
                say(f"EXAI: this clone now follows its tracked branches from {at}; {at} and "
                    f"the commits before it are not applied: backfill them with `exai-git "
                    f"apply A..{at}` (the commits after A; `exai-git apply A` for A itself)")
            if plan.nothing:
                landstate.save_heads(repo.common_dir, plan.heads)
        pending = landstate.locations_from(repo.common_dir)
        if plan.nothing and not held and pending is None:
            if pushed != sent and push_mode:  # seen: the pushes were taken, or are again
                landstate.save_pushed_heads(repo.common_dir, sent)
            return None
        branch = plan.main_line[0]
        works = landed_works(repo, settings, plan.landed, plan.left,
                             branch=f"{landing.REMOTE}/{branch}" if push_mode else branch,
                             rewrite_map=git.rewrites(repo, rewrites_stdin), heads=plan.heads,
                             head=head)
        refused = not_taken(repo, pushed, plan.heads) if pushed and plan.left else {}
        works = [dataclasses.replace(w, left=f"left {refused[w.sha].removeprefix('refs/remotes/')}"
                                     " (the push was refused, or it was reset since)")
                 if w.left and w.sha in refused else w for w in works]
        move = _location_move(plan, pending)
        report = _apply_or_queue(repo, [*works, *held], settings, say, move)
        landstate.save_heads(repo.common_dir, plan.heads)
        if push_mode:
            landstate.save_pushed_heads(repo.common_dir, sent)
        return report


@dataclasses.dataclass
class _LocationMove:
    """The main line's move whose issue locations this reconciliation moves: from old (the
    head before the first move not applied yet; None: no main line then) to new (None: the
    main line is gone, nothing to move to); anchor: the head unanchored issues are anchored at
    on the clone's first run (plan.started), else None."""

    old: str | None
    new: str | None
    anchor: str | None
    done: bool = False


def _location_move(plan: Plan, pending: tuple[str | None] | None) -> _LocationMove | None:
    """What the locations need (MARKERS.md v2, "Locations"), or None: the main line did not
    move, nothing is pending and the clone did not just start."""
    assert plan.main_line is not None
    current = plan.heads.get(plan.main_line[1])
    move = plan.main_line_move
    before = move[0] if move else current  # the main line's head before this reconciliation
    anchor = before if plan.started else None
    if move is None and pending is None:
        return None if anchor is None else _LocationMove(current, current, anchor)
    old = pending[0] if pending is not None else before
    return _LocationMove(old, current, anchor)


def landed_works(repo: Repo, settings: Settings, landed: Sequence[str], left: Sequence[str], *,
                 branch: str, rewrite_map: dict[str, str], heads: Mapping[str, str],
                 head: Commit | None = None) -> list[Work]:
    """The works of one reconciliation, in the order they apply: commits that left with no
    equivalent still on a tracked branch (undone, newest first), the landed ones (oldest
    first; each compared with the commit it is the same work as), then left commits whose
    equivalent is still on a tracked branch (the latest message there decides). As many git
    calls for thousands of commits as for one: one `git log`, one `git patch-id`, one walk.
    head: the commit HEAD names, when the caller has read it (else git is asked)."""
    from exai_git import repo as git
    from exai_git.apply import parse_commit, work_for
    from exai_git.repo.landing import read_commits

    commits = read_commits(repo, [*landed, *left])
    # each left commit's equivalent among those that landed (git's rewrite mapping runs old
    # to new); a landed commit may be several left ones squashed (rebase -i)
    landed_eq: dict[str, list[str]] = {}
    for old, eq in git.equivalents(repo, list(reversed(left)), list(landed),
                                   rewrite_map).items():
        landed_eq.setdefault(eq.sha, []).append(old)
    replaced = {old for olds in landed_eq.values() for old in olds}
    rest = [sha for sha in left if sha not in replaced]
    kept = _still_there(repo, [commits[sha] for sha in rest], landed, heads, rewrite_map)
    works: list[Work] = []
    for sha in rest:
        if sha not in kept:
            c = commits[sha]
            works.append(leaving(c.sha, c.subject, c.committed_at, branch))
    landed_set = set(landed)
    parsed = {sha: parse_commit(commits[sha].message, settings) for sha in landed}
    pids = repo.patch_ids([sha for sha in landed if len(commits[sha].parents) <= 1
                           and (parsed[sha].actions or parsed[sha].reverts)])
    origins = {sha: _named_origin(commits[sha].message, rewrite_map, sha, landed_set)
               for sha in landed if sha not in landed_eq}
    reachable = _reachable(repo, [o for o in origins.values() if o is not None], heads)
    head_sha = head.sha if head is not None else git.rev_parse_optional(repo, "HEAD")
    for sha in landed:
        commit = commits[sha]
        # an empty commit has no patch-id: "" keeps work_for from asking git again
        work = work_for(repo, commit, settings, parsed=parsed[sha], patch_id=pids.get(sha, ""))
        work = dataclasses.replace(work, patch_id=work.patch_id or None)
        if sha == head_sha and commit.parents:
            work = _with_squashed(repo, settings, work, commit.parents[0])
        olds = landed_eq.get(sha)
        origin = origins.get(sha)
        if olds:
            work = dataclasses.replace(work, equivalent_of=tuple(reversed(olds)),
                                       only_adds=False)
        elif origin is not None:
            work = dataclasses.replace(work, equivalent_of=(origin,),
                                       only_adds=origin in reachable)
        works.append(work)
    now = read_commits(repo, [eq.sha for eq in kept.values()])
    for sha, eq in kept.items():
        work = work_for(repo, now[eq.sha], settings)
        works.append(dataclasses.replace(work, equivalent_of=(sha,), only_adds=False))
    return works


def leaving(sha: str, subject: str, committed_at: int, branch: str,
             why: str = "rewritten or reset") -> Work:
    from exai_git.model import Work

    return Work(sha, subject, committed_at, left=f"left {branch} ({why})")


def _named_origin(message: str, rewrite_map: dict[str, str], sha: str,
                  landed: set[str]) -> str | None:
    """The earlier commit this one says (cherry-pick line) or git says (rewrite) it is the
    same work as, when that one did not land with it."""
    from exai_git.landing import cherry_picked_from

    for origin in cherry_picked_from(message):
        if origin != sha and origin not in landed:
            return origin
    for old, new in rewrite_map.items():
        if new == sha and old not in landed:
            return old
    return None


def _reachable(repo: Repo, shas: Sequence[str], heads: Mapping[str, str]) -> set[str]:
    """Those of shas the heads reach (one walk; a commit git does not have counts as
    reached, as it cannot be shown otherwise)."""
    from exai_git import repo as git

    if not heads or not shas:
        return set()
    return set(shas) - set(git.rev_list(repo, list(dict.fromkeys(shas)), list(heads.values())))


def _still_there(repo: Repo, left: Sequence[Commit], landed: Sequence[str],
                 heads: Mapping[str, str], rewrite_map: dict[str, str]) -> dict[str, Equivalent]:
    """Those of left whose equivalent is still on a tracked branch (not one that just landed:
    those are compared as they land), looked for among the commits since where they left."""
    from exai_git import repo as git

    if not left or not heads:
        return {}
    parents = [p for c in left for p in c.parents]
    landed_set = set(landed)
    candidates = [c for c in git.rev_list(repo, list(heads.values()), parents)
                  if c not in landed_set][-MAX_CANDIDATES:]
    return git.equivalents(repo, [c.sha for c in left], candidates, rewrite_map)


def _with_squashed(repo: Repo, settings: Settings, work: Work, parent: str) -> Work:
    """The commit that follows a `merge --squash` carries the squashed commits' markers."""
    import dataclasses

    from exai_git import landing, landstate
    from exai_git.apply import parse_commit
    from exai_git.repo import head_ref

    if not landstate.squash_recorded(repo):
        return work  # the usual commit: no squash remembered for any branch
    ref = head_ref(repo)
    name = ref[len(landing.HEADS):] if ref else "HEAD"
    squashed = landstate.take_squash(repo.common_dir, name, parent)
    if not squashed:
        return work
    extra = [a for sha in squashed
             for a in parse_commit(repo.commit(sha).message, settings).actions]
    return dataclasses.replace(work, actions=(*work.actions, *extra))


def _held_progress(repo: Repo, settings: Settings, tracked: Mapping[str, str],
                   head: Commit | None = None, say: Say | None = None) -> list[Work]:
    """A commit on a branch that is not tracked: its progress markers count at once, the rest
    is held until it lands (said in one line). An amend of a commit whose progress counted is
    the same work (HEAD's reflog says), even with no progress left: what it dropped is undone.
    head: the commit HEAD names, when the caller has read it."""
    import dataclasses

    from exai_git import repo as git
    from exai_git.apply import parse_commit, work_for
    from exai_git.landing import amend_rewrites

    if head is None and not repo.has_head():
        return []
    commit = head if head is not None else repo.commit("HEAD")
    if commit.sha in tracked.values():
        return []  # the head of a tracked branch (a commit on the main line): it landed
    ref = git.head_ref(repo)
    if ref is None or ref in tracked or _reachable(repo, [commit.sha], tracked):
        return []
    parsed = parse_commit(commit.message, settings)
    waiting = [a for a in parsed.actions if a.action != "progress"]
    if waiting and say is not None:
        from exai_git.markers import describe

        until = "it is pushed" if settings.apply_on == "push" else "it lands on a tracked branch"
        say(f"EXAI: {commit.sha[:10]} held until {until}: "
            + "; ".join(describe(a, settings.prefix) for a in waiting))
    replaced = [old for old, new in amend_rewrites(git.head_reflog(repo, 20)).items()
                if new == commit.sha]
    if not any(a.action == "progress" for a in parsed.actions):
        replaced = [old for old in replaced if any(
            a.action == "progress"
            for a in parse_commit(repo.commit(old).message, settings).actions)]
        if not replaced:
            return []
    work = work_for(repo, commit, settings, parsed=parsed)
    return [dataclasses.replace(work, progress_only=True, reverts=(),
                                equivalent_of=tuple(replaced))]


def _apply_or_queue(repo: Repo, works: list[Work], settings: Settings, say: Say,
                    move: _LocationMove | None) -> Report:
    """Apply works (or queue them) and move the issue locations in the same transaction as
    the last of them (locations.LocationMove): BEGIN, the locks and reads, then the writes
    and COMMIT, two round trips. A move the tracker did not take is not queued: its start is
    kept (landstate.save_locations_from) and the next reconciliation that reaches the tracker
    moves them from there (issues with an anchor carry their own start)."""
    from exai_git import landstate
    from exai_git.apply import apply_or_queue
    from exai_git.locations import LocationMove
    from exai_git.model import Report

    if move is None:
        return apply_or_queue(repo, works, settings, say) or Report()
    try:
        moving = move.new is not None and move.old != move.new
        mover = LocationMove(repo, move.old, move.new if moving else None, settings.prefix,
                             anchor=move.anchor)
        report = apply_or_queue(repo, works, settings, say, finish=mover)
        move.done = report is not None
        for line in mover.report() if move.done else ():
            say(f"EXAI: {line}")
        return report or Report()
    finally:
        # set on the first move not done, kept over later ones, cleared once one is done
        landstate.save_locations_from(repo.common_dir, None if move.done else (move.old,))


@contextlib.contextmanager
def clone_lock(common_dir: Path) -> Iterator[bool]:
    """The clone's reconciliation lock: an exclusive flock on a file in the git common dir,
    waited for LOCK_WAIT at most; yields whether it was taken."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): git's own ref locks are all there is
        yield True
        return
    path = common_dir / "exai-git" / "reconcile.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.02)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
