"""v2 locations: an issue's lines are lines at its anchor commit (locations.py is the glue)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git.store import _rows
from exai_git.store.connecting import pipelined
from exai_git.store.reads import _ISSUE_FIELDS, _OPEN, _OPEN_PATHS, OpenIssue

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings


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
# commit before they are compared.
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
  AND anchor_sha IS NOT NULL AND anchor_sha <> %(base)s::text
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


def locations_to_move(conn: psycopg.Connection[Any], new_head: str, old_head: str | None,
                      changed: Sequence[str] | None) -> list[Located]:
    """Open issues with a file whose anchor is not new_head, locked (id order) for the move.
    When changed (the normalised old-side paths of old_head..new_head) is given, the issues
    anchored at old_head (or not at all) on other files are first re-anchored at new_head
    in the database, unread: their lines are the same there."""
    with conn.cursor() as cur:
        if changed is not None and old_head:
            cur.execute(
                f"UPDATE exai_issues SET anchor_sha = %s WHERE {_OPEN}"
                " AND (anchor_sha = %s OR anchor_sha IS NULL)"
                " AND exai_norm_path(file_path) <> ALL(%s)", (new_head, old_head, list(changed)))
        cur.execute(
            "SELECT id, issue_number, file_path, line_start, line_end, anchor_sha"
            f" FROM exai_issues WHERE {_OPEN} AND anchor_sha IS DISTINCT FROM %s"
            " ORDER BY id FOR UPDATE", (new_head,))
        return [Located(*r) for r in cur.fetchall()]


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
