"""PostgreSQL I/O (psycopg 3): connecting, migrations, and one function per query.

Every parameter is bound. Connections use no prepared statements (they must work through
Supabase's transaction pooler) and a short connect timeout (they run inside git hooks).

Here: load_state and write_effects. The other blocks live in submodules and are re-exported:
connecting.py, schema.py (the migrations and the schema check), reads.py (what the CLI
renders, the scanner's query), heads.py (branch heads), locations.py (v2 anchors), hand.py
(new, step, note, mark).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from exai_git.store.connecting import (
    NO_TRACKER,
    connect,
    endpoint,
    pipeline,
    pipelined,
    redact_dsn,
    scrub,
    set_timeouts,
    transaction,
)

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.model import Effects, State, Work

__all__ = [  # every store.NAME; the blocks below "re-exported" live in submodules
    "MIGRATION_LOCK", "NO_TRACKER", "OPEN_STATUSES", "SEVERITY_ORDER", "AnchoredIssue",
    "Located", "Migration", "MigrationState", "OpenIssue", "Relocation", "add_step",
    "anchor_unanchored", "check_schema_version", "connect", "conversation", "endpoint",
    "file_issue", "issue_detail", "issue_for_edit", "issues_to_check", "linked_actions",
    "list_issues", "load_state", "lock_branch_head", "lock_locations", "migrate",
    "migration_status", "migrations", "open_issues_touched_at", "pipeline", "pipelined",
    "record_branch_head", "redact_dsn", "require_schema", "scrub", "set_timeouts", "touched",
    "transaction", "write_effects", "write_locations", "write_relocation",
]

# --------------------------------------------------------------------------- applying

_ISSUE_COLUMNS = ("id, issue_number, status, fix_conversation_id, fix_date, file_path,"
                  " line_start, line_end, created_at")


def touched(works: Sequence[Work]) -> tuple[str, str, dict[str, Any]]:
    """What a batch touches, as SQL: (the WITH clause of the revert chains and repeated
    commits it reaches, a subquery of the issue ids it touches, their parameters). Statements
    that start with the WITH clause may use the subquery."""
    reverted = sorted({s for w in works for s in w.reverts})
    # Every commit whose links the batch may read: its own, the ones it reverts, the ones it
    # is the same work as. Links undone by these (a revert's undoing, applied again when it is
    # reverted in turn), and links moved from them to an equivalent commit, come along.
    named = sorted({w.sha for w in works} | set(reverted)
                   | {e for w in works for e in w.equivalent_of})
    # Revert chains (a revert of a revert of ...): every commit they reach, both ways.
    chain = ("WITH RECURSIVE chain(sha) AS (SELECT unnest(string_to_array(%(named)s, ','))"
             " UNION SELECT CASE WHEN l.commit_sha = c.sha THEN l.effects->>'of'"
             "  ELSE l.commit_sha END FROM exai_commit_links l JOIN chain c"
             "  ON (l.commit_sha = c.sha OR l.undone_by = c.sha)"
             "  WHERE l.action = 'revert' AND l.effects ? 'of'),"
             # a commit that repeated another's markers (cherry-pick) leads to that one
             " same(sha) AS (SELECT jsonb_array_elements_text(effects->'same_as')"
             "  FROM exai_commit_links WHERE commit_sha = ANY(string_to_array(%(named)s, ','))"
             "  AND action = 'rewrite'"
             "  AND effects ? 'same_as') ")
    chosen = ("SELECT id FROM exai_issues WHERE issue_number = ANY(%(numbers)s)"
              " OR id IN (SELECT issue_id FROM exai_commit_links"
              "  WHERE commit_sha IN (SELECT sha FROM chain UNION SELECT sha FROM same))")
    params = {"numbers": sorted({a.issue for w in works for a in w.actions}),
              "named": hex_list(named),
              "pids": hex_list(sorted({w.patch_id for w in works if w.patch_id}))}
    return chain, chosen, params


def hex_list(values: Iterable[str]) -> str:
    """Hex strings (shas, patch-ids) as one text parameter, for string_to_array(%s, ','): the
    driver dumps a list element by element (through anybytes' dumper), a string at once."""
    return ",".join(values)


def load_state(conn: psycopg.Connection[Any], works: Sequence[Work]) -> State:
    """Lock and read what a batch touches: the issues it names (and those its reverts
    reach), their steps and their links to these commits. Inside pipelined(), one round trip:
    the statements name each other's rows by subquery, not by earlier answers. The issues are
    locked in id order, so concurrent appliers never deadlock."""
    from exai_git.model import Issue, Link, State, Step

    chain, chosen, params = touched(works)
    with conn.cursor() as issues_cur, conn.cursor() as steps_cur, conn.cursor() as links_cur:
        issues_cur.execute(f"{chain}SELECT {_ISSUE_COLUMNS} FROM exai_issues"
                           f" WHERE id IN ({chosen}) ORDER BY id FOR UPDATE", params)
        steps_cur.execute(
            f"{chain}SELECT issue_id, step_number, status, conversation_id, completed_at"
            f" FROM exai_issue_checklist WHERE issue_id IN ({chosen})", params)
        links_cur.execute(
            f"{chain}SELECT issue_id, commit_sha, patch_id, action, steps, effects,"
            " conversation_id, repository, subject, committed_at, undone_by, undone_why"
            f" FROM exai_commit_links WHERE issue_id IN ({chosen})"
            " AND (commit_sha IN (SELECT sha FROM chain UNION SELECT sha FROM same)"
            "  OR undone_by IN (SELECT sha FROM chain)"
            "  OR patch_id = ANY(string_to_array(%(pids)s, ','))"
            "  OR (effects ? 'was' AND effects->'was' ?| string_to_array(%(named)s, ','))"
            "  OR (action = 'rewrite' AND commit_sha = ANY(string_to_array(%(named)s, ','))))",
            params)
        issues = {r[1]: Issue(*r) for r in issues_cur.fetchall()}
        by_id = {i.id: i for i in issues.values()}
        for issue_id, n, status, conv, completed in steps_cur.fetchall():
            by_id[issue_id].steps[n] = Step(status, conv, completed)
        links = [Link(r[0], r[1], r[2], r[3], tuple(r[4] or ()), r[5] or {}, *r[6:])
                 for r in links_cur.fetchall()]
    return State(issues, links)


def _rows(rows: Sequence[Sequence[Any]]) -> str:
    """A batch of rows as one JSON array of arrays: one text parameter that the database
    unpacks (jsonb_array_elements), instead of a typed array per column that the driver would
    build element by element, or a statement per row (executemany)."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)  # UUID


def write_effects(conn: psycopg.Connection[Any], effects: Effects) -> None:
    """Write what engine.apply() returned: one statement per table, each row set passed as one
    JSON parameter. Inside pipelined(), no round trip of its own. Links undone are marked
    before links are written, so one undone and applied again in the batch ends in force."""
    with conn.cursor() as cur:
        if effects.undone:
            cur.execute(
                "UPDATE exai_commit_links l SET undone_by = u.v->>3, undone_why = u.v->>4,"
                " undone_at = now() FROM jsonb_array_elements(%s::jsonb) AS u(v)"
                " WHERE l.issue_id = (u.v->>0)::uuid AND l.commit_sha = u.v->>1"
                " AND l.action = u.v->>2",
                (_rows([(lk.issue_id, lk.sha, lk.action, lk.undone_by, lk.undone_why)
                        for lk in effects.undone]),))
        if effects.issues:
            cur.execute(
                "UPDATE exai_issues i SET status = u.v->>1, fix_conversation_id = u.v->>2,"
                " fix_date = (u.v->>3)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v) WHERE i.id = (u.v->>0)::uuid",
                (_rows([(i.id, i.status, i.fix_conversation_id, i.fix_date)
                        for i in effects.issues]),))
        if effects.steps:
            cur.execute(
                "UPDATE exai_issue_checklist c SET status = u.v->>2, conversation_id = u.v->>3,"
                " completed_at = (u.v->>4)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) AS u(v)"
                " WHERE c.issue_id = (u.v->>0)::uuid AND c.step_number = (u.v->>1)::int",
                (_rows([(i, n, s.status, s.conversation_id, s.completed_at)
                        for i, n, s in effects.steps]),))
        if effects.updates:
            cur.execute(
                "INSERT INTO exai_issue_updates (issue_id, update_type, content, conversation_id,"
                " created_at)"
                " SELECT u.issue_id, u.kind, u.content, u.conv,"
                " coalesce(last.at, u.at) + make_interval(secs => u.seq * 1e-6)"
                " FROM (SELECT (v->>0)::uuid AS issue_id, v->>1 AS kind, v->>2 AS content,"
                "  v->>3 AS conv, (v->>4)::timestamptz AS at, (v->>5)::int AS seq, ord"
                "  FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord)) u"
                # git dates commits to the second: an earlier commit's rows in the same second
                # stay before this one's
                " LEFT JOIN LATERAL (SELECT max(x.created_at) AS at FROM exai_issue_updates x"
                "  WHERE x.issue_id = u.issue_id AND x.created_at >= u.at"
                "  AND x.created_at < u.at + interval '1 second') last ON true"
                " ORDER BY u.ord",
                (_rows([(u.issue_id, u.kind, u.content, u.conversation_id, u.at, u.seq)
                        for u in effects.updates]),))
        if effects.links:
            cur.execute(
                "INSERT INTO exai_commit_links (issue_id, commit_sha, patch_id, action, steps,"
                " conversation_id, repository, subject, committed_at, effects, undone_by,"
                " undone_why, undone_at)"
                " SELECT (v->>0)::uuid, v->>1, v->>2, v->>3,"
                " (v->>4)::int[], v->>5, v->>6, v->>7,"
                " (v->>8)::timestamptz, v->9, v->>10, v->>11,"
                " CASE WHEN v->>10 IS NOT NULL THEN now() END"
                " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, ord) ORDER BY ord"
                # a link in force is never written over; an undone one is, when its commit
                # applies again (landed again, or a revert of its revert)
                " ON CONFLICT ON CONSTRAINT exai_commit_links_once DO UPDATE SET"
                " patch_id = EXCLUDED.patch_id, steps = EXCLUDED.steps,"
                " conversation_id = EXCLUDED.conversation_id, effects = EXCLUDED.effects,"
                " applied_at = now(), undone_by = EXCLUDED.undone_by,"
                " undone_why = EXCLUDED.undone_why, undone_at = EXCLUDED.undone_at"
                " WHERE exai_commit_links.undone_by IS NOT NULL",
                (_rows([(lk.issue_id, lk.sha, lk.patch_id, lk.action,
                         "{" + ",".join(map(str, lk.steps)) + "}",  # an int[] literal
                         lk.conversation_id, lk.repository, lk.subject, lk.committed_at,
                         lk.effects, lk.undone_by, lk.undone_why) for lk in effects.links]),))


def issues_to_check(conn: psycopg.Connection[Any], numbers: Sequence[int],
                    settings: Settings) -> dict[int, tuple[str, dict[int, str]]]:
    """{issue number: (status, {step: status})} of those of numbers that exist, as
    engine.check_known() takes them. One round trip."""
    with conn.cursor() as cur:
        with pipelined(conn, settings):
            cur.execute(
                "SELECT i.issue_number, i.status, coalesce(array_agg(c.step_number ORDER BY"
                " c.step_number) FILTER (WHERE c.step_number IS NOT NULL), '{}'),"
                " coalesce(array_agg(c.status ORDER BY c.step_number)"
                " FILTER (WHERE c.step_number IS NOT NULL), '{}')"
                " FROM exai_issues i LEFT JOIN exai_issue_checklist c ON c.issue_id = i.id"
                " WHERE i.issue_number = ANY(%s) GROUP BY i.issue_number, i.status",
                (sorted(numbers),))
        return {r[0]: (r[1], dict(zip(r[2], r[3]))) for r in cur.fetchall()}


def linked_actions(conn: psycopg.Connection[Any], shas: Sequence[str]
                   ) -> dict[str, set[tuple[int, str]]]:
    """(issue number, action) linked to each of shas and in force. An undone link does not
    count: its commit, landed again, applies again (over its own row, sql/006)."""
    if not shas:
        return {}
    out: dict[str, set[tuple[int, str]]] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT l.commit_sha, i.issue_number, l.action FROM exai_commit_links l"
                    " JOIN exai_issues i ON i.id = l.issue_id"
                    " WHERE l.commit_sha = ANY(string_to_array(%s, ','))"
                    " AND l.undone_by IS NULL",
                    (hex_list(shas),))
        for sha, number, action in cur.fetchall():
            out.setdefault(sha, set()).add((number, action))
    return out


# --------------------------------------------------------------------------- re-exported
# The blocks that live in submodules, imported when first asked for (a backfill or a hook
# needs none of them): they use names defined above (_rows, _ISSUE_COLUMNS, the schema check).

if TYPE_CHECKING:
    from exai_git.store.hand import add_step, file_issue, issue_for_edit
    from exai_git.store.heads import lock_branch_head, record_branch_head
    from exai_git.store.locations import (
        OPEN_STATUSES,
        AnchoredIssue,
        Located,
        Relocation,
        anchor_unanchored,
        lock_locations,
        open_issues_touched_at,
        write_locations,
        write_relocation,
    )
    from exai_git.store.reads import (
        SEVERITY_ORDER,
        OpenIssue,
        conversation,
        issue_detail,
        list_issues,
    )
    from exai_git.store.schema import (
        MIGRATION_LOCK,
        Migration,
        MigrationState,
        check_schema_version,
        migrate,
        migration_status,
        migrations,
        require_schema,
    )

_LAZY = {
    **dict.fromkeys(("MIGRATION_LOCK", "Migration", "MigrationState", "check_schema_version",
                     "migrate", "migration_status", "migrations", "require_schema"),
                    "schema"),
    **dict.fromkeys(("add_step", "file_issue", "issue_for_edit"), "hand"),
    **dict.fromkeys(("lock_branch_head", "record_branch_head"), "heads"),
    **dict.fromkeys(("OPEN_STATUSES", "AnchoredIssue", "Located", "Relocation",
                     "anchor_unanchored", "lock_locations", "open_issues_touched_at",
                     "write_locations", "write_relocation"), "locations"),
    **dict.fromkeys(("SEVERITY_ORDER", "OpenIssue", "conversation", "issue_detail",
                     "list_issues"), "reads"),
}


def __getattr__(name: str) -> Any:
    """store.NAME of a submodule's block: imported on first use, then a plain attribute."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
