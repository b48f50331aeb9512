"""The read queries the CLI renders, and the scanner's query of open issues touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git.store.connecting import pipelined
from exai_git.store.schema import _SCHEMA_VERSION_SQL, check_schema_version

if TYPE_CHECKING:
    import psycopg



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
