"""One function per git hook, and the scan behind them: thin glue over repo, scanner, store,
the landing hooks (hookland), the outbox and the hooks' state files (hookstate). The
commit-msg hook and the message checks are in msgcheck.

A hook never loses work and never blocks a commit because the database is slow or down:
it says so in one line and queues the work; the next hook run or `exai-git sync` replays it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exai_git import hookstate
from exai_git.errors import EXIT_DB_UNREACHABLE, ExaiError, NoTracker
from exai_git.hookland import land, note_squash, start_point

if TYPE_CHECKING:

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.outbox import Outbox
    from exai_git.repo import Repo
    from exai_git.scanner import Finding

Say = Callable[[str], None]
ZERO = "0" * 40


def say_err(line: str) -> None:
    print(line, file=sys.stderr)


def outbox(repo: Repo) -> Outbox:
    """The repository's queue of work the database could not take yet."""
    from exai_git.outbox import Outbox

    return Outbox(hookstate.state_dir(repo) / "outbox.sqlite3")


# --------------------------------------------------------------------------- scanning


@dataclass
class ScanResult:
    findings: list[Finding]
    paths: list[str]
    diff_key: str
    issues_on_paths: int = 0  # open issues on the changed files, touched or not
    # the issues the scan read: number -> (status, {step: status}), for commit-msg's check
    read: dict[int, tuple[str, dict[int, str]]] = field(default_factory=dict)
    base: str | None = None  # the commit compared against, when the scan read the database


def scan(repo: Repo, settings: Settings, target: str | None, *,
         use_path_cache: bool = False) -> ScanResult:
    """Findings for the staged change (target None) or a revision / A..B range."""
    from exai_git import scanner

    changes, key = _changes_for(repo, target)
    paths = scanner.paths_of(changes)
    if not paths:
        return ScanResult([], paths, key)
    cache = hookstate.IssuePaths(repo, settings) if target is None and use_path_cache else None
    known = cache.load() if cache is not None else None
    if known is not None and known.isdisjoint(paths):
        return ScanResult([], paths, key)  # no open issue on these files: no database
    from exai_git import locations, store

    base = locations.scan_base(repo, target)
    with store.connect(settings) as conn:
        issues, any_on_paths, every = locations.open_issues_touched(
            conn, repo, settings, changes, base,
            with_all_paths=cache is not None and known is None)
    if cache is not None and every is not None:
        cache.save(every)
    read = {i.issue_number: (i.status, {int(n): str(st) for n, st in i.steps or ()})
            for i in issues}
    return ScanResult(scanner.findings(changes, issues), paths, key, int(any_on_paths), read,
                      base)


def _changes_for(repo: Repo, target: str | None) -> tuple[list[FileChange], str]:
    if target is None:
        changes = repo.staged_changes()
    elif "..." in target or ".." in target:
        a, b = target.replace("...", "..").split("..", 1)
        a_sha, b_sha = repo.resolve(a or "HEAD"), repo.resolve(b or "HEAD")
        base = repo.merge_base(a_sha, b_sha) or a_sha
        changes = repo.commit_changes(b_sha, base)
    else:
        commit = repo.commit(target)
        changes = repo.changes_of(commit)
    return changes, hookstate.changes_key(changes)


def scan_staged(repo: Repo, settings: Settings, say: Say, *,
                use_path_cache: bool = False) -> ScanResult | None:
    """The scan of the staged change, left for the commit's other hooks; None, said in one
    line, when the database cannot be reached (a scan never blocks a commit over that)."""
    try:
        result = scan(repo, settings, None, use_path_cache=use_path_cache)
    except ExaiError as e:
        if e.exit_code != EXIT_DB_UNREACHABLE:
            raise
        if not isinstance(e, NoTracker):  # nothing to scan against: post-commit says so
            say(f"EXAI: {e}; scan skipped")
        return None
    hookstate.remember_scan(repo, result, settings)
    return result


# --------------------------------------------------------------------------- hooks


def pre_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """The pre-commit hook: warn about open issues the staged change touches."""
    from exai_git import scanner
    from exai_git.repo import squash_pending

    result = None
    start_point(repo, settings, say)
    try:
        result = scan_staged(repo, settings, say, use_path_cache=True)
    finally:
        # post-commit reconciles: on the main line it moves the locations of open issues on
        # the changed files (none there: a later reconciliation moves them from the head
        # recorded); a squash to carry, or queued work: it has work whatever the message
        # (with apply_on = "push" a commit moves no location; but a push the remote refused
        # waits to be undone)
        hookstate.mark_post_commit_quiet(repo, result is not None and (
            hookstate.reconciled(repo, settings) if settings.apply_on == "push" else
            result.issues_on_paths == 0 and not result.findings)
            and not squash_pending(repo) and outbox(repo).count() == 0,
            head=result.base if result is not None else None)
    if result is None:
        return 0
    for f in result.findings:  # the hint waits for the message: commit_msg says it
        say(scanner.finding_line(f, settings.prefix))
    return 1 if scanner.fails(result.findings, settings.fail_on) else 0


def post_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """Reconcile (HEAD^ is where a clone's first hook starts): a commit on a tracked branch
    lands now; on any other branch its markers are held and only progress counts. Mid-rebase
    nothing: the rebase's post-rewrite reconciles once the branch is updated."""
    from exai_git.repo import rebase_in_progress

    if rebase_in_progress(repo):
        return 0
    head = repo.commit("HEAD")  # read once, for the reconciliation and the held progress
    land(repo, settings, "post-commit", before="HEAD^", say=say, head=head)
    hookstate.note_held_progress(repo, settings, head)
    return 0


def post_merge(repo: Repo, settings: Settings, *, squash: bool, say: Say = say_err) -> int:
    """A merge (or a pull) moved the branch: reconcile (ORIG_HEAD is where a clone's first
    hook starts). `merge --squash` moves nothing: remember what it staged, for the commit
    that follows."""
    if squash:
        note_squash(repo, say)
        return 0
    land(repo, settings, "post-merge", before="ORIG_HEAD", say=say)
    return 0


def post_checkout(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """A branch checkout, a clone, a rebase's start (pull --rebase after its fetch): reconcile.
    (A checkout of files never gets here: hookmain and the native script stop at once.)"""
    land(repo, settings, "post-checkout", say=say)
    return 0


def post_rewrite(repo: Repo, settings: Settings, command: str | None, stdin: str = "",
                 say: Say = say_err) -> int:
    """amend / rebase: reconcile, with git's old->new mapping when it was given (the
    frameworks give none: the rebase's rewritten-list and the reflog stand in). An amend
    made in the middle of a rebase waits for the rebase's own post-rewrite."""
    from exai_git.repo import rebase_in_progress

    if command == "amend" and rebase_in_progress(repo):
        return 0
    land(repo, settings, "post-rewrite", rewrites_stdin=stdin or None, say=say)
    return 0


def pre_push(repo: Repo, settings: Settings, lines: Sequence[str], remote: str | None,
             say: Say = say_err) -> int:
    """Reconcile before the push leaves (what a fetch brought lands now). With apply_on =
    "push", a push to origin is planned as taken: what it sends to a tracked branch lands
    now; if the remote refuses it, origin's ref never moves there and the next
    reconciliation undoes it. A deletion is left to the fetch that prunes the branch."""
    from exai_git import landing

    pushes: tuple[tuple[str, str, str, str], ...] = ()
    if settings.apply_on == "push" and remote == landing.REMOTE:
        pushes = tuple(p for p in landing.parse_push_lines("\n".join(lines)) if p[1] != ZERO)
    land(repo, settings, "pre-push", pushes=pushes, say=say)
    return 0


def pre_commit_framework_push_lines() -> list[str]:
    """The pre-push refs as the pre-commit framework passes them (environment)."""
    to_ref = os.environ.get("PRE_COMMIT_TO_REF")
    if not to_ref:
        return []
    from_ref = os.environ.get("PRE_COMMIT_FROM_REF") or ZERO
    remote_branch = os.environ.get("PRE_COMMIT_REMOTE_BRANCH") or "HEAD"
    local_branch = os.environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
    return [f"{local_branch} {to_ref} {remote_branch} {from_ref}"]


def prepare_commit_msg(repo: Repo, settings: Settings, path: str, source: str | None) -> int:
    """Add the findings of the staged change to the message template as comment lines
    (from the pre-commit scan of the same change when there was one)."""
    if source in ("merge", "squash", "commit", "message"):
        return 0  # the message is given or reused; leave it
    changes = repo.staged_changes()
    cached = hookstate.cached_scan(repo, hookstate.changes_key(changes))
    if cached is not None:
        found, first = list(cached.get("findings") or []), cached.get("first")
    else:
        from exai_git import scanner

        try:
            result = scan(repo, settings, None)
        except ExaiError:
            return 0
        found = [scanner.finding_line(f, settings.prefix) for f in result.findings]
        first = result.findings[0].issue if result.findings else None
    if not found:
        return 0
    cc = repo.comment_char() or "#"
    p = settings.prefix
    lines = [f"{cc} This change touches open issues (exai-git):"]
    lines += [f"{cc}   {line}" for line in found]
    lines.append(f"{cc} To record the work, add e.g. `Fixes {p}-{first} step N conv:<uuid>`"
                 f" (a step; without it, the issue) or `Refs {p}-{first}`.")
    try:
        with open(path, "r+", encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
            f.seek(0)
            f.write(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" if text.strip()
                    else "\n\n" + "\n".join(lines) + "\n")
            f.truncate()
    except OSError:
        return 0
    return 0
