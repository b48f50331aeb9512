"""Commit-message checks: a message's markers parsed as git would clean it, checked against
the tracker, rendered one way for `exai-git parse` and the commit-msg hook (`check-msg`).

One size limit (repo.MAX_MESSAGE_BYTES) holds everywhere: a message over it is never read
for markers (post-commit, pre-push and apply skip it), so commit-msg refuses one that names
any, and `parse` refuses to read it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exai_git import hookstate, markers
from exai_git.errors import DatabaseUnreachable, ExaiError, NoTracker, from_database
from exai_git.repo import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.repo import Repo

Say = Callable[[str], None]


def say_err(line: str) -> None:
    print(line, file=sys.stderr)


def parse_message(text: str, settings: Settings, comment_char: str | None = "#"
                  ) -> markers.Parsed:
    return markers.parse(text, prefix=settings.prefix, comment_char=comment_char,
                         env_conversation=os.environ.get("EXAI_CONVERSATION_ID"))


def _read_head(path: str) -> bytes:
    """The first MAX_MESSAGE_BYTES + 1 bytes of a message file (or - for stdin)."""
    try:
        if path == "-":
            return sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
        with open(path, "rb") as f:
            return f.read(MAX_MESSAGE_BYTES + 1)
    except OSError as e:
        raise ExaiError(f"cannot read {path}: {e.strerror}") from None


def read_message_file(path: str) -> str:
    """A message file (or - for stdin) as text; bytes that are not UTF-8 are replaced. One
    over the size limit is refused (no marker in it would be applied)."""
    data = _read_head(path)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ExaiError(f"{path}: message larger than {MAX_MESSAGE_BYTES} bytes; refused")
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


# --------------------------------------------------------------------------- the check


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


def check_lines(check: MessageCheck, prefix: str, *, hook: bool) -> list[str]:
    """What a check says, one line each, for `parse` (hook False: the actions, or "no
    actions", and the phrases ignored come first; the note is a note) and for the commit-msg
    hook (each line after "EXAI: "; an error quotes its text; the note is a warning, as the
    hook's output is warnings and errors only)."""
    if hook and not (check.parsed.warnings or check.parsed.errors or check.db_warnings
                     or check.db_errors or check.db_note):
        return []  # a good message: the hook says nothing
    from exai_git.render import clean, note_line

    lines = []
    if not hook:
        for action in check.parsed.actions:  # not "-> fixed" for an issue the tracker lacks
            if not any(e.startswith(f"{prefix}-{action.issue}:") for e in check.db_errors):
                lines.append(clean(markers.describe(action, prefix)))
        if not check.parsed.actions:
            lines.append("no actions")
        for note in check.parsed.ignored:
            lines.append(f"ignored (line {note.line}): {clean(note.text)}: {note.reason}")
    lines += [note_line("warning", note) for note in check.parsed.warnings]
    lines += [note_line("error", note) + (f" [{clean(note.text)}]" if hook else "")
              for note in check.parsed.errors]
    lines += [f"warning: {clean(line)}" for line in check.db_warnings]
    lines += [f"error: {clean(line)}" for line in check.db_errors]
    if check.db_note:
        lines.append(f"{'warning' if hook else 'note'}: {clean(check.db_note)}")
    return [f"EXAI: {line}" for line in lines] if hook else lines


# --------------------------------------------------------------------------- commit-msg


def commit_msg(repo: Repo | None, settings: Settings, path: str, say: Say = say_err) -> int:
    """The commit-msg hook: 1 (refuse) on a malformed marker or an unknown issue or step.
    Also remembers what a `merge --squash` staged (git deletes SQUASH_MSG before post-commit;
    after a conflicted squash no post-merge runs)."""
    over, too_big = _over_limit(path, settings)
    if too_big:
        say(f"EXAI: {too_big}")
        return 1
    if repo is not None:
        from exai_git.hookland import note_squash

        note_squash(repo, say)
    if over:
        return 0  # names no marker: nothing in it is read, nothing to check
    result = check_message(path, settings, repo=repo)
    for line in check_lines(result, settings.prefix, hook=True):
        say(line)
    if not result.ok:
        say("EXAI: commit refused; fix the marker, or skip the check with --no-verify")
        return 1
    if repo is not None:
        _hint_unmarked(repo, settings, result.parsed, say)
    return 0


def _hint_unmarked(repo: Repo, settings: Settings, parsed: markers.Parsed, say: Say) -> None:
    """The pre-commit scan's hint, now that the message is known: only for the touched issues
    the message has no marker for (git writes the message after the pre-commit hook runs)."""
    cached = hookstate.take_scan(repo)
    touched = [n for n in (cached or {}).get("touched") or [] if isinstance(n, int)]
    marked = {a.issue for a in parsed.actions}
    left = [n for n in touched if n not in marked]
    if cached and left and hookstate.is_scanned_change(repo, cached):
        from exai_git import scanner

        say(scanner.hint_for(left, settings.prefix))


def _over_limit(path: str, settings: Settings) -> tuple[bool, str | None]:
    """(the message at path is over the one size limit, why commit-msg refuses it): it is
    refused when it may name markers, which would not be applied; (False, None) when it is
    within the limit, or cannot be read (said by the check that follows)."""
    import re

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MESSAGE_BYTES + 1)
    except OSError:
        return False, None
    if len(data) <= MAX_MESSAGE_BYTES:
        return False, None
    marker = rb"(?i)" + re.escape(settings.prefix.encode()) + rb"-\d|conversation|reverts commit"
    if not re.search(marker, data):
        return True, None  # nothing that would be applied: the commit goes on
    return True, (f"the message is over the {MAX_MESSAGE_BYTES}-byte limit and names markers, "
                  "which would not be applied; commit refused: shorten it (e.g. move the text "
                  "to a file)")
