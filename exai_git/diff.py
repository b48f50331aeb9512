"""Parse one `git diff --raw -p -z -U0 -M` stream into file changes. Pure.

The raw section (NUL-separated, so any path is exact) gives status and paths; the patch
section, in the same order, gives each file's hunks. Only hunk headers are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from exai_git.ranges import Hunk, remap

_STATUS = {
    "A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied",
    "T": "type_change", "U": "unmerged", "X": "unknown",
}
_HUNK_RE = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
GITLINK = "160000"


@dataclass(frozen=True)
class FileChange:
    status: str
    old_path: str | None
    new_path: str | None
    old_mode: str
    new_mode: str
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False
    similarity: int | None = None

    @property
    def path(self) -> str:
        """The path the change is known by before it (old side, else new)."""
        return self.old_path or self.new_path or ""

    @property
    def submodule(self) -> bool:
        return GITLINK in (self.old_mode, self.new_mode)

    @property
    def mode_changed(self) -> bool:
        return self.status == "modified" and self.old_mode != self.new_mode


def _path(raw: bytes) -> str:
    return os.fsdecode(raw)


def parse(data: bytes) -> list[FileChange]:
    """File changes of a `git diff --raw -p -z -U0` output."""
    entries: list[dict[str, object]] = []
    pos = 0
    n = len(data)
    while pos < n and data[pos : pos + 1] == b":":
        meta_end = data.index(b"\0", pos)
        meta = data[pos + 1 : meta_end].split(b" ")
        old_mode, new_mode = meta[0].decode(), meta[1].decode()
        code = meta[4].decode() if len(meta) > 4 else "X"
        letter = code[:1]
        similarity = int(code[1:]) if code[1:].isdigit() else None
        p1_end = data.index(b"\0", meta_end + 1)
        first = _path(data[meta_end + 1 : p1_end])
        pos = p1_end + 1
        second = None
        if letter in ("R", "C"):
            p2_end = data.index(b"\0", pos)
            second = _path(data[pos:p2_end])
            pos = p2_end + 1
        status = _STATUS.get(letter, "unknown")
        old_path: str | None = first
        new_path: str | None = second if second is not None else first
        if status == "added":
            old_path = None
        elif status == "deleted":
            new_path = None
        entries.append({"status": status, "old_path": old_path, "new_path": new_path,
                        "old_mode": old_mode, "new_mode": new_mode, "similarity": similarity})
    while pos < n and data[pos : pos + 1] == b"\0":
        pos += 1

    chunks = _patch_chunks(data[pos:])
    changes = []
    chunk_iter = iter(chunks)
    pending = next(chunk_iter, None)
    for entry in entries:
        hunks: list[Hunk] = []
        binary = False
        if entry["status"] == "unmerged":
            if pending is not None and pending[0] == "unmerged":
                pending = next(chunk_iter, None)
        elif pending is not None and pending[0] == "diff":
            hunks, binary = pending[1], pending[2]
            pending = next(chunk_iter, None)
        changes.append(FileChange(
            status=str(entry["status"]), old_path=entry["old_path"],  # type: ignore[arg-type]
            new_path=entry["new_path"],  # type: ignore[arg-type]
            old_mode=str(entry["old_mode"]), new_mode=str(entry["new_mode"]),
            hunks=tuple(hunks), binary=binary,
            similarity=entry["similarity"],  # type: ignore[arg-type]
        ))
    return changes


def _patch_chunks(patch: bytes) -> list[tuple[str, list[Hunk], bool]]:
    """(kind, hunks, binary) per file of the patch section, in order."""
    chunks: list[list[object]] = []
    for line in patch.split(b"\n"):
        if line.startswith((b"diff --git ", b"diff --cc ")):
            chunks.append(["diff", [], False])
        elif line.startswith(b"* Unmerged path "):
            chunks.append(["unmerged", [], False])
        elif not chunks:
            continue
        elif line.startswith(b"@@ "):
            m = _HUNK_RE.match(line)
            if m:
                chunks[-1][1].append(Hunk(  # type: ignore[attr-defined]
                    int(m.group(1)), 1 if m.group(2) is None else int(m.group(2)),
                    int(m.group(3)), 1 if m.group(4) is None else int(m.group(4)),
                ))
        elif line.startswith(b"Binary files ") or line == b"GIT binary patch":
            chunks[-1][2] = True
    return [(str(k), h, bool(b)) for k, h, b in chunks]  # type: ignore[misc]


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class Moved:
    """Where a location lands through a diff. lost says why it could not follow ("file
    deleted", "lines deleted"); the location is then given back unchanged."""

    path: str
    line_start: int | None
    line_end: int | None
    lost: str | None = None


def follow(changes: Sequence[FileChange], path: str, line_start: int | None,
           line_end: int | None) -> Moved:
    """A location (path, lines of the old side) through changes: renames followed, lines
    mapped through the file's hunks; a whole-file location (no line_start) follows renames
    only. Binary, submodule and mode-only changes keep the lines."""
    from exai_git.paths import norm_path

    key = norm_path(path)
    same = Moved(path, line_start, line_end)
    change = next((c for c in changes if c.old_path and norm_path(c.old_path) == key), None)
    if change is None or change.status == "added":
        return same
    if change.status == "deleted":
        return Moved(path, line_start, line_end, "file deleted")
    new_path = change.new_path if change.status == "renamed" and change.new_path else path
    if not line_start or change.binary or change.submodule or not change.hunks:
        return Moved(new_path, line_start, line_end)
    end = line_end or line_start
    mapped = remap(line_start, end, change.hunks)
    if mapped is None:
        return Moved(path, line_start, line_end, "lines deleted")
    start, stop = mapped
    return Moved(new_path, start, None if line_end is None and stop == start else stop)
