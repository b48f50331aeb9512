"""Issue locations anchored at a commit (MARKERS.md v2, "Locations"): git + store glue.

An issue's file_path/line_start/line_end are lines at its anchor commit (anchor_sha). They
move only when the main line moves: the reconciliation calls move_locations(old head, new
head), which maps them through `git diff anchor..new-head` (renames followed) and re-anchors
them at the new head. Commits elsewhere never move them. The scanner maps them from the
anchor to the commit it compares against (issues_at) before comparing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.repo import Repo
    from exai_git.store import AnchoredIssue, Located

_SHORT = 7


def _where(path: str, start: int | None, end: int | None) -> str:
    if not start:
        return path
    return f"{path}:{start}-{end or start}"


def move_locations(conn: psycopg.Connection[Any], repo: Repo, old_head: str | None,
                   new_head: str, prefix: str) -> list[str]:
    """Move open issues' locations from their anchors (NULL: old_head) to new_head, the main
    line's new head, and anchor them there. One `git diff -M` per distinct anchor; one
    statement for the locations, one for the comment rows. An anchor this clone does not
    have is skipped with a note, never guessed. Returns report lines ("EXAI-1: ...")."""
    from exai_git import diff, store
    from exai_git import repo as git
    from exai_git.paths import norm_path

    if old_head is not None and not old_head.strip("0"):
        old_head = None  # git's null sha: the main line did not exist before
    report: list[str] = []
    changes: dict[str, list[FileChange]] = {}
    missing: set[str] = set()
    if old_head and old_head != new_head:
        missing = git.missing_commits(repo, [old_head])
        if not missing:
            changes[old_head] = git.changes_between(repo, old_head, new_head)
    changed = None if old_head not in changes else \
        sorted({norm_path(c.old_path) for c in changes[old_head] if c.old_path})
    with conn.transaction():
        rows = store.locations_to_move(conn, new_head, old_head, changed)
        anchors = {r.anchor_sha or old_head for r in rows} - {None, new_head, *changes}
        missing |= git.missing_commits(repo, [a for a in anchors if a])
        changes.update((a, git.changes_between(repo, a, new_head))
                       for a in sorted(a for a in anchors if a and a not in missing))
        updates: list[Located] = []
        comments: list[tuple[Any, str]] = []
        renamed = False
        for row in sorted(rows, key=lambda r: r.issue_number):  # locked in id order
            key = f"{prefix}-{row.issue_number}"
            anchor = row.anchor_sha or old_head
            if anchor is None or anchor == new_head:
                updates.append(dataclasses.replace(row, anchor_sha=new_head))
                continue
            if anchor in missing:
                report.append(f"{key}: its location is at commit {anchor[:12]}, which this "
                              "clone does not have (fetch it); location not moved")
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
                report.append(f"{key}: warning: {message}")
                continue
            renamed = renamed or moved.path != row.file_path
            after = _where(moved.path, moved.line_start, moved.line_end)
            if after != before:
                message = f"location moved: {before} -> {after} ({span})"
                comments.append((row.id, message))
                report.append(f"{key}: {message}")
        store.write_locations(conn, updates, comments)
    if renamed:
        from exai_git.hookstate import forget_issue_paths

        forget_issue_paths(repo)  # a rename moved an issue: the scan's path cache is stale
    return report


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
        return rev_parse_optional(repo, "HEAD")
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
                        changes: Sequence[FileChange], target: str | None, *,
                        with_all_paths: bool = False
                        ) -> tuple[list[AnchoredIssue], bool, list[str] | None]:
    """store.open_issues_touched_at() for the scanner, with lines at the commit compared
    against (scan_base), so a feature branch is warned about the lines it has."""
    from exai_git import scanner, store

    base = scan_base(repo, target)
    issues, any_on_paths, every = store.open_issues_touched_at(
        conn, settings, scanner.probe(changes), base, with_all_paths=with_all_paths)
    return issues_at(repo, issues, base), any_on_paths, every
