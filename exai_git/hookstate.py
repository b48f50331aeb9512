"""What one hook leaves the next, in the git common dir, so that a hook with nothing to do
needs no database (and imports no psycopg):

- scan-cache.json: what the pre-commit scan of the staged change found (prepare-commit-msg
  shows it, post-commit knows there is nothing to move, commit-msg checks against the
  issues it read);
- post-commit-quiet: the key of a commit with nothing to apply, for the native post-commit
  hook's shell early exit;
- issue-paths.json: the files open issues sit on, kept for scan_cache_seconds;
- refs-seen: the branches as the last reconciliation left them, for the native landing
  hooks' shell early exit (post-checkout, post-merge, post-rewrite);
- held-progress.json: commits on branches that are not tracked whose progress markers
  counted at once (`status` flags those no branch reaches any more);
- not-here.json: the open issues whose location is at a commit this clone does not have, as
  last said (said again only when they change).

Every file above is a hint: one missing, stale or unreadable only makes a hook do the work
itself. Reconciliation's own record (heads.json, squash.json, locations.json, pushed.json)
is landstate.py's.
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
    from exai_git.repo import Commit, RefSnapshot, Repo

POST_COMMIT_QUIET = "post-commit-quiet"
# How long the commit-msg check may take the scan's reading of an issue for the tracker's:
# the two hooks run within one `git commit`, the message's editor between them.
SCAN_READ_SECONDS = 120
# The scan found issues: commit-msg runs (past its shell early exit) to hint at them when the
# message does not name them.
HINT_PENDING = "hint-pending"
REFS_SEEN = "refs-seen"
# The refs a reconciliation reads, as the native hooks' shell hashes them (install.py).
REFS_ENV = ("EXAI_GIT_BRANCHES", "EXAI_GIT_APPLY_ON")  # settings the shell test also compares
HELD_LIMIT = 200  # held-progress commits remembered
STATE_DIR = "exai-git"  # in the git common dir


def state_dir(repo: Repo) -> Path:
    return repo.common_dir / STATE_DIR


def read_json(path: Path) -> dict[str, Any] | None:
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
        "key": result.diff_key, "staged": _staged_id(repo),
        "issues": result.issues_on_paths, "at": time.time(),
        "findings": [scanner.finding_line(f, settings.prefix) for f in result.findings],
        "first": result.findings[0].issue if result.findings else None,
        "touched": sorted({f.issue for f in result.findings}),
        "read": {"at": time.time(), "source": _tracker_id(settings),
                 "issues": {str(n): [status, sorted(steps.items())]
                            for n, (status, steps) in result.read.items()}}}))
    _replace(state_dir(repo) / HINT_PENDING, "1\n" if result.findings else None)


def issues_read(repo: Repo, settings: Settings, numbers: set[int]
                ) -> dict[int, tuple[str, dict[int, str]]] | None:
    """What the pre-commit scan of the staged change read of these issues (number -> status,
    {step: status}), when it read them all, from this tracker with this prefix, in the last
    SCAN_READ_SECONDS; else None. It spares the commit-msg hook of a marker commit a
    connection of its own to the tracker."""
    data = read_json(state_dir(repo) / "scan-cache.json")
    read = data.get("read") if data else None
    if not isinstance(read, dict) or read.get("source") != _tracker_id(settings):
        return None
    try:
        age = time.time() - float(read.get("at", 0))
    except (TypeError, ValueError):
        return None
    issues = read.get("issues")
    if not isinstance(issues, dict) or not 0 <= age <= SCAN_READ_SECONDS \
            or not all(str(n) in issues for n in numbers):
        return None
    if data is None or not is_scanned_change(repo, data):
        return None  # another change than the one scanned
    try:
        return {n: (str(issues[str(n)][0]), {int(k): str(v) for k, v in issues[str(n)][1]})
                for n in numbers}
    except (TypeError, ValueError, IndexError):
        return None


def is_scanned_change(repo: Repo, data: dict[str, Any]) -> bool:
    """Whether data, what a scan left, is of the change staged now: within one `git commit`
    the same HEAD and the very same index file (git replaces it whole, never in place) say
    so without git; else the key of the staged diff, asked of git, must be the scan's."""
    staged = _staged_id(repo)
    if staged is not None and data.get("staged") == staged:
        return True
    return bool(data.get("key") == changes_key(repo.staged_changes()))


def _staged_id(repo: Repo) -> dict[str, Any] | None:
    """HEAD as the native hook's shell read it, and the index file's identity (device,
    inode, size, modification and change times: a file copied back over it with its times
    kept still changes ctime); None when either is unknown."""
    if repo.hook_head is None:
        return None
    try:
        st = os.stat(os.environ.get("GIT_INDEX_FILE") or repo.git_dir / "index")
    except OSError:
        return None
    return {"head": repo.hook_head,
            "index": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]}


def last_scan(repo: Repo) -> dict[str, Any] | None:
    """What the last pre-commit scan found (`status`), None when none was kept."""
    return read_json(state_dir(repo) / "scan-cache.json")


def cached_scan(repo: Repo, key: str) -> dict[str, Any] | None:
    """What the scan of the change with this key left, if it was the last one scanned."""
    data = read_json(state_dir(repo) / "scan-cache.json")
    return data if data is not None and data.get("key") == key else None


def take_scan(repo: Repo) -> dict[str, Any] | None:
    """What the last scan left, whatever change it was of (check its key before use); the
    hint it left for commit-msg is taken."""
    _replace(state_dir(repo) / HINT_PENDING, None)
    return read_json(state_dir(repo) / "scan-cache.json")


def scan_said_nothing(repo: Repo, key: str) -> bool:
    """The scan of this change found no open issue on its files."""
    data = cached_scan(repo, key)
    return data is not None and data.get("issues") == 0


def mark_post_commit_quiet(repo: Repo, quiet: bool, head: str | None = None) -> None:
    """Tell the native post-commit hook, a shell script, that the commit about to be made
    from the index has nothing to apply or move unless its message names an issue: the scan
    found no open issue on the changed files and nothing is queued. It then starts no Python.

    The file holds Repo.staged_commit_key(), which the script computes again for the commit
    it follows; any other commit (amended, merged, --no-verify, an index changed by another
    hook) does not match it. head: the commit HEAD names, when the caller asked git already.
    """
    key = repo.staged_commit_key(head) if quiet else None
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
        data = read_json(self.path)
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


# --------------------------------------------------------------------------- landing


def refs_seen_line(key: str) -> str:
    """The line the native landing hooks compare: the refs' hash, then the settings from the
    environment that change what is tracked (install.py builds the same in shell)."""
    return " ".join([key, "|".join(os.environ.get(v, "") for v in REFS_ENV)]).strip()


def remember_refs(repo: Repo, settings: Settings) -> None:
    """After a reconciliation: when the recorded heads are the tracked refs of one snapshot of
    the refs, leave its hash for the native hooks (refs as in that snapshot: nothing moved
    since, no Python). The snapshot is the last this process read (the reconciliation's; a
    snapshot of any age will do: refs as they were then, if they are so again, need nothing
    either), else one read now. A hint: when refs moved meanwhile, the next hook's shell
    test does not match and it reconciles; one that cannot be written, likewise."""
    from exai_git.errors import GitError
    from exai_git.landstate import load_heads
    from exai_git.repo import read_refs

    path = state_dir(repo) / REFS_SEEN
    try:
        snap = repo.last_refs or read_refs(repo)
    except GitError:
        snap = None
    if snap is None or load_heads(repo.common_dir) != _tracked(snap, settings):
        _replace(path, None)
        return
    _replace(path, refs_seen_line(snap.key) + "\n")


def reconciled(repo: Repo, settings: Settings) -> bool:
    """The recorded heads are the tracked refs as they are: a reconciliation now finds
    nothing that moved (one for-each-ref)."""
    from exai_git.landstate import load_heads
    from exai_git.repo import read_refs

    return load_heads(repo.common_dir) == _tracked(read_refs(repo), settings)


def _tracked(snap: RefSnapshot, settings: Settings) -> dict[str, str]:
    """The refs a reconciliation tracks in a snapshot: with apply_on = "push" the
    remote-tracking ones only."""
    from exai_git import landing

    names = landing.tracked_names(settings.branches or None, landing.origin_head(snap.symrefs))
    return landing.tracked_refs(snap.refs, names, remote_only=settings.apply_on == "push")


def note_held_progress(repo: Repo, settings: Settings, head: Commit | None = None) -> None:
    """post-commit on a branch that is not tracked: remember HEAD (head: the commit it names,
    when the caller has read it) when its progress markers counted at once, so `status` can
    flag it once no branch reaches it."""
    from exai_git import landing
    from exai_git.msgcheck import parse_message
    from exai_git.repo import head_ref, read_refs

    commit = head or repo.commit("HEAD")
    actions = parse_message(commit.message, settings, None).actions
    if not any(a.action == "progress" for a in actions):
        return
    tracked = _tracked(read_refs(repo), settings)
    ref = head_ref(repo)
    if ref in tracked or commit.sha in tracked.values():
        return
    held = held_progress(repo)
    held[commit.sha] = {"subject": commit.subject, "committed_at": commit.committed_at,
                        "branch": landing.branch_of(ref) if ref else None}
    save_held_progress(repo, dict(list(held.items())[-HELD_LIMIT:]))


def held_progress(repo: Repo) -> dict[str, dict[str, Any]]:
    """sha -> {subject, committed_at, branch} of the held commits whose progress counted."""
    data = read_json(state_dir(repo) / "held-progress.json")
    return {k: v for k, v in (data or {}).items() if isinstance(v, dict)}


def save_held_progress(repo: Repo, held: dict[str, dict[str, Any]]) -> None:
    _replace(state_dir(repo) / "held-progress.json", json.dumps(held) if held else None)


def not_here_changed(repo: Repo, keys: Sequence[str]) -> bool:
    """Whether keys (open issues anchored at commits this clone lacks) are new since last
    said here, recording them (not-here.json; a hint: lost, the line is said again)."""
    path, wanted = state_dir(repo) / "not-here.json", sorted(set(keys))
    if (read_json(path) or {}).get("keys") == wanted:
        return False
    _replace(path, json.dumps({"keys": wanted}) if wanted else None)
    return bool(wanted)
