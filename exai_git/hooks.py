"""One function per git hook, and the scan and message check behind them: thin glue over
markers, repo, scanner, store, engine, the outbox and the hooks' state files (hookstate).

A hook never loses work and never blocks a commit because the database is slow or down:
it says so in one line and queues the work; the next hook run or `exai-git sync` replays it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exai_git import hookstate, markers
from exai_git.apply import apply_or_queue
from exai_git.errors import (
    EXIT_DB_UNREACHABLE,
    DatabaseUnreachable,
    ExaiError,
    NoTracker,
    from_database,
)
from exai_git.hookland import land, note_squash, start_point

if TYPE_CHECKING:

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.model import Work
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


def parse_message(text: str, settings: Settings, comment_char: str | None = "#"
                  ) -> markers.Parsed:
    return markers.parse(text, prefix=settings.prefix, comment_char=comment_char,
                         env_conversation=os.environ.get("EXAI_CONVERSATION_ID"))


def read_message_file(path: str) -> str:
    """A message file (or - for stdin) as text; bytes that are not UTF-8 are replaced."""
    from exai_git.repo import MAX_MESSAGE_BYTES

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_MESSAGE_BYTES * 8 + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_MESSAGE_BYTES * 8 + 1)
    except OSError as e:
        raise ExaiError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_MESSAGE_BYTES * 8:
        raise ExaiError(f"{path}: message larger than {MAX_MESSAGE_BYTES * 8} bytes; refused")
    return data.decode("utf-8", errors="replace")


def _auto_comment_char(text: str) -> str:
    """git's core.commentChar=auto: the first of #;@!$%^&|: that starts no line."""
    starts = {line[:1] for line in text.splitlines()}
    return next((c for c in "#;@!$%^&|:" if c not in starts), "#")


def parse_draft(text: str, settings: Settings, repo: Repo | None) -> markers.Parsed:
    """A message as git would see it before cleanup: its comment lines are the repository's
    core.commentChar (# outside a repository)."""
    cc = repo.comment_char() if repo is not None else "#"
    return parse_message(text, settings, cc if cc is not None else _auto_comment_char(text))


# --------------------------------------------------------------------------- check-msg


@dataclass
class MessageCheck:
    parsed: markers.Parsed
    db_errors: list[str] = field(default_factory=list)
    db_warnings: list[str] = field(default_factory=list)
    db_note: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.parsed.errors or self.db_errors)


def check_message(path: str, settings: Settings, *, repo: Repo | None = None) -> MessageCheck:
    parsed = parse_draft(read_message_file(path), settings, repo)
    if repo is not None and parsed.actions and not parsed.errors \
            and "psycopg" not in sys.modules:
        # Loading the database driver and connecting cost more than the rest of the hook:
        # when the pre-commit scan of this same staged change read every issue the markers
        # name moments ago, check against that reading (a marker commit then connects twice:
        # the scan and post-commit).
        read = hookstate.issues_read(repo, settings, {a.issue for a in parsed.actions})
        if read is not None:
            from exai_git import engine

            checked = engine.check_known(read, parsed.actions, settings.prefix)
            return MessageCheck(parsed, db_errors=checked.errors,
                                db_warnings=checked.warnings)
    return check_parsed(parsed, settings)


def check_draft(text: str, settings: Settings, repo: Repo | None) -> MessageCheck:
    """`parse`: a message's markers, checked against the tracker when one is configured (or
    the embedded one runs) and answers within a short timeout, so an unknown issue or step is
    an error as in the commit-msg hook; otherwise the syntax only, and db_note says so."""
    import dataclasses

    from exai_git import embedded

    parsed = parse_draft(text, settings, repo)
    if settings.dsn is None and not embedded.running():
        note = None
        if parsed.actions and not parsed.errors:
            note = ("no tracker configured (--dsn, EXAI_GIT_DSN or DATABASE_URL); checked "
                    "the markers' syntax only")
        return MessageCheck(parsed, db_note=note)
    quick = dataclasses.replace(settings, connect_timeout=min(settings.connect_timeout, 2))
    try:
        return check_parsed(parsed, quick)
    except ExaiError as e:  # no schema yet, say: the syntax is all that could be checked
        return MessageCheck(parsed, db_note=f"{e}; checked the markers' syntax only")


def check_parsed(parsed: markers.Parsed, settings: Settings) -> MessageCheck:
    """parsed's actions against the tracker: unknown issues and steps are db_errors."""
    result = MessageCheck(parsed)
    if parsed.errors or not parsed.actions:
        return result
    from exai_git import apply, store

    try:
        conn = store.connect(settings)
    except NoTracker:
        return result  # syntax only; post-commit (or pre-push) says it once, with the queue
    except DatabaseUnreachable as e:
        result.db_note = f"{e}; checked the markers' syntax only"
        return result
    try:
        with conn:
            checked = apply.check(conn, parsed.actions, settings)
        result.db_errors, result.db_warnings = checked.errors, checked.warnings
    except Exception as e:
        # a slow or broken database never blocks a commit
        mapped = e if isinstance(e, DatabaseUnreachable) else from_database(e)
        if mapped is None:
            raise
        result.db_note = f"database check skipped ({mapped}); checked syntax only"
    return result


# --------------------------------------------------------------------------- scanning


@dataclass
class ScanResult:
    findings: list[Finding]
    paths: list[str]
    diff_key: str
    issues_on_paths: int = 0  # open issues on the changed files, touched or not
    # the issues the scan read: number -> (status, {step: status}), for commit-msg's check
    read: dict[int, tuple[str, dict[int, str]]] = field(default_factory=dict)


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

    with store.connect(settings) as conn:
        issues, any_on_paths, every = locations.open_issues_touched(
            conn, repo, settings, changes, target,
            with_all_paths=cache is not None and known is None)
    if cache is not None and every is not None:
        cache.save(every)
    read = {i.issue_number: (i.status, {int(n): str(st) for n, st in i.steps or ()})
            for i in issues}
    return ScanResult(scanner.findings(changes, issues), paths, key, int(any_on_paths), read)


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


def commit_msg(repo: Repo | None, settings: Settings, path: str, say: Say = say_err) -> int:
    """The commit-msg hook: 1 (refuse) on a malformed marker or an unknown issue or step.
    Also remembers what a `merge --squash` staged (git deletes SQUASH_MSG before post-commit;
    after a conflicted squash no post-merge runs)."""
    from exai_git.render import clean, note_line

    too_big = _too_big(path, settings)
    if too_big:
        say(f"EXAI: {too_big}")
        return 1
    if repo is not None:
        note_squash(repo, say)
    result = check_message(path, settings, repo=repo)
    for note in result.parsed.warnings:
        say("EXAI: " + note_line("warning", note))
    for note in result.parsed.errors:
        say(f"EXAI: {note_line('error', note)} [{clean(note.text)}]")
    for line in result.db_warnings:
        say(f"EXAI: warning: {clean(line)}")
    for line in result.db_errors:
        say(f"EXAI: error: {clean(line)}")
    if result.db_note:
        say(f"EXAI: warning: {clean(result.db_note)}")
    if not result.ok:
        say("EXAI: commit refused; fix the marker, or skip the check with --no-verify")
        return 1
    if repo is not None:
        _hint_unmarked(repo, settings, result.parsed, say)
    return 0


def _hint_unmarked(repo: Repo, settings: Settings, parsed: markers.Parsed, say: Say) -> None:
    """The pre-commit scan's hint, now that the message is known: only for the touched issues
    the message has no marker for (git writes the message after the pre-commit hook runs)."""
    from exai_git import scanner

    cached = hookstate.take_scan(repo)
    touched = [n for n in (cached or {}).get("touched") or [] if isinstance(n, int)]
    marked = {a.issue for a in parsed.actions}
    left = [n for n in touched if n not in marked]
    if cached and left and cached.get("key") == hookstate.changes_key(repo.staged_changes()):
        say(scanner.hint_for(left, settings.prefix))


def _too_big(path: str, settings: Settings) -> str | None:
    """Why commit-msg refuses the message at path: it is over the one size limit (post-commit,
    pre-push and apply read no message past it) and may name markers; None otherwise."""
    import re

    from exai_git.repo import MAX_MESSAGE_BYTES

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MESSAGE_BYTES + 1)
    except OSError:
        return None  # said by the check that follows
    if len(data) <= MAX_MESSAGE_BYTES:
        return None
    marker = rb"(?i)" + re.escape(settings.prefix.encode()) + rb"-\d|conversation|reverts commit"
    if not re.search(marker, data):
        return None  # nothing that would be applied: the commit goes on
    return (f"the message is over the {MAX_MESSAGE_BYTES}-byte limit and names markers, which "
            "would not be applied; commit refused: shorten it (e.g. move the text to a file)")


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
        hookstate.mark_post_commit_quiet(repo, result is not None and (
            settings.apply_on != "commit" or (result.issues_on_paths == 0
                                              and not result.findings
                                              and not squash_pending(repo)
                                              and outbox(repo).count() == 0)))
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
    land(repo, settings, "post-commit", before="HEAD^", say=say)
    hookstate.note_held_progress(repo, settings)
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
    "push", apply what is pushed to the tracked branches instead."""
    if settings.apply_on != "push":
        land(repo, settings, "pre-push", say=say)
        return 0
    # TODO(w1): reconcile(..., pushes=...) planning against landing.with_pushed(current,
    # parse_push_lines(stdin), names) with remote_only=True; until then, the commits sent.
    from exai_git.apply import work_for

    works: list[Work] = []
    seen: set[str] = set()
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, remote_ref, remote_sha = parts
        if set(local_sha) == {"0"}:
            continue  # a deletion pushes no commits
        branch = remote_ref.removeprefix("refs/heads/")
        if settings.branches and branch not in settings.branches:
            continue
        exclude = [remote_sha] if set(remote_sha) != {"0"} else []
        include = [local_sha]
        if not exclude and remote:
            from exai_git.repo import rev_parse_optional

            # A branch new to the remote: what the remote already has on the branches we
            # apply for was applied then; commits that only sit on other branches were not.
            if settings.branches:
                exclude = [ref for b in settings.branches
                           if rev_parse_optional(repo, ref := f"refs/remotes/{remote}/{b}")]
            else:
                exclude = [f"--remotes={remote}"]
        for commit in repo.iter_log(include, exclude):
            if commit.sha in seen:
                continue
            seen.add(commit.sha)
            works.append(work_for(repo, commit, settings))
    if not works:
        return 0
    apply_or_queue(repo, works, settings, say)
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
    lines.append(f"{cc} To record the work, add e.g. `Fixes {p}-{first}` or "
                 f"`Refs {p}-{first} step N conv:<uuid>`.")
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
