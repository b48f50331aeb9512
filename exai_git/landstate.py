"""What reconciliation records in the git common dir (MARKERS.md "When a commit counts"): the
heads this clone applied through, a pending location move's start, what a pre-push sent, and
the commits a `merge --squash` staged. These are the record, not hints: heads.json and
squash.json are written durably (fsync, rename); one unreadable counts as absent (heads.json:
the next hook starts afresh, as a clone's first one does)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exai_git.hookstate import STATE_DIR, read_json

if TYPE_CHECKING:
    from exai_git.repo import Repo

# heads.json {"heads": {ref: sha}}; squash.json {branch: {"base": sha, "commits": [sha, ...]}};
# locations.json {"from": sha}; pushed.json {ref: sha}.


def load_heads(common_dir: Path) -> dict[str, str] | None:
    """The heads this clone has applied through; None when it has recorded none (or the file
    is unreadable: then the next hook starts afresh, as a clone's first one does)."""
    data = read_json(common_dir / STATE_DIR / "heads.json")
    heads = data.get("heads") if isinstance(data, dict) else None
    if not isinstance(heads, dict):
        return None
    return {str(k): str(v) for k, v in heads.items()}


def save_heads(common_dir: Path, heads: Mapping[str, str]) -> None:
    _save(common_dir / STATE_DIR / "heads.json", {"heads": dict(sorted(heads.items()))})


# Issue locations (MARKERS.md v2, "Locations") move when the main line moves. When the tracker
# cannot take that move, nothing is queued: issues with an anchor carry their own start
# (`git diff anchor..head`), and issues without one (filed by SQL) must be mapped from the
# main line's head before the first move that was not applied. That head is kept here until
# a reconciliation moves the locations; the first failed move sets it, later ones keep it.

def locations_from(common_dir: Path) -> tuple[str | None] | None:
    """(head,) the main line was at before the first move whose locations are not moved yet
    (head None: the main line did not exist then); None when no move is pending."""
    data = read_json(common_dir / STATE_DIR / "locations.json")
    if not isinstance(data, dict) or "from" not in data:
        return None
    head = data["from"]
    return (str(head) if head else None,)


def save_locations_from(common_dir: Path, head: tuple[str | None] | None) -> None:
    """Record (head,) as the start of the pending location move; None: nothing pending. Best
    effort, like the hooks' other state files: a state directory that cannot be written is
    reported by the outbox, which needs it first, in its own one line."""
    _save_or_remove(common_dir / STATE_DIR / "locations.json",
                    None if head is None else {"from": head[0]})


# With apply_on = "push", pre-push records the heads a push sets as landed before git sends
# it; whether the remote took it shows only later, when its remote-tracking ref moves there
# (or not). pushed.json {ref: sha} keeps those heads until a reconciliation has seen them.

def pushed_heads(common_dir: Path) -> dict[str, str]:
    """The remote-tracking refs the last pre-push recorded as pushed, each at its sha."""
    data = read_json(common_dir / STATE_DIR / "pushed.json")
    return {str(k): str(v) for k, v in (data or {}).items()}


def save_pushed_heads(common_dir: Path, heads: Mapping[str, str]) -> None:
    """Record heads as pushed ({}: none). Best effort, like locations.json: without it an
    undone push says only that its commits left the branch."""
    _save_or_remove(common_dir / STATE_DIR / "pushed.json",
                    dict(sorted(heads.items())) if heads else None)


def record_squash(common_dir: Path, branch: str, base: str, commits: Sequence[str]) -> None:
    """`merge --squash` on branch (HEAD at base) staged commits; the next commit takes them."""
    path = common_dir / STATE_DIR / "squash.json"
    data = read_json(path)
    records = data if isinstance(data, dict) else {}
    if commits:
        records[branch] = {"base": base, "commits": list(commits)}
    else:
        records.pop(branch, None)
    _save(path, records)


def take_squash(common_dir: Path, branch: str, parent: str | None = None) -> tuple[str, ...]:
    """The squashed commits the new commit on branch carries, and forget them. With parent
    (the new commit's first parent): only if it is the head the squash was made on, else the
    squash was abandoned (reset) and is dropped."""
    path = common_dir / STATE_DIR / "squash.json"
    data = read_json(path)
    if not isinstance(data, dict) or branch not in data:
        return ()
    record = data.pop(branch)
    _save(path, data)
    if not isinstance(record, dict) or (parent is not None and record.get("base") != parent):
        return ()
    return tuple(str(c) for c in record.get("commits", ()))


def _save(path: Path, data: object) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_or_remove(path: Path, data: object | None) -> None:
    """_save data, or (None) remove the file; best effort: one that cannot be written is
    skipped, as the hooks' hints are."""
    try:
        if data is None:
            path.unlink(missing_ok=True)
        else:
            _save(path, data)
    except OSError:
        pass


def squash_recorded(repo: Repo) -> bool:
    """A `merge --squash` is remembered for some branch (landing's squash.json)."""
    return bool(read_json(repo.common_dir / STATE_DIR / "squash.json"))
