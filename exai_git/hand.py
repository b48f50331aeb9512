"""The write commands (`new`, `step`, `note`, `mark`): check the input, then load -> edits ->
write in one transaction, as apply.py does for commits. Git is asked only where `new --at`
names a file (repo/paths.py); SQL is in store/; the rules are edits.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git import edits
from exai_git.edits import Edit
from exai_git.errors import EXIT_USAGE, ExaiError

if TYPE_CHECKING:
    import datetime as dt

    import psycopg

    from exai_git.config import Settings
    from exai_git.model import Issue
    from exai_git.repo import Repo


@dataclass
class Filed:
    key: str
    number: int
    fields: dict[str, Any]
    steps: list[str]
    anchor_sha: str | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "issue": self.number, "status": "open", **self.fields,
                "steps": [{"step": n, "description": d, "status": "pending"}
                          for n, d in enumerate(self.steps, 1)],
                "anchor_sha": self.anchor_sha}


def new(settings: Settings, repo: Repo | None, title: str, *, severity: str,
        category: str | None, at: str | None, steps: Sequence[str], conv: str | None,
        description: str | None) -> Filed:
    """File an issue (status open, steps 1..n pending, a `filed` comment): --at is checked
    against HEAD and stored relative to the repository's root, its lines anchored at HEAD
    (the commit they are lines of: locations.py moves them from there)."""
    from exai_git import repo as git
    from exai_git import store

    fields: dict[str, Any] = {
        "title": edits.text(title, "title"),
        "severity": edits.one_of(severity, edits.SEVERITIES, "severity"),
        "category": edits.one_of(category, edits.CATEGORIES, "category") if category else None,
        "conversation_id": edits.conversation(conv),
        "description": description.strip() or None if description is not None else None,
        "file_path": None, "line_start": None, "line_end": None,
    }
    steps = [edits.text(s, "step text") for s in steps]
    anchor = None
    if at is not None:
        path, a, b = edits.location(at)
        if repo is None:
            raise ExaiError("--at needs a git repository: run it inside one", exit_code=EXIT_USAGE)
        rel = git.path_in_repo(repo, path)
        count = git.lines_at_head(repo, rel)
        if count is None:
            head, sep, lines = at.rpartition(":")
            if sep and head and git.lines_at_head(repo, git.path_in_repo(repo, head)) is not None:
                raise ExaiError(f"not a line range: {lines!r} in {at!r} (expected PATH:A or "
                                "PATH:A-B, 1 <= A <= B)", exit_code=EXIT_USAGE)
            raise ExaiError(f"{rel} does not exist at HEAD (commit it first)",
                            exit_code=EXIT_USAGE)
        if b is not None and b > count:
            raise ExaiError(f"{rel} has {count} line{'s' if count != 1 else ''} at HEAD; "
                            f"{a}-{b} is beyond its end", exit_code=EXIT_USAGE)
        fields.update(file_path=rel, line_start=a, line_end=b)
        anchor = repo.head()
    where = ""
    if fields["file_path"]:
        lines = f":{a}-{b}" if a is not None else ""
        where = f" at {fields['file_path']}{lines}"
    with store.connect(settings) as conn, conn.transaction():
        number = store.file_issue(conn, fields, steps, f"{edits.BY_HAND}: filed{where}", anchor)
    return Filed(f"{settings.prefix}-{number}", number,
                 {k: v for k, v in fields.items() if v is not None}, steps, anchor)


def _edit(settings: Settings, number: int,
          change: Callable[[psycopg.Connection[Any], Issue, dt.datetime], Edit]) -> Edit:
    from exai_git import store

    with store.connect(settings) as conn, conn.transaction():
        issue, now = store.issue_for_edit(conn, number)
        done = change(conn, issue, now)
        store.write_effects(conn, done.effects)
    return done


def add_step(settings: Settings, number: int, description: str, conv: str | None) -> Edit:
    from exai_git import store

    description = edits.text(description, "step text")
    conv = edits.conversation(conv)

    def change(conn: psycopg.Connection[Any], issue: Issue, now: dt.datetime) -> Edit:
        n, done = edits.add_step(issue, description, conv, now, settings.prefix)
        store.add_step(conn, issue.id, n, description)
        return done

    return _edit(settings, number, change)


def set_step(settings: Settings, number: int, step: str, status: str,
             conv: str | None) -> Edit:
    if not step.strip().isdigit() or int(step) < 1:
        raise ExaiError(f"not a step number: {step!r} (expected 1, 2, ... or `add`)",
                        exit_code=EXIT_USAGE)
    status = edits.one_of(status, edits.STEP_STATUSES, "step status")
    conv = edits.conversation(conv)
    return _edit(settings, number, lambda _c, issue, now: edits.set_step(
        issue, int(step), status, conv, now, settings.prefix))


def note(settings: Settings, number: int, content: str, conv: str | None) -> Edit:
    content = edits.text(content, "note")
    conv = edits.conversation(conv)
    return _edit(settings, number, lambda _c, issue, now: edits.note(
        issue, content, conv, now, settings.prefix))


def mark(settings: Settings, number: int, status: str, conv: str | None,
         note: str | None) -> Edit:
    status = edits.one_of(status, edits.ISSUE_STATUSES, "status")
    conv = edits.conversation(conv)
    if note is not None:
        note = edits.text(note, "note")
    return _edit(settings, number, lambda _c, issue, now: edits.mark(
        issue, status, conv, note, now, settings.prefix))
