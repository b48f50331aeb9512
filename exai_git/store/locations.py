"""v2 locations: an issue's lines are lines at its anchor commit (locations.py is the glue)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git.store import _rows
from exai_git.store.connecting import pipelined
from exai_git.store.reads import _ISSUE_FIELDS, _OPEN, _OPEN_PATHS, OpenIssue

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.model import Work


# --------------------------------------------------------------------------- locations
# (v2 locations: an issue's lines are lines at its anchor commit; locations.py is the glue)


@dataclass(frozen=True)
class AnchoredIssue(OpenIssue):
    anchor_sha: str | None = None


# The scanner's query, with the anchor. Per hunk, the issues whose range it overlaps (an
# insertion after line lo overlaps when it falls strictly inside: the range holds both lo and
# lo + 1); the GiST index on (path, exai_line_range) serves it. Issues without lines, and files
# touched whole, by path. Plus: issues on the changed files whose anchor is another commit than
# the one compared against, whatever their stored lines, since those lines are mapped to that
# commit before they are compared. ("Other than" is written as two ranges, which the index of
# sql/008 on (path, anchor) answers; <> is not an index condition.)
_ANCHORED = _ISSUE_FIELDS + ", anchor_sha"
_TOUCHED_AT_SQL = f"""
SELECT t.*, (SELECT coalesce(json_agg(json_build_array(c.step_number, c.status)
                                      ORDER BY c.step_number), '[]'::json)
             FROM exai_issue_checklist c JOIN exai_issues x ON x.id = c.issue_id
             WHERE x.issue_number = t.issue_number) AS steps
FROM (
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NULL
UNION
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(whole)s) AND {_OPEN}
UNION
SELECT {_ANCHORED} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NOT NULL
  AND anchor_sha IS NOT NULL AND (anchor_sha < %(base)s::text OR anchor_sha > %(base)s::text)
UNION
SELECT {_ANCHORED.replace("issue_number", "i.issue_number")}
FROM unnest(%(hp)s::text[], %(hlo)s::int[], %(hhi)s::int[], %(hk)s::int[]) AS h(path, lo, hi, kind)
JOIN LATERAL (
    SELECT * FROM exai_issues i
    WHERE exai_norm_path(i.file_path) = h.path AND {_OPEN} AND i.line_start IS NOT NULL
      AND exai_line_range(i.line_start, i.line_end) && int4range(h.lo, h.hi, '[]')
      AND (h.kind = 0 OR exai_line_range(i.line_start, i.line_end) @> int4range(h.lo, h.lo + 1, '[]'))
) i ON true
) t
ORDER BY t.issue_number
"""


def open_issues_touched_at(
    conn: psycopg.Connection[Any], settings: Settings, probe: Any, base: str | None,
    *, with_all_paths: bool = False,
) -> tuple[list[AnchoredIssue], bool, list[str] | None]:
    """The open issues a change touches (whole-file issues on its paths, line ranges its hunks
    overlap), with each issue's anchor, and with every issue on the changed files whose anchor
    is not base (their lines are mapped to base by the caller)."""
    from psycopg.rows import class_row

    params = {"paths": probe.paths, "whole": probe.whole, "hp": probe.hunk_path,
              "hlo": probe.hunk_lo, "hhi": probe.hunk_hi, "hk": probe.hunk_kind, "base": base}
    all_paths: list[str] | None = None
    with conn.cursor(row_factory=class_row(AnchoredIssue)) as cur, conn.cursor() as any_, \
            conn.cursor() as every:
        with pipelined(conn, settings):
            cur.execute(_TOUCHED_AT_SQL, params)
            any_.execute(
                "SELECT EXISTS (SELECT 1 FROM exai_issues WHERE exai_norm_path(file_path) ="
                f" ANY(%s) AND {_OPEN})", (probe.paths,))
            if with_all_paths:
                every.execute(_OPEN_PATHS)
        issues = cur.fetchall()
        row = any_.fetchone()
        if with_all_paths:
            all_paths = [r[0] for r in every.fetchall()]
    return issues, bool(row and row[0]), all_paths


@dataclass(frozen=True)
class Located:
    id: Any  # uuid
    issue_number: int
    file_path: str
    line_start: int | None
    line_end: int | None
    anchor_sha: str | None
    status: str = "open"


OPEN_STATUSES = ("open", "in_progress")  # _OPEN's statuses


@dataclass(frozen=True)
class Relocation:
    """A main-line move's location work, as the database sees it: issues anchored without an
    anchor are first anchored at anchor (when given); then, when new_head is given, every open
    issue is re-anchored at new_head. Those anchored at old_head (or nowhere) on files that
    old_head..new_head did not change (changed: their normalised old-side paths; None when
    not known) keep their lines, unread; the others are read, their lines mapped by the caller
    (write_locations)."""

    new_head: str | None
    old_head: str | None = None
    changed: Sequence[str] | None = None
    anchor: str | None = None

    @property
    def skips_unchanged(self) -> bool:
        return self.new_head is not None and self.changed is not None and bool(self.old_head)


def lock_locations(conn: psycopg.Connection[Any], works: Sequence[Work], move: Relocation
                   ) -> Callable[[], list[Located]]:
    """Queue (no round trip in a pipeline) one statement that locks, in id order, the issues
    works touch (store.touched) and every open issue the move may write, and reads those whose
    lines the caller maps: open ones, and touched ones of any status (works may reopen
    them), with a file and another anchor than new_head, on a changed file or at another
    anchor. Call it before load_state in the same transaction: one lock order for both, so
    concurrent appliers never deadlock. Returns the fetch of its rows (ordered by number)."""
    from exai_git.store import touched

    chain, chosen, params = touched(works)
    params = {**params, "new": move.new_head, "old": move.old_head, "anchor": move.anchor,
              "changed": list(move.changed or ()), "open": list(OPEN_STATUSES)}
    writes = ("anchor_sha IS DISTINCT FROM %(new)s" if move.new_head
              else "anchor_sha IS NULL" if move.anchor is not None else "false")
    anchor = "coalesce(anchor_sha, %(anchor)s::text)"  # as it is once the unanchored are
    wanted = f"{anchor} IS DISTINCT FROM %(new)s" if move.new_head else "false"
    if move.skips_unchanged:
        wanted += (f" AND NOT (({anchor} = %(old)s OR {anchor} IS NULL)"
                   " AND exai_norm_path(file_path) <> ALL(%(changed)s))")
    cur = conn.cursor()
    cur.execute(
        f"{chain.rstrip()}, picked(id) AS ({chosen}),"
        " locked AS MATERIALIZED (SELECT id, issue_number, file_path, line_start, line_end,"
        "  anchor_sha, status, id IN (SELECT id FROM picked) AS touched FROM exai_issues"
        f"  WHERE id IN (SELECT id FROM picked) OR ({_OPEN} AND {writes}) ORDER BY id FOR UPDATE)"
        " SELECT id, issue_number, file_path, line_start, line_end, anchor_sha, status"
        " FROM locked WHERE file_path IS NOT NULL"
        f" AND (status = ANY(%(open)s) OR touched) AND {wanted}"
        " ORDER BY issue_number", params)

    def fetch() -> list[Located]:
        with cur:
            return [Located(*r) for r in cur.fetchall()]

    return fetch


def write_relocation(conn: psycopg.Connection[Any], move: Relocation, rows: Sequence[Located],
                     comments: Sequence[tuple[Any, str]]) -> None:
    """The move's writes, after the batch's (statuses as they end): anchor the unanchored
    open issues, re-anchor unread those whose lines stay (Relocation), then rows' locations
    and comments (write_locations). No round trip in a pipeline."""
    with conn.cursor() as cur:
        if move.anchor is not None:
            cur.execute(f"UPDATE exai_issues SET anchor_sha = %s WHERE anchor_sha IS NULL"
                        f" AND {_OPEN}", (move.anchor,))
        if move.skips_unchanged:
            cur.execute(
                f"UPDATE exai_issues SET anchor_sha = %s WHERE {_OPEN}"
                " AND (anchor_sha = %s OR anchor_sha IS NULL)"
                " AND exai_norm_path(file_path) <> ALL(%s)",
                (move.new_head, move.old_head, list(move.changed or ())))
    write_locations(conn, rows, comments)


def write_locations(conn: psycopg.Connection[Any], rows: Sequence[Located],
                    comments: Sequence[tuple[Any, str]]) -> None:
    """Set each row's location and anchor, and add the comment update rows: one statement
    each, every row set one JSON parameter."""
    with conn.cursor() as cur:
        if rows:
            cur.execute(
                "UPDATE exai_issues i SET file_path = u.v->>1, line_start = (u.v->>2)::int,"
                " line_end = (u.v->>3)::int, anchor_sha = u.v->>4"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v) WHERE i.id = (u.v->>0)::uuid",
                (_rows([(r.id, r.file_path, r.line_start, r.line_end, r.anchor_sha)
                        for r in rows]),))
        if comments:
            cur.execute(
                "INSERT INTO exai_issue_updates (issue_id, update_type, content)"
                " SELECT (v->>0)::uuid, 'comment', v->>1"
                " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord)"
                " ORDER BY ord", (_rows(list(comments)),))


def anchor_unanchored(conn: psycopg.Connection[Any], head: str) -> int:
    """Anchor the open issues filed without an anchor (by SQL) at head; how many."""
    with conn.cursor() as cur:
        cur.execute(f"WITH u AS (UPDATE exai_issues SET anchor_sha = %s WHERE anchor_sha IS NULL"
                    f" AND {_OPEN} RETURNING 1) SELECT count(*) FROM u", (head,))
        row = cur.fetchone()
        return int(row[0]) if row else 0
