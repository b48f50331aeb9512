"""One function per git hook, and the scan and message check behind them: thin glue over
markers, repo, scanner, store, engine, the outbox and the hooks' state files (hookstate).

A hook never loses work and never blocks a commit because the database is slow or down:
it says so in one line and queues the work; the next hook run or `exai-git sync` replays it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exai_git import hookstate, markers
from exai_git.errors import (
    EXIT_DB_UNREACHABLE,
    DatabaseUnreachable,
    ExaiError,
    SchemaError,
    from_database,
)
from exai_git.errors import first_line as _one_line  # for _unreachable, until apply.py has it
from exai_git.hookstate import forget_issue_paths

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.engine import PathChange, Report, Work
    from exai_git.outbox import Outbox
    from exai_git.repo import Commit, Repo
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
    result = MessageCheck(parsed)
    if parsed.errors or not parsed.actions:
        return result
    from exai_git import engine, store

    try:
        conn = store.connect(settings)
    except DatabaseUnreachable as e:
        result.db_note = f"{e}; checked the markers' syntax only"
        return result
    try:
        with conn:
            checked = engine.check(conn, parsed.actions, settings)
        result.db_errors, result.db_warnings = checked.errors, checked.warnings
    except Exception as e:
        mapped = from_database(e)  # a slow or broken database never blocks a commit
        if mapped is None:
            raise
        result.db_note = f"database check skipped ({mapped}); checked syntax only"
    return result


# --------------------------------------------------------------------------- work


def repository_name(repo: Repo, settings: Settings) -> str:
    return settings.repository or repo.root.name


def path_changes(changes: Iterable[FileChange]) -> tuple[PathChange, ...]:
    from exai_git.engine import PathChange

    return tuple(PathChange(c.status, c.old_path, c.new_path, c.hunks, c.binary or c.submodule)
                 for c in changes if c.old_path and c.status != "added")


def work_for(repo: Repo, commit: Commit, settings: Settings, *,
             parsed: markers.Parsed | None = None, patch_id: str | None = None,
             changes: Sequence[FileChange] | None = None) -> Work:
    from exai_git.engine import Work

    parsed = parsed or parse_message(commit.message, settings, None)
    reverts = tuple(_resolve_reverts(repo, parsed.reverts))
    if patch_id is None and (parsed.actions or reverts) and len(commit.parents) <= 1:
        patch_id = repo.patch_ids([commit.sha]).get(commit.sha)
    if changes is None:
        changes = repo.changes_of(commit)
    return Work(commit.sha, commit.subject, commit.committed_at, parsed.actions, reverts,
                patch_id, path_changes(changes), repository_name(repo, settings))


def _resolve_reverts(repo: Repo, shas: Sequence[str]) -> Iterator[str]:
    for sha in shas:
        try:
            yield repo.resolve(sha)
        except ExaiError:
            if len(sha) in (40, 64):
                yield sha


# --------------------------------------------------------------------------- applying


def apply_or_queue(repo: Repo, works: list[Work], settings: Settings, say: Say) -> None:
    """Apply the queue, oldest first, then works, and say what happened; on an unreachable
    database, queue works instead."""
    from exai_git import engine, store

    box = outbox(repo)
    queued = box.items()
    needed = [w for w in works if w.needs_database]
    if not needed and not queued:
        return
    try:
        with store.connect(settings) as conn:
            report = engine.apply(conn, [w for _, w in queued] + needed, settings)
        box.remove([i for i, _ in queued])
        if report.moves:
            forget_issue_paths(repo)
        for line in report_lines(report, settings.prefix):
            say(line)
        return
    except DatabaseUnreachable as e:
        state, reason = "database unreachable", str(e)
    except SchemaError as e:
        state, reason = "database not ready", str(e)
    except Exception as e:
        mapped = _unreachable(e)
        if mapped is None:
            raise
        state, reason = mapped
    if needed:
        box.put(needed, reason)
    total = box.count()
    say(f"EXAI: {state}; {total} commit{'s' if total != 1 else ''} queued, "
        f"run `exai-git sync` ({reason})")


def _unreachable(e: Exception) -> tuple[str, str] | None:
    """Why the database cannot take the work now (so it is queued), or None for a bug."""
    import psycopg

    if isinstance(e, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)):
        return "database too slow", f"no answer within the statement timeout ({_one_line(e)})"
    if isinstance(e, psycopg.OperationalError):
        return "database unreachable", f"lost the connection ({_one_line(e)})"
    if isinstance(e, (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction,
                      psycopg.errors.UndefinedColumn)):
        return "database not ready", "it has no exai-git schema; run `exai-git db migrate`"
    if isinstance(e, psycopg.errors.InsufficientPrivilege):
        return "database refused the update", _one_line(e)
    return None


def sync(repo: Repo, settings: Settings) -> tuple[int, Report]:
    """Replay the queue, oldest first; items leave it only once applied."""
    from exai_git import engine, store

    box = outbox(repo)
    queued = box.items()
    if not queued:
        return 0, engine.Report()
    with store.connect(settings) as conn:
        report = engine.apply(conn, [w for _, w in queued], settings, batch_size=100)
    box.remove([i for i, _ in queued])
    return len(queued), report


def report_lines(report: Report, prefix: str) -> list[str]:
    from exai_git.render import clean

    lines = []
    for c in report.commits:
        for text in c.applied:
            lines.append(f"EXAI: {c.sha[:10]} {clean(text)}")
        for text in c.moves:
            lines.append(f"EXAI: {c.sha[:10]} {clean(text)}")
        for text in c.warnings:
            lines.append(f"EXAI: warning: {c.sha[:10]} {clean(text)}")
        for text in c.errors:
            lines.append(f"EXAI: error: {c.sha[:10]} {clean(text)}")
    return lines


def apply_revs(repo: Repo, spec: str | None, settings: Settings, *,
               progress: Callable[[int], None] | None = None) -> Report:
    """`exai-git apply`: HEAD, one revision, or a range backfilled oldest first."""
    from exai_git import engine, store

    spec = spec or "HEAD"
    if ".." not in spec:
        commit = repo.commit(spec)
        works: Iterable[Work] = [work_for(repo, commit, settings)]
        log = None
    else:
        include, exclude = repo.range_shas(spec)
        # git walks the range while the database driver loads and connects
        log = repo.iter_log(include, exclude)
        works = _range_works(repo, include, exclude, log, settings)
    try:
        conn = store.connect(settings)
        with conn:
            with conn.cursor() as cur:
                store.require_schema(cur)
            conn.commit()
            return engine.apply(conn, works, settings, on_progress=progress)
    finally:
        if log is not None:
            log.close()


def _range_works(repo: Repo, include: list[str], exclude: list[str], log: Iterator[Commit],
                 settings: Settings) -> Iterator[Work]:
    """Work for each commit of a range, streamed from one `git log` (log, started by the
    caller). Commits whose actions are all linked already are reported as such without more
    work; patch-ids and diffs are asked for only where a commit has new markers or touches a
    file an open issue is on."""
    from exai_git import store
    from exai_git.engine import Work, merged_actions

    with store.connect(settings) as conn:
        conn.autocommit = True  # reads only: one round trip per question, no BEGIN/COMMIT
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT exai_norm_path(file_path) FROM exai_issues"
                        " WHERE status IN ('open', 'in_progress') AND file_path IS NOT NULL")
            issue_paths = {r[0] for r in cur.fetchall()}
        touched = repo.commits_touching(include, exclude, issue_paths) if issue_paths else set()
        pending: list[tuple[Commit, markers.Parsed]] = []
        started: list[Callable[[], Iterator[Work]]] = []

        def flush() -> Iterator[Work]:
            """Work for the pending commits. Their patch-ids are computed by git in the
            background while the next batch is read; this batch's work is yielded when
            the next one is flushed (the order of the commits that do something is kept)."""
            linked = _linked_actions(conn, [c.sha for c, _ in pending])
            batch: list[Work | tuple[Commit, markers.Parsed]] = []
            for commit, parsed in pending:
                actions = merged_actions(parsed.actions)
                keys = {(a.issue, a.action) for a in actions}
                if (keys and not parsed.reverts and commit.sha not in touched
                        and keys <= linked.get(commit.sha, set())):
                    batch.append(Work(commit.sha, commit.subject, commit.committed_at,
                                      applied_before=tuple(markers.describe(a, settings.prefix)
                                                           for a in actions)))
                else:
                    batch.append((commit, parsed))
            marked = [c.sha for c, p in (b for b in batch if isinstance(b, tuple))
                      if (p.actions or p.reverts) and len(c.parents) <= 1]
            patch_ids = repo.start_patch_ids(marked)
            pending.clear()

            def finish() -> Iterator[Work]:
                pids = patch_ids()
                for item in batch:
                    if isinstance(item, Work):
                        yield item
                        continue
                    commit, parsed = item
                    changes: list[FileChange] | None = None if commit.sha in touched else []
                    yield work_for(repo, commit, settings, parsed=parsed,
                                   patch_id=pids.get(commit.sha), changes=changes)

            started.append(finish)
            if len(started) > 1:
                yield from started.pop(0)()

        env_conversation = os.environ.get("EXAI_CONVERSATION_ID")
        for commit in log:
            parsed = markers.parse(commit.message, prefix=settings.prefix, comment_char=None,
                                   env_conversation=env_conversation)
            if not (parsed.actions or parsed.reverts or commit.sha in touched):
                yield Work(commit.sha, commit.subject, commit.committed_at)
                continue
            pending.append((commit, parsed))
            if len(pending) >= 500:
                yield from flush()
        if pending:
            yield from flush()
        while started:
            yield from started.pop(0)()


def _linked_actions(conn: psycopg.Connection[Any], shas: Sequence[str]
                    ) -> dict[str, set[tuple[int, str]]]:
    """(issue number, action) already linked to each of shas."""
    if not shas:
        return {}
    out: dict[str, set[tuple[int, str]]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT l.commit_sha, i.issue_number, l.action FROM exai_commit_links l"
                    " JOIN exai_issues i ON i.id = l.issue_id WHERE l.commit_sha = ANY(%s)",
                    (list(shas),))
        for sha, number, action in cur.fetchall():
            out.setdefault(sha, set()).add((number, action))
    return out


# --------------------------------------------------------------------------- scanning


@dataclass
class ScanResult:
    findings: list[Finding]
    paths: list[str]
    diff_key: str
    issues_on_paths: int = 0  # open issues on the changed files, touched or not


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
    from exai_git import store

    with store.connect(settings) as conn:
        issues, any_on_paths, every = store.open_issues_touched(
            conn, settings, scanner.probe(changes),
            with_all_paths=cache is not None and known is None)
    if cache is not None and every is not None:
        cache.save(every)
    return ScanResult(scanner.findings(changes, issues), paths, key, int(any_on_paths))


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
        say(f"EXAI: {e}; scan skipped")
        return None
    hookstate.remember_scan(repo, result, settings)
    return result


# --------------------------------------------------------------------------- hooks


def commit_msg(repo: Repo | None, settings: Settings, path: str, say: Say = say_err) -> int:
    """The commit-msg hook: 1 (refuse) on a malformed marker or an unknown issue or step."""
    from exai_git.render import clean, note_line

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
    return 0


def pre_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """The pre-commit hook: warn about open issues the staged change touches."""
    from exai_git import scanner

    result = None
    try:
        result = scan_staged(repo, settings, say, use_path_cache=True)
    finally:
        hookstate.mark_post_commit_quiet(repo, result is not None and (
            settings.apply_on != "commit" or (result.issues_on_paths == 0
                                              and not result.findings
                                              and outbox(repo).count() == 0)))
    if result is None:
        return 0
    for f in result.findings:
        say(scanner.finding_line(f, settings.prefix))
    if result.findings:
        say(scanner.hint(result.findings, settings.prefix))
    return 1 if scanner.fails(result.findings, settings.fail_on) else 0


def post_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """Apply HEAD's markers and move issue locations through its hunks."""
    if settings.apply_on != "commit":
        return 0
    commit = repo.commit("HEAD")
    parsed = parse_message(commit.message, settings, None)
    changes = repo.changes_of(commit)
    if (not parsed.actions and not parsed.reverts
            and hookstate.scan_said_nothing(repo, hookstate.changes_key(changes))
            and outbox(repo).count() == 0):
        return 0  # nothing to apply and nothing to move: no database, no psycopg
    work = work_for(repo, commit, settings, parsed=parsed, changes=changes)
    apply_or_queue(repo, [work], settings, say)
    return 0


def pre_push(repo: Repo, settings: Settings, lines: Sequence[str], remote: str | None,
             say: Say = say_err) -> int:
    """With apply_on = "push": apply what is pushed to the configured branches."""
    if settings.apply_on != "push":
        return 0
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


def post_rewrite(repo: Repo, settings: Settings, lines: Sequence[str], say: Say = say_err) -> int:
    """amend / rebase: rewritten commits are the same work; post-commit already saw them
    (patch-id), so only commits it could not see (no post-commit under this git) remain."""
    works = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            try:
                works.append(work_for(repo, repo.commit(parts[1]), settings))
            except ExaiError:
                continue
    if settings.apply_on == "commit" and works:
        apply_or_queue(repo, [w for w in works if w.actions or w.reverts], settings, say)
    return 0


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
