"""`exai-git apply REV | A..B`: a backfill. One `git log` streams the range, commits without
markers are counted, not built; the rest become work in batches (their patch-ids computed by
git while the next batch is read) that apply.apply takes on the run's one connection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from exai_git.apply import BATCH, apply, commit_parser, work_for

if TYPE_CHECKING:
    import psycopg

    from exai_git import markers
    from exai_git.config import Settings
    from exai_git.model import Report, Work
    from exai_git.repo import Commit, Repo

EMPTY_RUN = 1000  # commits without markers counted together (range_works)


def apply_revs(repo: Repo, spec: str | None, settings: Settings, *,
               progress: Callable[[int], None] | None = None) -> Report:
    """`exai-git apply`: HEAD, one revision, or a range backfilled oldest first."""
    from exai_git import store

    spec = spec or "HEAD"
    works: Iterable[Work | int] = []
    log = None
    if ".." not in spec:
        works = [work_for(repo, repo.commit(spec), settings)]
    else:  # git walks the range while psycopg connects
        include, exclude = repo.range_shas(spec)
        log = repo.iter_log(include, exclude)
    try:
        with store.connect(settings) as conn:
            with conn.cursor() as cur:
                store.require_schema(cur)
            conn.commit()
            if log is not None:  # its linked actions are asked on this connection
                works = range_works(repo, include, exclude, log, settings, conn=conn)
            return apply(conn, works, settings, on_progress=progress)
    finally:
        if log is not None:
            log.close()


def range_works(repo: Repo, include: list[str], exclude: list[str], log: Iterator[Commit],
                settings: Settings, *, conn: psycopg.Connection[Any] | None = None
                ) -> Iterator[Work | int]:
    """Work for each commit of a range, streamed from one `git log` (log, started by the
    caller), as apply() takes it: the commits without markers as counts (an int every
    EMPTY_RUN of them, and one for the rest at the end), the others as Work. Commits whose
    actions are all linked already are reported as such without more work; patch-ids are
    asked for only where a commit has new markers. conn: the connection the works are
    applied on (the linked actions are asked between its batches), else one of its own."""
    import contextlib

    from exai_git import markers, store
    from exai_git.engine import merged_actions
    from exai_git.model import Work

    parse = commit_parser(settings)
    with store.connect(settings) if conn is None else contextlib.nullcontext(conn) as db:
        if db is not conn:
            db.autocommit = True  # reads only: one round trip per question, no BEGIN/COMMIT
        pending: list[tuple[Commit, markers.Parsed]] = []
        started: list[Callable[[], Iterator[Work]]] = []

        def flush() -> Iterator[Work]:
            """Work for the pending commits. Their patch-ids are computed by git in the
            background while the next batch is read; this batch's work is yielded when
            the next one is flushed (the order of the commits that do something is kept)."""
            linked = store.linked_actions(db, [c.sha for c, _ in pending])
            batch: list[Work | tuple[Commit, markers.Parsed]] = []
            for commit, parsed in pending:
                actions = merged_actions(parsed.actions)
                keys = {(a.issue, a.action) for a in actions}
                if (keys and not parsed.reverts
                        and keys <= linked.get(commit.sha, set())):
                    batch.append(Work(commit.sha, commit.subject, commit.committed_at,
                                      applied_before=tuple(markers.describe(a, settings.prefix)
                                                           for a in actions)))
                else:
                    batch.append((commit, parsed))
            marked = [c.sha for c, p in (b for b in batch if isinstance(b, tuple))
                      if (p.actions or p.reverts) and len(c.parents) <= 1]
            patch_ids = repo.start_patch_ids(marked)
            pending.clear()

            def finish() -> Iterator[Work]:
                pids = patch_ids()
                for item in batch:
                    if isinstance(item, Work):
                        yield item
                        continue
                    commit, parsed = item
                    yield work_for(repo, commit, settings, parsed=parsed,
                                   patch_id=pids.get(commit.sha))

            started.append(finish)
            if len(started) > 1:
                yield from started.pop(0)()

        empty = 0  # commits without markers read since the last count
        for commit in log:
            parsed = parse(commit.message)
            if not (parsed.actions or parsed.reverts):
                empty += 1
                if empty >= EMPTY_RUN:
                    yield empty
                    empty = 0
                continue
            pending.append((commit, parsed))
            if len(pending) >= BATCH:
                yield from flush()
        if empty:
            yield empty
        if pending:
            yield from flush()
        while started:
            yield from started.pop(0)()
