"""The tracker as its users first set it up: three issues and issue 1's seven-step
checklist. Used by `exai-git demo` and by the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

CONVERSATION = "debb44af-15b9-456d-9b88-6a2519f81427"

ISSUES: list[dict[str, Any]] = [
    {
        "title": "AsyncGLM Provider NO Timeout",
        "description": "The AsyncGLM provider creates its client without any timeout, so a "
        "stalled upstream call hangs the request forever.",
        "severity": "critical",
        "category": "timeout",
        "file_path": "src/providers/async_glm.py",
        "line_start": 48,
        "line_end": 51,
        "affected_components": ["AsyncGLMProvider", "ZhipuAI client"],
        "root_cause": "ZhipuAI client initialised without an httpx timeout.",
        "recommended_fix": "Create an httpx.Client from TimeoutConfig and pass it to ZhipuAI, "
        "with max_retries=3.",
    },
    {
        "title": "AsyncKimi Provider 300s Default",
        "description": "AsyncKimi falls back to a 300 second default timeout.",
        "severity": "high",
        "category": "timeout",
        "file_path": "src/providers/async_kimi.py",
        "line_start": 58,
        "line_end": 60,
        "affected_components": ["AsyncKimiProvider"],
    },
    {
        "title": "AsyncProviderConfig Hardcoded",
        "description": "AsyncProviderConfig hardcodes its timeouts instead of reading "
        "TimeoutConfig.",
        "severity": "medium",
        "category": "configuration",
        "file_path": "src/providers/async_base.py",
        "line_start": 19,
        "line_end": 22,
        "affected_components": ["AsyncProviderConfig"],
    },
]

CHECKLIST_1 = [
    "Add import for TimeoutConfig and httpx",
    "Create httpx.Client with timeout configuration",
    "Update ZhipuAI client initialization with timeout",
    "Add max_retries=3 for retry logic",
    "Add proper logging",
    "Test AsyncGLM timeout behavior",
    "Update documentation",
]


def load(conn: psycopg.Connection[Any]) -> list[int]:
    """Insert the seed issues and checklist; returns the new issue numbers."""
    numbers = []
    with conn.transaction(), conn.cursor() as cur:
        for issue in ISSUES:
            columns = list(issue) + ["conversation_id"]
            values = list(issue.values()) + [CONVERSATION]
            placeholders = ", ".join(["%s"] * len(values))
            from psycopg import sql

            cur.execute(
                sql.SQL("INSERT INTO exai_issues ({}) VALUES ({}) RETURNING id, issue_number").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(placeholders)
                ),
                values,
            )
            row = cur.fetchone()
            assert row is not None
            numbers.append(row[1])
            if len(numbers) == 1:
                cur.executemany(
                    "INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                    " VALUES (%s, %s, %s)",
                    [(row[0], n, text) for n, text in enumerate(CHECKLIST_1, start=1)],
                )
    return numbers
