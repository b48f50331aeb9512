"""Hunk arithmetic. Pure.

A hunk is git's `@@ -old_start,old_count +new_start,new_count @@` with zero context lines.
When a side's count is 0 (a pure insertion or deletion) its start is the line *after which*
the change sits (0 = before the first line), as git writes it.

Lines a..b of the old file are *touched* when a hunk's old side overlaps them, or a pure
insertion falls strictly inside them (after line a and before line b). `remap` says where
lines a..b land in the new file, or None when every one of them was deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int

    @property
    def old_gap_start(self) -> int:
        """The gap (0 = before line 1, k = after line k) where the old side begins."""
        return self.old_start if self.old_count == 0 else self.old_start - 1

    @property
    def old_gap_end(self) -> int:
        return self.old_gap_start + self.old_count

    @property
    def new_gap_start(self) -> int:
        return self.new_start if self.new_count == 0 else self.new_start - 1

    @property
    def new_gap_end(self) -> int:
        return self.new_gap_start + self.new_count

    @property
    def delta(self) -> int:
        return self.new_count - self.old_count


def touched(start: int, end: int, hunks: Iterable[Hunk]) -> list[tuple[int, int]]:
    """The parts of old lines start..end that the hunks touch (old-file line numbers).

    A pure insertion strictly inside the range is reported as the two lines around it.
    """
    if end < start:
        start, end = end, start
    out: list[tuple[int, int]] = []
    for h in hunks:
        if h.old_count == 0:
            if start <= h.old_start < end:
                out.append((h.old_start, h.old_start + 1))
            continue
        lo, hi = h.old_start, h.old_start + h.old_count - 1
        if lo <= end and hi >= start:
            out.append((max(lo, start), min(hi, end)))
    return _merge(out)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _map_gap(gap: int, hunks: Sequence[Hunk], *, side: str) -> int:
    """Where a gap between old lines lands among the new lines.

    side="start": insertions exactly at the gap come before it (they are outside the range);
    a gap strictly inside a changed block maps to the block's new start.
    side="end": insertions exactly at the gap come after it; a gap strictly inside a
    changed block maps to the block's new end.
    """
    shift = 0
    for h in hunks:
        a, b = h.old_gap_start, h.old_gap_end
        if h.old_count == 0:
            if a < gap or (a == gap and side == "start"):
                shift += h.delta
            continue
        if b <= gap:
            shift += h.delta
        elif a < gap < b:
            return h.new_gap_start if side == "start" else h.new_gap_end
    return gap + shift


def remap(start: int, end: int, hunks: Sequence[Hunk]) -> tuple[int, int] | None:
    """Old lines start..end in the new file, or None when all of them were deleted."""
    if end < start:
        start, end = end, start
    ordered = sorted(hunks, key=lambda h: (h.old_gap_start, h.old_count))
    new_start_gap = _map_gap(start - 1, ordered, side="start")
    new_end_gap = _map_gap(end, ordered, side="end")
    if new_end_gap <= new_start_gap:
        return None
    return new_start_gap + 1, new_end_gap


def hunks_from_opcodes(opcodes: Iterable[tuple[str, int, int, int, int]]) -> list[Hunk]:
    """Hunks in git's convention from difflib.SequenceMatcher opcodes."""
    out = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            continue
        out.append(Hunk(i1 + 1 if i2 > i1 else i1, i2 - i1, j1 + 1 if j2 > j1 else j1, j2 - j1))
    return out
