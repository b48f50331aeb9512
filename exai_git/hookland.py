"""The hooks' side of landing (MARKERS.md "When a commit counts"): every hook reconciles
through reconcile.reconcile, with the hints its name and arguments give (pre-push: what it
sends, with apply_on = "push"); a clone's first hook records where it starts; a post-commit
with nothing to apply records the new head without the database; the native hooks' shell
test is left the refs as reconciled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from exai_git import hookstate, landstate

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.model import Report
    from exai_git.repo import Commit, Repo

Say = Callable[[str], None]


def say_err(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


def land(repo: Repo, settings: Settings, hook: str | None, *, before: str | None = None,
         rewrites_stdin: str | None = None, pushes: Sequence[tuple[str, str, str, str]] = (),
         say: Say = say_err, head: Commit | None = None) -> Report | None:
    """Landing is reconciliation (MARKERS.md): bring the tracker up to the tracked branches
    (the remote-tracking ones with apply_on = "push"); the hook's name and arguments are
    hints, pushes pre-push's refs sent to origin. When nothing moved: no database, unless
    older work waits in the queue (replayed first, as every hook does). Then leave the native
    hooks' shell test the refs as reconciled, so the next hook with nothing to do starts no
    Python. head: the commit HEAD names (post-commit reads it once, for all of this)."""
    from exai_git.apply import apply_or_queue
    from exai_git.reconcile import reconcile

    if hook == "post-commit" and _only_head_landed_with_nothing_to_apply(repo, settings, head):
        hookstate.remember_refs(repo, settings)
        return None
    report = reconcile(repo, settings, hook=hook, before=before, rewrites_stdin=rewrites_stdin,
                       pushes=pushes, say=say, head=head)
    if report is None and _queued(repo):
        report = apply_or_queue(repo, [], settings, say)
    hookstate.remember_refs(repo, settings)
    return report


def start_point(repo: Repo, settings: Settings, say: Say = say_err) -> None:
    """A clone with no recorded heads starts where it is now (pre-commit, install): nothing
    before it is applied. Cheap: one for-each-ref, never the database (recorded: nothing)."""
    if landstate.load_heads(repo.common_dir) is None:
        from exai_git.reconcile import reconcile

        reconcile(repo, settings, hook=None, say=say)


def note_squash(repo: Repo, say: Say) -> None:
    """Remember what a `merge --squash` staged, for the commit that follows (record_squash)."""
    from exai_git.errors import ExaiError

    if not (repo.git_dir / "SQUASH_MSG").exists() and not landstate.squash_recorded(repo):
        return  # the usual commit: no squash staged, none remembered
    try:
        record_squash(repo)
    except ExaiError as e:  # never refuses a commit: the squashed markers are then not carried
        say(f"EXAI: warning: could not record the squashed commits ({e})")


def record_squash(repo: Repo) -> list[str]:
    """Remember, for the checked-out branch, the commits a `merge --squash` has staged, so
    the next commit on it carries their markers (landstate.take_squash in post-commit); forget
    a squash abandoned since (reset: no SQUASH_MSG any more). post-merge calls it with the
    squash flag; commit-msg on every commit (SQUASH_MSG is gone by post-commit), which also
    covers a conflicted squash, where post-merge never runs."""
    from exai_git import landing
    from exai_git import repo as git

    ref = git.head_ref(repo)
    branch = ref[len(landing.HEADS):] if ref else "HEAD"
    commits = git.squash_pending(repo)
    base = git.rev_parse_optional(repo, "HEAD") or landing.ZERO
    if commits or landstate.squash_recorded(repo):
        landstate.record_squash(repo.common_dir, branch, base, commits)
    return commits


def _only_head_landed_with_nothing_to_apply(repo: Repo, settings: Settings,
                                            head: Commit | None = None) -> bool:
    """post-commit's cheap path, before the reconciliation (which would load the database
    driver for any commit that changes files): the new commit is all that moved, on a tracked
    branch, and has nothing to apply or move (no marker or revert in its message, the
    pre-commit scan of its change found no open issue on its files, no squash to carry,
    nothing queued). Then its head is recorded here, under the reconciliation's lock. Never
    with apply_on = "push": a commit lands there when a push or a fetch brings it."""
    from exai_git import repo as git
    from exai_git.msgcheck import parse_message
    from exai_git.reconcile import clone_lock

    if settings.apply_on == "push" or landstate.load_heads(repo.common_dir) is None or \
            git.squash_pending(repo) or landstate.squash_recorded(repo) or _queued(repo, True):
        return False
    head = head or repo.commit("HEAD")
    parsed = parse_message(head.message, settings, None)
    if parsed.actions or parsed.reverts or len(head.parents) != 1:
        return False
    if not hookstate.scan_said_nothing(repo, hookstate.changes_key(repo.changes_of(head))):
        return False
    with clone_lock(repo.common_dir) as got:
        if not got:
            return False
        plan = git.landing_plan(repo, settings.branches or None)
        if plan.landed != (head.sha,) or plan.left or plan.main_line is None:
            return False
        landstate.save_heads(repo.common_dir, plan.heads)
    return True


def _queued(repo: Repo, unreadable: bool = False) -> bool:
    """Work waits in the queue; unreadable (locked by another process) as given: the next
    hook, or `exai-git sync`, replays it."""
    from exai_git.hooks import outbox
    from exai_git.outbox import OutboxError

    try:
        return outbox(repo).count() > 0
    except OutboxError:
        return unreadable
