"""What one hook leaves the next, in the git common dir, so that a hook with nothing to do
needs no database (and imports no psycopg):

- scan-cache.json: what the pre-commit scan of the staged change found (prepare-commit-msg
  shows it, post-commit knows there is nothing to move);
- post-commit-quiet: the key of a commit with nothing to apply, for the native post-commit
  hook's shell early exit;
- issue-paths.json: the files open issues sit on, kept for scan_cache_seconds.

Every file is a hint: one missing, stale or unreadable only makes a hook do the work itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.hooks import ScanResult
    from exai_git.repo import Repo

POST_COMMIT_QUIET = "post-commit-quiet"


def state_dir(repo: Repo) -> Path:
    return repo.common_dir / "exai-git"


def _read(path: Path) -> dict[str, Any] | None:
    """A JSON state file, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _replace(path: Path, text: str | None) -> None:
    """Replace (or, with None, remove) a state file atomically; one that cannot be written is
    skipped: the hooks then just do the work the file would have spared them."""
    try:
        if text is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        pass


def _tracker_id(settings: Settings) -> str:
    return hashlib.sha256(repr((settings.dsn, settings.prefix)).encode()).hexdigest()


def changes_key(changes: Sequence[FileChange]) -> str:
    """A key of a change's content: equal for the staged change and the commit made of it."""
    digest = hashlib.sha256()
    for c in changes:
        digest.update(repr((c.status, c.old_path, c.new_path, c.hunks)).encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the scan


def remember_scan(repo: Repo, result: ScanResult, settings: Settings) -> None:
    """Leave what the pre-commit scan found for the prepare-commit-msg and post-commit hooks
    of the same change."""
    from exai_git import scanner

    _replace(state_dir(repo) / "scan-cache.json", json.dumps({
        "key": result.diff_key, "issues": result.issues_on_paths,
        "findings": [scanner.finding_line(f, settings.prefix) for f in result.findings],
        "first": result.findings[0].issue if result.findings else None}))


def cached_scan(repo: Repo, key: str) -> dict[str, Any] | None:
    """What the scan of the change with this key left, if it was the last one scanned."""
    data = _read(state_dir(repo) / "scan-cache.json")
    return data if data is not None and data.get("key") == key else None


def mark_post_commit_quiet(repo: Repo, quiet: bool) -> None:
    """Tell the native post-commit hook, a shell script, that the commit about to be made
    from the index has nothing to apply unless its message names an issue: nothing is queued
    (locations move only when the main line moves, never in post-commit). It then starts no
    Python.

    The file holds Repo.staged_commit_key(), which the script computes again for the commit
    it follows; any other commit (amended, merged, --no-verify, an index changed by another
    hook) does not match it.
    """
    key = repo.staged_commit_key() if quiet else None
    _replace(state_dir(repo) / POST_COMMIT_QUIET, f"{key}\n" if key else None)


# --------------------------------------------------------------------------- issue paths


class IssuePaths:
    """The files open issues sit on, kept for settings.scan_cache_seconds."""

    def __init__(self, repo: Repo, settings: Settings) -> None:
        self.path = state_dir(repo) / "issue-paths.json"
        self.ttl = settings.scan_cache_seconds
        self.source = _tracker_id(settings)

    def load(self) -> set[str] | None:
        if self.ttl <= 0:
            return None
        data = _read(self.path)
        if data is None or data.get("source") != self.source:
            return None
        if not 0 <= time.time() - float(data.get("at", 0)) <= self.ttl:
            return None
        return set(data.get("paths") or [])

    def save(self, paths: list[str]) -> None:
        if self.ttl > 0:
            _replace(self.path, json.dumps({"source": self.source, "at": time.time(),
                                            "paths": paths}))


def forget_issue_paths(repo: Repo) -> None:
    """Issue locations changed (a rename moved one): the next scan asks the database."""
    _replace(state_dir(repo) / "issue-paths.json", None)
