"""The write commands (new, step, note, mark): hand.py runs them in one transaction each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from exai_git.store import _ISSUE_COLUMNS
from exai_git.store.schema import require_schema

if TYPE_CHECKING:
    import psycopg



# --------------------------------------------------------------------------- by hand
# The write commands (new, step, note, mark): hand.py runs them in one transaction each.

if TYPE_CHECKING:
    from exai_git.model import Issue


def issue_for_edit(conn: psycopg.Connection[Any], number: int
                   ) -> tuple[Issue, dt.datetime]:
    """Lock issue number and read it with its checklist, and the transaction's now() (the
    time a hand change records); CheckFailed when there is no such issue."""
    from exai_git.errors import CheckFailed
    from exai_git.model import Issue, Step

    with conn.cursor() as cur:
        require_schema(cur)
        cur.execute(f"SELECT {_ISSUE_COLUMNS}, now() FROM exai_issues WHERE issue_number = %s"
                    " FOR UPDATE", (number,))
        row = cur.fetchone()
        if row is None:
            raise CheckFailed(f"no issue numbered {number}")
        issue = Issue(*row[:-1])
        cur.execute("SELECT step_number, status, conversation_id, completed_at"
                    " FROM exai_issue_checklist WHERE issue_id = %s ORDER BY step_number",
                    (issue.id,))
        for n, status, conv, completed in cur.fetchall():
            issue.steps[n] = Step(status, conv, completed)
    return issue, row[-1]


def add_step(conn: psycopg.Connection[Any], issue_id: Any, number: int,
             description: str) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                    " VALUES (%s, %s, %s)", (issue_id, number, description))


def file_issue(conn: psycopg.Connection[Any], fields: dict[str, Any], steps: Sequence[str],
               filed: str, anchor_sha: str | None) -> int:
    """Insert an issue (status open), its location's anchor commit (migration 007), its steps
    1..n (pending) and a comment row `filed` with its conversation; its issue number. Call
    inside a transaction."""
    columns = ["title", "description", "severity", "category", "file_path", "line_start",
               "line_end", "conversation_id", "anchor_sha"]
    values = [*(fields.get(c) for c in columns[:-1]), anchor_sha]
    with conn.cursor() as cur:
        require_schema(cur)
        cur.execute(f"INSERT INTO exai_issues ({', '.join(columns)})"  # names are fixed above
                    f" VALUES ({', '.join(['%s'] * len(values))}) RETURNING id, issue_number",
                    values)
        row = cur.fetchone()
        assert row is not None
        issue_id, number = row
        if steps:
            cur.execute("INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                        " SELECT %s, n, d FROM unnest(%s::text[]) WITH ORDINALITY AS s(d, n)",
                        (issue_id, list(steps)))
        cur.execute("INSERT INTO exai_issue_updates (issue_id, update_type, content,"
                    " conversation_id) VALUES (%s, 'comment', %s, %s)",
                    (issue_id, filed, fields.get("conversation_id")))
    return int(number)
