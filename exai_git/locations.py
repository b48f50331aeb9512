"""Issue locations anchored at a commit (MARKERS.md v2, "Locations"): git + store glue.

An issue's file_path/line_start/line_end are lines at its anchor commit (anchor_sha). They
move only when the main line moves: the reconciliation moves them (LocationMove, in the
transaction that applies the work that moved the main line; move_locations on its own), mapped
through `git diff anchor..new-head` (renames followed), and re-anchors them at the new head.
Commits elsewhere never move them. The scanner maps them from the
anchor to the commit it compares against (issues_at) before comparing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.model import Effects, Work
    from exai_git.repo import Repo
    from exai_git.store import AnchoredIssue, Located

_SHORT = 7


def _where(path: str, start: int | None, end: int | None) -> str:
    if not start:
        return path
    return f"{path}:{start}-{end or start}"


class LocationMove:
    """The main line's move old_head -> new_head (new_head None: nothing moves; anchor: the
    head unanchored open issues are first anchored at, else None), done as the last step of
    the transaction that applies the work that moved it (apply.Finish): read locks and reads
    the issues with their rows, before the work is loaded (one lock order); write maps the
    open ones (statuses as the work leaves them) and writes them after the work's effects.
    One `git diff -M` per distinct anchor: old_head's before the transaction, the others'
    between its two round trips. An anchor this clone does not have is skipped, never
    guessed (not_here: those issues' keys; report() says so in one line). lines: the report
    ("EXAI-1: ..."), escaped for the terminal, true once the transaction commits."""

    def __init__(self, repo: Repo, old_head: str | None, new_head: str | None, prefix: str,
                 *, anchor: str | None = None) -> None:
        from exai_git import repo as git
        from exai_git import store
        from exai_git.paths import norm_path

        if old_head is not None and not old_head.strip("0"):
            old_head = None  # git's null sha: the main line did not exist before
        self.repo, self.prefix = repo, prefix
        self.lines: list[str] = []
        self.not_here: list[str] = []  # keys of issues anchored at a commit the clone lacks
        self.changes: dict[str, list[FileChange]] = {}
        self.missing: set[str] = set()
        if new_head and old_head and old_head != new_head:
            self.missing = git.missing_commits(repo, [old_head])
            if not self.missing:
                self.changes[old_head] = git.changes_between(repo, old_head, new_head)
        changed = None if old_head not in self.changes else \
            sorted({norm_path(c.old_path) for c in self.changes[old_head] if c.old_path})
        self.move = store.Relocation(new_head, old_head, changed, anchor)
        self._fetch: Callable[[], list[Located]] | None = None

    def read(self, conn: psycopg.Connection[Any], works: Sequence[Work]) -> None:
        from exai_git import store

        self._fetch = store.lock_locations(conn, works, self.move)

    def write(self, conn: psycopg.Connection[Any], effects: Effects | None) -> None:
        from exai_git import store

        assert self._fetch is not None, "read() first"
        final = {i.id: i.status for i in effects.issues} if effects else {}
        rows = [r for r in self._fetch() if final.get(r.id, r.status) in store.OPEN_STATUSES]
        updates, comments = self._mapped(rows)
        store.write_relocation(conn, self.move, updates, comments)

    def _mapped(self, rows: Sequence[Located]) -> tuple[list[Located], list[tuple[Any, str]]]:
        from exai_git import diff
        from exai_git import repo as git
        from exai_git.render import clean

        new_head, changes = self.move.new_head, self.changes
        if new_head is None:
            return [], []
        start = self.move.anchor or self.move.old_head  # where an unanchored issue's lines are
        anchors = {r.anchor_sha or start for r in rows} - {None, new_head, *changes}
        self.missing |= git.missing_commits(self.repo, [a for a in anchors if a])
        changes.update((a, git.changes_between(self.repo, a, new_head))
                       for a in sorted(a for a in anchors if a and a not in self.missing))
        updates: list[Located] = []
        comments: list[tuple[Any, str]] = []
        renamed = False
        for row in sorted(rows, key=lambda r: r.issue_number):
            key = f"{self.prefix}-{row.issue_number}"
            anchor = row.anchor_sha or start
            if anchor is None or anchor == new_head:
                updates.append(dataclasses.replace(row, anchor_sha=new_head))
                continue
            if anchor in self.missing:  # another repository's issue (one tracker), or not fetched
                self.not_here.append(key)
                continue
            moved = diff.follow(changes[anchor], row.file_path, row.line_start, row.line_end)
            span = f"main moved {anchor[:_SHORT]}..{new_head[:_SHORT]}"
            before = _where(row.file_path, row.line_start, row.line_end)
            updates.append(dataclasses.replace(
                row, file_path=moved.path, line_start=moved.line_start,
                line_end=moved.line_end, anchor_sha=new_head))
            if moved.lost:
                what = (f"{row.file_path} was deleted" if moved.lost == "file deleted"
                        else f"lines {row.line_start}-{row.line_end or row.line_start} of "
                             f"{row.file_path} were all deleted")
                message = f"{what} ({span}); location left as it was"
                comments.append((row.id, message))
                self.lines.append(clean(f"{key}: warning: {message}"))
                continue
            renamed = renamed or moved.path != row.file_path
            after = _where(moved.path, moved.line_start, moved.line_end)
            if after != before:
                message = f"location moved: {before} -> {after} ({span})"
                comments.append((row.id, message))
                self.lines.append(clean(f"{key}: {message}"))
        if renamed:
            from exai_git.hookstate import forget_issue_paths

            forget_issue_paths(self.repo)  # a rename moved an issue: the scan's cache is stale
        return updates, comments

    def report(self) -> list[str]:
        """lines, then one line for the issues not moved because their anchor is not in this
        clone: said only when that set differs from the last one said in this clone (one
        tracker serves many repositories, so another repository's issues are always there)."""
        from exai_git.hookstate import not_here_changed

        if not not_here_changed(self.repo, self.not_here):
            return self.lines
        n = len(self.not_here)
        return [*self.lines, (
            f"{n} open issues' locations are at commits this clone does not have; not moved "
            "(issues of another repository, or commits not fetched)" if n != 1 else
            f"{self.not_here[0]}: its location is at a commit this clone does not have; not "
            "moved (an issue of another repository, or a commit not fetched)")]


def move_locations(conn: psycopg.Connection[Any], repo: Repo, old_head: str | None,
                   new_head: str, prefix: str) -> list[str]:
    """Move open issues' locations from their anchors (NULL: old_head) to new_head, the main
    line's new head, and anchor them there, in a transaction of their own (LocationMove,
    with no work). Returns report lines ("EXAI-1: ...", LocationMove.report)."""
    mover = LocationMove(repo, old_head, new_head, prefix)
    with conn.transaction():
        mover.read(conn, [])
        mover.write(conn, None)
    return mover.report()


def anchor_new_issues(conn: psycopg.Connection[Any], head: str) -> int:
    """Anchor at head (the main line's head before this reconciliation) the open issues
    filed without an anchor. How many were anchored."""
    from exai_git import store

    with conn.transaction():
        return store.anchor_unanchored(conn, head)


# --------------------------------------------------------------------------- scanning


def scan_base(repo: Repo, target: str | None) -> str | None:
    """The commit a scan compares against: HEAD for the staged change (None before the
    first commit), the merge base for A..B, the first parent for a revision (None for a
    root commit)."""
    from exai_git.repo import rev_parse_optional

    if target is None:
        return repo.hook_head or rev_parse_optional(repo, "HEAD")
    if ".." in target:
        a, b = target.replace("...", "..").split("..", 1)
        a_sha, b_sha = repo.resolve(a or "HEAD"), repo.resolve(b or "HEAD")
        return repo.merge_base(a_sha, b_sha) or a_sha
    commit = repo.commit(target)
    return commit.parents[0] if commit.parents else None


def issues_at(repo: Repo, issues: Sequence[AnchoredIssue], base: str | None
              ) -> list[AnchoredIssue]:
    """The issues with their lines mapped from their anchors to base: one `git diff` per
    anchor, limited to those issues' files. No anchor, no base, or an anchor this clone
    does not have: the stored lines, as they are. Lines that base no longer has (deleted
    since the anchor): the issue is left out, nothing at base can touch them."""
    from exai_git import diff
    from exai_git import repo as git
    from exai_git.paths import norm_path

    todo = [i for i in issues if base and i.anchor_sha and i.anchor_sha != base and i.line_start]
    if not todo or base is None:
        return list(issues)
    missing = git.missing_commits(repo, [i.anchor_sha for i in todo if i.anchor_sha])
    per_anchor: dict[str, list[FileChange]] = {}
    for anchor in sorted({i.anchor_sha for i in todo if i.anchor_sha} - missing):
        paths = sorted({norm_path(i.file_path) for i in todo if i.anchor_sha == anchor})
        per_anchor[anchor] = git.changes_between(repo, anchor, base,
                                                 [f":(top,literal){p}" for p in paths])
    mapped = {id(i) for i in todo}
    out = []
    for issue in issues:
        changes = per_anchor.get(issue.anchor_sha or "") if id(issue) in mapped else None
        if changes is None:
            out.append(issue)
            continue
        moved = diff.follow(changes, issue.file_path, issue.line_start, issue.line_end)
        if moved.lost:
            continue
        out.append(dataclasses.replace(issue, line_start=moved.line_start,
                                       line_end=moved.line_end))
    return out


def open_issues_touched(conn: psycopg.Connection[Any], repo: Repo, settings: Settings,
                        changes: Sequence[FileChange], base: str | None, *,
                        with_all_paths: bool = False
                        ) -> tuple[list[AnchoredIssue], bool, list[str] | None]:
    """store.open_issues_touched_at() for the scanner, with lines at base, the commit
    compared against (scan_base), so a feature branch is warned about the lines it has."""
    from exai_git import scanner, store

    issues, any_on_paths, every = store.open_issues_touched_at(
        conn, settings, scanner.probe(changes), base, with_all_paths=with_all_paths)
    return issues_at(repo, issues, base), any_on_paths, every
