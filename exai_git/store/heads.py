"""Branch heads: the advisory lock and the head recorded per repository and branch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from exai_git.store.connecting import set_timeouts

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings


# --------------------------------------------------------------------------- branch heads


def lock_branch_head(cur: psycopg.Cursor[Any], repository: str, branch: str, wait: float,
                     settings: Settings) -> str | None:
    """Inside a transaction: wait (at most `wait` seconds) for the advisory lock of this
    repository and branch, so two `apply --branch` runs never interleave, then read the head
    recorded for them. The transaction's own timeouts apply again afterwards."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (str(int(wait * 1000)),))
    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(wait * 1000)),))
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('exai-git apply --branch'), hashtext(%s))",
                (f"{repository}\n{branch}",))
    set_timeouts(cur, settings)
    cur.execute("SELECT sha FROM exai_branch_heads WHERE repository = %s AND branch = %s",
                (repository, branch))
    row = cur.fetchone()
    return str(row[0]) if row else None


def record_branch_head(cur: psycopg.Cursor[Any], repository: str, branch: str, sha: str) -> None:
    cur.execute(
        "INSERT INTO exai_branch_heads (repository, branch, sha) VALUES (%s, %s, %s)"
        " ON CONFLICT (repository, branch) DO UPDATE SET sha = EXCLUDED.sha, updated_at = now()",
        (repository, branch, sha))


class LinkedCommit(NamedTuple):
    sha: str
    subject: str
    committed_at: int  # unix seconds (0: not recorded)
    # A link of its own work that only a tracked branch gives is in force: not a move or a
    # rewrite record, and not progress, which counts at once from any branch (its commit may
    # be on a branch only a developer has).
    in_force: bool


def linked_commits(cur: psycopg.Cursor[Any], repository: str) -> list[LinkedCommit]:
    """Every commit of this repository the tracker has links of, in force or undone: what
    `apply --branch` has to go on when the head it recorded is gone from the clone."""
    cur.execute(
        "SELECT commit_sha, coalesce(max(subject), ''),"
        " coalesce(max(extract(epoch FROM committed_at)), 0)::bigint,"
        " bool_or(undone_by IS NULL AND action NOT IN ('move', 'rewrite', 'progress'))"
        " FROM exai_commit_links WHERE repository = %s GROUP BY commit_sha", (repository,))
    return [LinkedCommit(str(r[0]), str(r[1]), int(r[2]), bool(r[3])) for r in cur.fetchall()]
