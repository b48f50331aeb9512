"""Never block a commit, never lose an update, never apply one twice: real processes."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database, exai, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def many_steps(seeded: Database) -> int:
    """Issue with 20 steps; returns its number."""
    issue_id = seeded.scalar("INSERT INTO exai_issues (title, severity) VALUES ('twenty', 'high')"
                             " RETURNING id")
    with seeded.connect() as conn:
        conn.cursor().executemany(
            "INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
            " VALUES (%s, %s, %s)", [(issue_id, n, f"s{n}") for n in range(1, 21)])
    return int(seeded.scalar("SELECT issue_number FROM exai_issues WHERE id = %s", (issue_id,)))


def queue_twenty(repo: Path, number: int, down_dsn: str) -> None:
    assert exai("install", cwd=repo).returncode == 0
    env = {"EXAI_GIT_DSN": down_dsn}
    for n in range(1, 21):
        write(repo / f"f{n}.txt", f"{n}\n")
        git(repo, "add", "-A")
        out = git(repo, "commit", "-q", "-m", f"Fixes EXAI-{number} step {n} conv:{U}", env=env)
        # one line from the commit-msg check, one from post-commit: nothing else
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 2, out.stderr
        assert "checked the markers' syntax only" in lines[0]
        # the first commit's failed connect backs the tracker off: later hooks do not try it
        assert f"; {n} commit{'s' if n > 1 else ''} queued, run `exai-git sync`" in lines[1]
        assert "cannot reach the database at" in lines[0] or "not tried" in lines[1]


def state(db: Database, number: int) -> tuple[object, ...]:
    return (
        db.query("SELECT status, fix_conversation_id FROM exai_issues WHERE issue_number = %s",
                 (number,)),
        db.query("SELECT c.step_number, c.status, c.conversation_id FROM exai_issue_checklist c"
                 " JOIN exai_issues i ON i.id = c.issue_id WHERE i.issue_number = %s"
                 " ORDER BY 1", (number,)),
        db.query("SELECT update_type, content FROM exai_issue_updates ORDER BY content,"
                 " update_type"),
        db.query("SELECT commit_sha, action, steps FROM exai_commit_links ORDER BY 1, 2"),
    )


def test_database_down_then_back(repo: Path, seeded: Database, many_steps: int,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    queue_twenty(repo, many_steps, f"postgresql://u:pw@127.0.0.1:{free_port()}/x")
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 0
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "20"
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    first = exai("sync", cwd=repo)
    assert first.returncode == 0, first.stderr
    assert "20 queued commits replayed, 20 actions applied" in first.stdout
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 20
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = %s",
                         (many_steps,)) == "fixed"
    second = exai("sync", cwd=repo)
    assert "0 queued commits replayed, 0 actions applied" in second.stdout
    assert seeded.scalar("SELECT count(*) FROM exai_issue_updates") == 22


def test_next_hook_run_replays_the_queue(repo: Path, seeded: Database, many_steps: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert exai("install", cwd=repo).returncode == 0
    down = {"EXAI_GIT_DSN": f"postgresql://127.0.0.1:{free_port()}/x"}
    write(repo / "a", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Fixes EXAI-{many_steps} step 1", env=down)
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "b", "b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"Fixes EXAI-{many_steps} step 2")
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 2
    assert "0 queued" in exai("sync", cwd=repo).stdout


class StoppableProxy:
    """A TCP proxy to PostgreSQL that can be stopped, as a server going down mid-run."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


def test_server_stopped_mid_run(repo: Path, seeded: Database, many_steps: int,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(seeded.dsn)
    host = str(params.get("host") or "")
    if not host or host.startswith("/"):
        pytest.skip("the test server listens on a local socket only; the proxy needs TCP")
    proxy = StoppableProxy(int(params.get("port") or 5432))
    via_proxy = make_conninfo(seeded.dsn, host="127.0.0.1", port=str(proxy.port))
    assert exai("install", cwd=repo).returncode == 0
    env = {"EXAI_GIT_DSN": via_proxy}
    for n in range(1, 21):
        if n == 6:
            proxy.stop()
        write(repo / f"f{n}.txt", f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"Fixes EXAI-{many_steps} step {n}", env=env)
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 5
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    out = exai("sync", cwd=repo)
    assert "15 queued commits replayed, 15 actions applied" in out.stdout, out.stdout + out.stderr
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 20


def test_slow_database_hook_returns_and_queues(repo: Path, seeded: Database) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        assert exai("install", cwd=repo).returncode == 0
        write(repo / "a", "a\n")
        git(repo, "add", "-A")
        started = time.monotonic()
        out = git(repo, "commit", "-q", "-m", "Fixes EXAI-2",
                  env={"EXAI_GIT_DSN": f"postgresql://127.0.0.1:{port}/x",
                       "EXAI_GIT_CONNECT_TIMEOUT": "2"})
        elapsed = time.monotonic() - started
    assert "queued" in out.stderr
    # commit-msg check and post-commit each wait at most the 2 s connect timeout
    assert elapsed < 12, elapsed
    assert git(repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"


def test_two_syncs_at_once_apply_each_item_once(repo: Path, seeded: Database, many_steps: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    queue_twenty(repo, many_steps, f"postgresql://127.0.0.1:{free_port()}/x")
    env = {**os.environ, "EXAI_GIT_DSN": seeded.dsn}
    procs = [subprocess.Popen([sys.executable, "-m", "exai_git", "sync"], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 20
    assert seeded.scalar("SELECT count(*) FROM exai_issue_updates WHERE update_type ="
                         " 'fix_applied'") == 20


@pytest.mark.slow
def test_sigkill_during_replay_never_half_applies(repo: Path, seeded: Database, many_steps: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    queue_twenty(repo, many_steps, f"postgresql://127.0.0.1:{free_port()}/x")
    box = repo / ".git" / "exai-git" / "outbox.sqlite3"
    pristine = repo.parent / "outbox.pristine"
    shutil.copy(box, pristine)
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)

    # the reference: one clean apply
    assert exai("sync", cwd=repo).returncode == 0
    expected = state(seeded, many_steps)

    def reset() -> None:
        with seeded.connect() as conn:
            conn.execute("DELETE FROM exai_commit_links")
            conn.execute("DELETE FROM exai_issue_updates")
            conn.execute("UPDATE exai_issue_checklist SET status = 'pending', completed_at = NULL,"
                         " conversation_id = NULL")
            conn.execute("UPDATE exai_issues SET status = 'open', fix_conversation_id = NULL,"
                         " fix_date = NULL")
        for suffix in ("", "-wal", "-shm"):
            Path(str(box) + suffix).unlink(missing_ok=True)
        shutil.copy(pristine, box)

    rng = random.Random(7)
    env = {**os.environ, "EXAI_GIT_DSN": seeded.dsn}
    killed_mid_way = 0
    for _trial in range(30):
        reset()
        proc = subprocess.Popen([sys.executable, "-m", "exai_git", "sync"], cwd=repo, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # one statement, one snapshot: the killed client's COMMIT may still be landing, and
        # counts read one after another could straddle it
        [(links, updates, complete)] = seeded.query(
            "SELECT (SELECT count(*) FROM exai_commit_links),"
            " (SELECT count(*) FROM exai_issue_updates),"
            " (SELECT count(*) FROM exai_issue_checklist WHERE status = 'complete')")
        # all or nothing: the transaction either committed or it did not
        assert (links, complete) in ((0, 0), (20, 20)), (links, complete)
        assert updates in (0, 22)
        killed_mid_way += links == 0
        finish = exai("sync", cwd=repo)
        assert finish.returncode == 0, finish.stderr
        assert state(seeded, many_steps) == expected
    assert killed_mid_way > 0  # some kills landed before the commit
    json.dumps(killed_mid_way)


# --------------------------------------------------------------------------- batches in flight
# apply.apply sends a batch's COMMIT and reads the next batch while it is on its way.


def _works(n: int) -> list[Any]:
    from exai_git.markers import Action
    from exai_git.model import Work

    return [Work(sha * 40, f"step {i}", 1_700_000_000 + i, (Action(1, "fix", (i,)),))
            for i, sha in enumerate("abcdefg"[:n], 1)]


def _linked(db: Database) -> list[str]:
    return [r[0][0] for r in db.query("SELECT commit_sha FROM exai_commit_links ORDER BY 1")]


def test_a_batch_refused_at_commit_stops_the_run_after_the_batches_before_it(
        seeded: Database) -> None:
    import psycopg

    from exai_git import apply

    seeded.query(
        "CREATE FUNCTION refuse_b() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.commit_sha LIKE 'b%' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
        " RETURN NEW; END $$;"
        " CREATE TRIGGER refuse_b BEFORE INSERT ON exai_commit_links"
        " FOR EACH ROW EXECUTE FUNCTION refuse_b()")
    with seeded.connect() as conn, pytest.raises(psycopg.errors.RaiseException, match="refused"):
        apply.apply(conn, _works(3), seeded.settings(), batch_size=1)
    assert _linked(seeded) == ["a"]  # b rolled back whole, c never started
    steps = seeded.query("SELECT step_number, c.status FROM exai_issue_checklist c JOIN exai_issues"
                         " i ON i.id = c.issue_id WHERE i.issue_number = 1 AND step_number <= 3"
                         " ORDER BY 1")
    assert steps == [(1, "complete"), (2, "pending"), (3, "pending")]
    updates = seeded.scalar("SELECT count(*) FROM exai_issue_updates WHERE content LIKE 'b%'")
    assert updates == 0


def test_reading_that_fails_lets_the_batch_in_flight_commit(seeded: Database) -> None:
    from exai_git import apply

    # b's writes take a while: its COMMIT is still on its way when reading fails
    seeded.query(
        "CREATE FUNCTION slow_b() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.commit_sha LIKE 'b%' THEN PERFORM pg_sleep(0.3); END IF;"
        " RETURN NEW; END $$;"
        " CREATE TRIGGER slow_b BEFORE INSERT ON exai_commit_links"
        " FOR EACH ROW EXECUTE FUNCTION slow_b()")

    def works() -> Iterator[Any]:
        yield from _works(2)
        raise RuntimeError("git log died")

    progress: list[int] = []
    with seeded.connect() as conn, pytest.raises(RuntimeError, match="git log died"):
        apply.apply(conn, works(), seeded.settings(), batch_size=1, on_progress=progress.append)
    assert _linked(seeded) == ["a", "b"]
    assert progress == [1]  # a reported; b committed but the run ended before its report


def test_every_batch_is_reported_in_order_once_committed(seeded: Database) -> None:
    from exai_git import apply

    progress: list[int] = []
    with seeded.connect() as conn:
        report = apply.apply(conn, _works(5), seeded.settings(), batch_size=2,
                             on_progress=progress.append)
    assert [c.sha[0] for c in report.commits] == list("abcde")
    assert all(c.applied and not c.errors for c in report.commits)
    assert progress == [2, 2, 1]
    assert _linked(seeded) == list("abcde")


def test_the_next_batch_is_read_while_the_commit_before_it_is_on_its_way(
        seeded: Database) -> None:
    from exai_git import apply

    seeded.query(
        "CREATE FUNCTION slow_a() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.commit_sha LIKE 'a%' THEN PERFORM pg_sleep(1); END IF;"
        " RETURN NEW; END $$;"
        " CREATE TRIGGER slow_a BEFORE INSERT ON exai_commit_links"
        " FOR EACH ROW EXECUTE FUNCTION slow_a()")
    seen_meanwhile: list[tuple[bool, list[str]]] = []

    def a_is_being_written() -> bool:
        """The server is running a's INSERT: its writes were sent, not held back."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if seeded.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                             " current_database() AND state = 'active'"
                             " AND query LIKE 'INSERT INTO exai_commit_links%'"):
                return True
            time.sleep(0.02)
        return False

    def works() -> Iterator[Any]:
        a, b = _works(2)
        yield a
        seen_meanwhile.append((a_is_being_written(), _linked(seeded)))
        yield b

    with seeded.connect() as conn:
        report = apply.apply(conn, works(), seeded.settings(), batch_size=1)
    assert seen_meanwhile == [(True, [])]
    assert [c.sha[0] for c in report.commits] == ["a", "b"]
    assert _linked(seeded) == ["a", "b"]
