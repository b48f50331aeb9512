"""The read queries the CLI renders, and the scanner's query of open issues touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git.store import _SCHEMA_VERSION_SQL, check_schema_version
from exai_git.store.connecting import pipelined

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings


# --------------------------------------------------------------------------- reading

SEVERITY_ORDER = (
    "CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3"
    " WHEN 'low' THEN 4 ELSE 5 END"
)

_PROGRESS_JOIN = """
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE c.status = 'complete')::int AS completed_steps,
           count(*)::int AS total_steps
    FROM exai_issue_checklist c WHERE c.issue_id = i.id
) p ON true
"""
# Every column of an issue, with its checklist progress as exai_active_issues gives it.
_WITH_PROGRESS = (
    "SELECT i.*, p.completed_steps, p.total_steps,"
    " CASE WHEN p.total_steps = 0 THEN 0::numeric"
    " ELSE round(100.0 * p.completed_steps / p.total_steps, 2) END AS progress_percentage"
    f" FROM exai_issues i {_PROGRESS_JOIN}"
)


def _dict_cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[dict[str, Any]]:
    from psycopg.rows import dict_row

    return conn.cursor(row_factory=dict_row)


def _read_all(conn: psycopg.Connection[Any], queries: list[tuple[str, Any]]
              ) -> list[list[dict[str, Any]]]:
    """The rows of each query, after the schema check, all asked in one round trip."""
    version = conn.cursor()
    cursors = [_dict_cursor(conn) for _ in queries]
    with pipelined(conn, None):
        version.execute(_SCHEMA_VERSION_SQL)
        for cur, (sql, params) in zip(cursors, queries):
            cur.execute(sql, params)
    row = version.fetchone()
    check_schema_version(row[0] if row else -1)
    return [cur.fetchall() for cur in cursors]


def list_issues(conn: psycopg.Connection[Any], *, include_all: bool) -> list[dict[str, Any]]:
    """Issues by severity then number: the active ones, or every one."""
    if include_all:
        sql = f"{_WITH_PROGRESS} ORDER BY {SEVERITY_ORDER}, issue_number"
    else:
        sql = f"SELECT * FROM exai_active_issues ORDER BY {SEVERITY_ORDER}, issue_number"
    return _read_all(conn, [(sql, None)])[0]


def issue_detail(conn: psycopg.Connection[Any], number: int) -> dict[str, Any]:
    """An issue with its checklist, updates (oldest first), linked commits and relations.
    One round trip: the other queries find the issue by its number themselves."""
    this = "(SELECT id FROM exai_issues WHERE issue_number = %(n)s)"
    columns = ("related_issues", "blocks_issues", "blocked_by_issues")
    found, checklist, updates, commits, *related = _read_all(conn, [
        (f"{_WITH_PROGRESS} WHERE i.issue_number = %(n)s", {"n": number}),
        (("SELECT step_number, description, status, conversation_id, completed_at"
         f" FROM exai_issue_checklist WHERE issue_id = {this} ORDER BY step_number"),
         {"n": number}),
        (("SELECT update_type, content, conversation_id, created_at FROM exai_issue_updates"
         f" WHERE issue_id = {this} ORDER BY created_at, id"), {"n": number}),
        (("SELECT commit_sha, action, steps, conversation_id, repository, subject,"
         " committed_at, applied_at, undone_at, undone_why"
         f" FROM exai_commit_links WHERE issue_id = {this}"
         " ORDER BY applied_at, id"), {"n": number}),
        *[(("SELECT issue_number, title, severity, status FROM exai_issues WHERE id = ANY("
           f"coalesce((SELECT {column} FROM exai_issues WHERE issue_number = %(n)s), '{{}}'))"
           " ORDER BY issue_number"), {"n": number}) for column in columns],
    ])
    if not found:
        from exai_git.errors import CheckFailed

        raise CheckFailed(f"no issue numbered {number}")
    return {"issue": found[0], "checklist": checklist, "updates": updates, "commits": commits,
            "relations": dict(zip(columns, related))}


def conversation(conn: psycopg.Connection[Any], conversation_id: str) -> dict[str, Any]:
    """Everything recorded against one conversation id, in one round trip."""
    c = {"c": conversation_id}
    issues, steps, updates, commits = _read_all(conn, [
        (("SELECT issue_number, title, severity, status, file_path, line_start, line_end,"
         " conversation_id = %(c)s AS found_here, fix_conversation_id = %(c)s AS fixed_here"
         " FROM exai_issues WHERE conversation_id = %(c)s OR fix_conversation_id = %(c)s"
         f" ORDER BY {SEVERITY_ORDER}, issue_number"), c),
        (("SELECT i.issue_number, c.step_number, c.description, c.status, c.completed_at"
         " FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
         " WHERE c.conversation_id = %(c)s ORDER BY i.issue_number, c.step_number"), c),
        (("SELECT i.issue_number, u.update_type, u.content, u.created_at"
         " FROM exai_issue_updates u JOIN exai_issues i ON i.id = u.issue_id"
         " WHERE u.conversation_id = %(c)s ORDER BY u.created_at, u.id"), c),
        (("SELECT i.issue_number, l.commit_sha, l.action, l.steps, l.subject, l.applied_at"
         " FROM exai_commit_links l JOIN exai_issues i ON i.id = l.issue_id"
         " WHERE l.conversation_id = %(c)s ORDER BY l.applied_at, l.id"), c),
    ])
    return {"conversation_id": conversation_id, "issues": issues, "steps": steps,
            "updates": updates, "commits": commits}


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class OpenIssue:
    issue_number: int
    title: str
    severity: str
    status: str
    file_path: str
    norm_path: str
    line_start: int | None
    line_end: int | None
    steps: list[list[Any]] | None = None  # [[step_number, status], ...] in order


_ISSUE_FIELDS = ("issue_number, title, severity, status, file_path,"
                 " exai_norm_path(file_path) AS norm_path, line_start, line_end")
_OPEN = "status IN ('open', 'in_progress') AND file_path IS NOT NULL"
_OPEN_PATHS = f"SELECT DISTINCT exai_norm_path(file_path) FROM exai_issues WHERE {_OPEN}"
# Per hunk, the issues whose range it overlaps (an insertion after line lo overlaps when it
# falls strictly inside: the range holds both lo and lo + 1); the GiST index on
# (path, exai_line_range) serves it. Issues without lines, and files touched whole, by path.
_TOUCHED_SQL = f"""
SELECT t.*, (SELECT coalesce(json_agg(json_build_array(c.step_number, c.status)
                                      ORDER BY c.step_number), '[]'::json)
             FROM exai_issue_checklist c JOIN exai_issues x ON x.id = c.issue_id
             WHERE x.issue_number = t.issue_number) AS steps
FROM (
SELECT {_ISSUE_FIELDS} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(paths)s) AND {_OPEN} AND line_start IS NULL
UNION
SELECT {_ISSUE_FIELDS} FROM exai_issues
WHERE exai_norm_path(file_path) = ANY(%(whole)s) AND {_OPEN}
UNION
SELECT {_ISSUE_FIELDS.replace("issue_number", "i.issue_number")}
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


def open_issues_touched(
    conn: psycopg.Connection[Any], settings: Settings, probe: Any,
    *, with_all_paths: bool = False,
) -> tuple[list[OpenIssue], bool, list[str] | None]:
    """Open issues a change may touch (the database filters by line range, so the answer
    grows with the change, not with the tracker) with their checklists, whether any open
    issue sits on the changed files at all, and (when asked) every path an open issue sits
    on. One round trip."""
    from psycopg.rows import class_row

    all_paths: list[str] | None = None
    params = {"paths": probe.paths, "whole": probe.whole, "hp": probe.hunk_path,
              "hlo": probe.hunk_lo, "hhi": probe.hunk_hi, "hk": probe.hunk_kind}
    with conn.cursor(row_factory=class_row(OpenIssue)) as cur, conn.cursor() as any_, \
            conn.cursor() as every:
        with pipelined(conn, settings):
            cur.execute(_TOUCHED_SQL, params)
            any_.execute(
                "SELECT EXISTS (SELECT 1 FROM exai_issues WHERE exai_norm_path(file_path) ="
                " ANY(%s) AND status IN ('open', 'in_progress') AND file_path IS NOT NULL)",
                (probe.paths,))
            if with_all_paths:
                every.execute(_OPEN_PATHS)
        issues = cur.fetchall()
        row = any_.fetchone()
        if with_all_paths:
            all_paths = [r[0] for r in every.fetchall()]
    return issues, bool(row and row[0]), all_paths
