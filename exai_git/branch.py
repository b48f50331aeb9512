"""`exai-git apply --branch NAME [--since REV]`: CI's reconciliation (DESIGN.md). The tracker
keeps the head each repository's branch has been applied through (exai_branch_heads); a run
applies what landed since, undoes what left (a force-push), moves the issue locations with
the branch and records the new head, in one transaction under one advisory lock per
repository and branch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from exai_git.reconcile import MAX_CANDIDATES, landed_works, leaving

if TYPE_CHECKING:
    import psycopg

    from exai_git.config import Settings
    from exai_git.model import Report, Work
    from exai_git.repo import Repo
    from exai_git.store.heads import LinkedCommit

Say = Callable[[str], None]
BRANCH_LOCK_WAIT = 600  # seconds a CI job waits for another on the same branch


def apply_branch(repo: Repo, settings: Settings, name: str, *, since: str | None = None,
                 say: Say) -> Report:
    """`exai-git apply --branch NAME [--since REV]`: reconcile the tracker with NAME (local,
    else origin/NAME) from the head recorded in the tracker for this repository and branch:
    apply what landed, oldest first, undo what left (a force-push), record the new head, all in
    one transaction under one advisory lock per repository and branch. No recorded head: from
    --since REV (REV itself counted as applied), else only the head is recorded. A recorded
    head the clone does not have (force-pushed away, then gc'd; a fresh clone): what left and
    what landed are read from the tracker's links instead (_gone_head), and a linked commit
    the clone does not have is left as it is."""
    from exai_git import landing, locations, store
    from exai_git import repo as git
    from exai_git.apply import apply
    from exai_git.errors import GitError
    from exai_git.model import Report
    from exai_git.store.heads import linked_commits

    git.require_full_history(repo)
    refs = git.read_refs(repo).refs
    ref = landing.branch_ref(refs, name)
    if ref is None:
        raise GitError(f"no branch {name} in this clone (neither {name} nor origin/{name})")
    head = refs[ref]
    base = repo.resolve(since) if since else None
    repository = git.repository(repo, settings.repository)
    with store.connect(settings) as conn:
        with conn.cursor() as cur:
            store.require_schema(cur)
        conn.commit()
        with store.pipeline(conn), store.transaction(conn, settings), conn.cursor() as cur:
            recorded = store.lock_branch_head(cur, repository, name, BRANCH_LOCK_WAIT, settings)
            start = recorded or base
            if start is None:
                store.record_branch_head(cur, repository, name, head)
                say(f"EXAI: {name} starts at {head[:10]} for {repository}; nothing before it is "
                    f"applied: backfill with `exai-git apply A..{head[:10]}` (the commits "
                    "after A)")
                return Report()
            if start == head:
                return Report()
            gone = None
            if recorded is not None and git.missing_commits(repo, [recorded]):
                gone = _gone_head(repo, head, linked_commits(cur, repository))
                say(_gone_line(name, recorded, head, gone))
            works = _branch_works(repo, settings, name, ref, head, start,
                                  known=recorded is not None, gone=gone, conn=conn)
            report = apply(conn, works, settings, in_transaction=True)
            # the branch's head moved start -> head: the issue locations move with it, in
            # the same transaction as the head recorded
            for line in locations.move_locations(conn, repo, start, head, settings.prefix):
                say(f"EXAI: {line}")
            store.record_branch_head(cur, repository, name, head)
    return report


def _branch_works(repo: Repo, settings: Settings, name: str, ref: str, head: str, start: str, *,
                  known: bool, gone: Gone | None = None, conn: psycopg.Connection[Any]
                  ) -> Iterator[Work | int]:
    """What landed on the branch since start, oldest first, streamed like a backfill (the
    commits without markers as counts: backfill.range_works, asking its questions on conn, the
    run's one connection); after a force-push (start is not an ancestor of head) the commits
    that left are undone first.
    gone (the recorded head start is not in the clone): what _gone_head read instead."""
    from exai_git import repo as git
    from exai_git.backfill import range_works

    exclude = [start]
    if gone is not None:
        left, exclude = gone.left, gone.seen
        for c in sorted(left, key=lambda c: c.committed_at, reverse=True):
            yield leaving(c.sha, c.subject, c.committed_at, name, "its old head is gone")
        if not exclude:  # nothing says where the branch has been: applied by hand only
            return
    elif known and (left_shas := list(reversed(git.rev_list(repo, [start], [head])))):
        landed = git.rev_list(repo, [head], [start])
        yield from landed_works(repo, settings, landed, left_shas, branch=name, rewrite_map={},
                                heads={ref: head})
        return
    log = repo.iter_log([head], exclude)
    try:
        yield from range_works(repo, [head], exclude, log, settings, conn=conn)
    finally:
        log.close()


class Gone(NamedTuple):
    """What the tracker's links say when the recorded head is gone from the clone."""

    left: list[LinkedCommit]  # linked commits in force the clone has and no branch reaches
    seen: list[str]  # the branch's linked commits (the newest MAX_CANDIDATES)
    unknown: int  # linked commits in force the clone does not have: left as they are


def _gone_head(repo: Repo, head: str, linked: Sequence[LinkedCommit]) -> Gone:
    """With the recorded head gone, the tracker's links say what left: the commits with links
    in force that the clone has and no branch of it reaches (one on another branch is left
    alone). A commit the clone does not have is unknown, not left: a developer's commit on
    their own main (apply_on = "commit") is linked before it is pushed, and a fresh clone
    never had a commit force-pushed away; its effects are kept. What landed: what head
    reaches and none of its linked commits (the newest MAX_CANDIDATES) do."""
    from exai_git.repo import missing_commits
    from exai_git.repo.landing import reached

    missing = missing_commits(repo, [c.sha for c in linked])
    on_head, off = reached(repo, head, [c.sha for c in linked if c.sha not in missing])
    seen = sorted((c for c in linked if c.sha in on_head), key=lambda c: c.committed_at)
    return Gone([c for c in linked if c.in_force and c.sha in off],
                [c.sha for c in seen][-MAX_CANDIDATES:],
                sum(c.in_force and c.sha in missing for c in linked))


def _gone_line(name: str, recorded: str, head: str, gone: Gone) -> str:
    """The one line a gone head is said in: what is undone, what could not be checked, and
    how to backfill when none of the branch is linked."""
    line = (f"EXAI: the head recorded for {name} ({recorded[:10]}) is not in this clone: "
            f"{len(gone.left)} linked commit(s) no branch has are undone")
    if gone.unknown:
        line += (f"; {gone.unknown} linked commit(s) this clone does not have could not be "
                 "checked, their effects are kept")
    if not gone.seen:
        line += (f"; none of {name} is linked, none applied: backfill with "
                 f"`exai-git apply A..{head[:10]}` (the commits after A)")
    return line
