"""Load -> engine -> write: applies commits' work to the tracker, a batch per transaction, and
queues it in the outbox when the database cannot take it. Also builds the work of a commit
(work_for); backfill.py streams a range's work into it.

A batch is one transaction of two round trips: store.load_state (which locks the issues the
batch touches), then engine.apply in memory, and store.write_effects with the COMMIT. A
reconciliation's last step (the main line's location move, Finish) rides in the last batch's
transaction: its locks and reads join the first round trip, its writes the second.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

    from exai_git import markers
    from exai_git.config import Settings
    from exai_git.engine import Check
    from exai_git.markers import Action
    from exai_git.model import CommitResult, Effects, Report, Work
    from exai_git.repo import Commit, Repo

Say = Callable[[str], None]
BATCH = 500


class Finish(Protocol):
    """More work in the last batch's transaction (its own when no batch is left): read queues
    locks and reads before the batch's; write, given the batch's effects (None: no batch),
    queues writes before the COMMIT. A failure rolls the batch back with it."""

    def read(self, conn: psycopg.Connection[Any], works: Sequence[Work]) -> None: ...

    def write(self, conn: psycopg.Connection[Any], effects: Effects | None) -> None: ...


# --------------------------------------------------------------------------- load -> write


def apply(conn: psycopg.Connection[Any], works: Iterable[Work | int], settings: Settings, *,
          batch_size: int = BATCH, on_progress: Callable[[int], None] | None = None,
          in_transaction: bool = False, finish: Finish | None = None) -> Report:
    """Apply works oldest first, a batch per transaction; idempotent. A batch that fails rolls
    back whole and ends the run. An int among works is that many commits read with nothing
    to apply (a backfill's commits without markers: counted, never built into a Work).

    The batches share one pipeline: a batch's writes and COMMIT are sent and not waited for,
    so the database works on them while the next batch is read from git; that batch's first
    answer (its reads and row locks) comes after them. A batch is reported (on_progress) only
    once its COMMIT has been answered. in_transaction: the caller holds one transaction (and
    pipeline) around the whole run (apply --branch records its head in it). finish: the
    run's last step, in the last batch's transaction (Finish)."""
    import contextlib

    from exai_git import engine, store
    from exai_git.model import CommitResult, Report

    report = Report()
    batch: list[Work] = []
    sent: list[tuple[int, list[CommitResult]]] = []  # batches whose COMMIT is on its way

    def committed() -> None:
        for count, results in sent:
            report.commits.extend(results)
            if on_progress:
                on_progress(count)
        sent.clear()

    def flush(last: Finish | None = None) -> None:
        effects = None
        with contextlib.nullcontext() if in_transaction else store.transaction(conn, settings):
            if last is not None:
                last.read(conn, batch)  # its locks first: one lock order with the batch's
            if batch:
                state = store.load_state(conn, batch)  # answered after the batches sent before
                committed()
                effects = engine.apply(state, batch, settings.prefix)
                store.write_effects(conn, effects)
            if last is not None:
                last.write(conn, effects)
        if effects is not None:
            sent.append((len(batch), effects.results))
        batch.clear()

    with contextlib.nullcontext() if in_transaction else store.pipeline(conn):
        for work in works:
            if isinstance(work, int):
                report.read += work
                if on_progress:
                    on_progress(work)
                continue
            report.read += 1
            if work.applied_before:
                report.commits.append(CommitResult(
                    work.sha, work.subject,
                    skipped=[f"{d} (already applied)" for d in work.applied_before]))
            if not work.needs_database:
                if on_progress:
                    on_progress(1)
                continue
            batch.append(work)
            if len(batch) >= batch_size:
                flush()
        if batch or finish is not None:
            flush(finish)
    committed()
    return report


def check(conn: psycopg.Connection[Any], actions: Sequence[Action], settings: Settings) -> Check:
    """What applying actions would do wrong (engine.check_known), against the database. One
    round trip, none when no issue is named."""
    from exai_git import engine, store

    numbers = {a.issue for a in actions}
    known = store.issues_to_check(conn, sorted(numbers), settings) if numbers else {}
    return engine.check_known(known, actions, settings.prefix)


# --------------------------------------------------------------------------- landing


def apply_or_queue(repo: Repo, works: list[Work], settings: Settings, say: Say, *,
                   finish: Finish | None = None) -> Report | None:
    """Apply the queue, oldest first, then works, and say what happened; on an unreachable
    database, queue works instead (durably: the caller may then record its heads). finish:
    the location move, in the last batch's transaction (Finish); never queued itself: when it
    fails the works are queued, and alone its failure is said. Returns what was applied, None
    when nothing was (queued, or nothing to do)."""
    from exai_git import store
    from exai_git.errors import (
        BackedOff,
        DatabaseUnreachable,
        NoTracker,
        SchemaError,
        TrackerTimeout,
        from_database,
    )
    from exai_git.hooks import outbox
    from exai_git.outbox import OutboxError

    box = outbox(repo)
    needed = [w for w in works if w.needs_database]
    try:
        queued = box.items()
    except OutboxError as e:  # queue unreadable (locked): own work must not overtake it
        if needed:
            box.put(needed, str(e))
            say(f"EXAI: {e}; this commit's work is queued, run `exai-git sync`")
        return None
    if not needed and not queued and finish is None:
        return None
    applied = False
    try:
        with store.connect(settings) as conn:
            report = apply(conn, [w for _, w in queued] + needed, settings, finish=finish)
            applied = True
            for item in box.settle(queued, report):  # unappliable work kept as failed
                say(f"EXAI: error: queued work {item.id} ({item.sha[:10]}) cannot apply: "
                    f"{item.reason}; kept as failed (`exai-git sync --drop {item.id}` removes "
                    "it)")
            for line in report_lines(report, settings.prefix):
                say(line)
        return report
    except (BackedOff, NoTracker, TrackerTimeout) as e:  # the budget said why already
        state, reason = str(e), ""
    except DatabaseUnreachable as e:
        state, reason = "database unreachable", str(e)
    except SchemaError as e:
        state, reason = "database not ready", str(e)
    except Exception as e:
        mapped = from_database(e)
        if mapped is None:
            raise
        state, reason = mapped.state, str(mapped)
    if applied:  # the connection failed as it closed: the work is committed
        return report
    if not needed and not queued:  # only finish had anything to do
        say(f"EXAI: {state}; issue locations not moved yet, the next reconciliation moves "
            f"them{f' ({reason})' if reason else ''}")
        return None
    if needed:
        box.put(needed, reason or state)
    total = box.count()
    still = "" if needed else " still"  # nothing new: the queue waits as it did
    say(f"EXAI: {state}; {total} commit{'s' if total != 1 else ''}{still} queued, "
        f"run `exai-git sync`{f' ({reason})' if reason else ''}")
    return None


def sync(repo: Repo, settings: Settings) -> tuple[int, Report]:
    """Replay the queue, oldest first; items leave it only once applied."""
    from exai_git import store
    from exai_git.hooks import outbox
    from exai_git.model import Report

    box = outbox(repo)
    queued = box.items()
    if not queued:
        return 0, Report()
    with store.connect(settings) as conn:
        report = apply(conn, [w for _, w in queued], settings, batch_size=100)
    box.settle(queued, report)  # unappliable work kept as failed, not deleted
    return len(queued), report


def report_lines(report: Report, prefix: str) -> list[str]:
    lines: list[str] = []
    if not any(c.applied or c.warnings or c.errors for c in report.commits):
        return lines  # nothing to say (a backfill run again): render is not even imported
    from exai_git.render import clean

    for c in report.commits:
        for text in c.applied:
            lines.append(f"EXAI: {c.sha[:10]} {clean(text)}")
        for text in c.warnings:
            lines.append(f"EXAI: warning: {c.sha[:10]} {clean(text)}")
        for text in c.errors:
            lines.append(f"EXAI: error: {c.sha[:10]} {clean(text)}")
    return lines


# --------------------------------------------------------------------------- work


def work_for(repo: Repo, commit: Commit, settings: Settings, *,
             parsed: markers.Parsed | None = None, patch_id: str | None = None) -> Work:
    """The work of a landed commit: its actions, the commits it reverts and its patch-id (when
    it has markers). What it did to files is not part of it: issue locations move only when
    the main line moves (locations.move_locations)."""
    from exai_git.model import Work

    parsed = parsed or parse_commit(commit.message, settings)
    reverts = tuple(_resolve_reverts(repo, parsed.reverts)) if parsed.reverts else ()
    if parsed.merge_reverts:
        merges = {m.merge for m in parsed.merge_reverts}
        reverts = tuple(dict.fromkeys(_expand_merges(repo, reverts, merges)))
    if patch_id is None and (parsed.actions or reverts) and len(commit.parents) <= 1:
        patch_id = repo.patch_ids([commit.sha]).get(commit.sha)
    return Work(commit.sha, commit.subject, commit.committed_at, parsed.actions, reverts,
                patch_id, repository_of(repo, settings))


_REPOSITORIES: dict[tuple[str, str | None], str] = {}


def repository_of(repo: Repo, settings: Settings) -> str:
    """The name links are recorded under, the same as `apply --branch` records its heads under
    (the setting, else the normalised origin URL, else the directory name): every clone and CI
    agree. Asked of git once per repository in a process."""
    key = (str(repo.root), settings.repository)
    if key not in _REPOSITORIES:
        from exai_git.repo import repository

        _REPOSITORIES[key] = repository(repo, settings.repository)
    return _REPOSITORIES[key]


def parse_commit(message: str, settings: Settings) -> markers.Parsed:
    """A commit message's markers, as every applier reads them."""
    return commit_parser(settings)(message)


def commit_parser(settings: Settings) -> Callable[[str], markers.Parsed]:
    """parse_commit for many messages: the settings and the environment read once."""
    import functools

    from exai_git import markers

    return functools.partial(markers.parse, prefix=settings.prefix, comment_char=None,
                             env_conversation=os.environ.get("EXAI_CONVERSATION_ID"))


def _resolve_reverts(repo: Repo, shas: Sequence[str]) -> Iterator[str]:
    from exai_git.errors import ExaiError

    for sha in shas:
        try:
            yield repo.resolve(sha)
        except ExaiError:
            if len(sha) in (40, 64):
                yield sha


def _expand_merges(repo: Repo, shas: Iterable[str], merges: set[str]) -> Iterator[str]:
    """Reverting a merge M undoes every commit it brought (M^1..M, M last); merges holds the
    reverted commits the message names as merges (abbreviated or whole)."""
    from exai_git.errors import ExaiError
    from exai_git.repo import merge_brought

    for sha in shas:
        if not any(sha.startswith(m) for m in merges):
            yield sha
            continue
        try:
            yield from merge_brought(repo, sha)
        except ExaiError:
            yield sha
