"""Faults (issue 16): the fault proxy itself, the outbox under corruption, locks, read-only
files and unappliable work, and settings out of range. Real git, real PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exai_git import config
from exai_git.errors import ConfigError
from tests.conftest import Database, exai, git, write
from tests.proxy import FaultProxy

U = "debb44af-15b9-456d-9b88-6a2519f81427"
DOWN = {"EXAI_GIT_DSN": "postgresql://127.0.0.1:1/x"}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------------------- the proxy


def test_proxy_passes_through_and_counts(fault_proxy: FaultProxy, db: Database) -> None:
    with psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=5) as conn:
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
    assert fault_proxy.accepted == 1


def test_proxy_slow_delays_each_way(fault_proxy: FaultProxy, db: Database) -> None:
    with psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=5) as conn:
        fault_proxy.delay, fault_proxy.mode = 0.3, "slow"
        started = time.monotonic()
        conn.execute("SELECT 1").fetchone()
        assert time.monotonic() - started >= 0.55  # 0.3 s there and 0.3 s back


def test_proxy_stalled_never_answers_a_connect(fault_proxy: FaultProxy, db: Database) -> None:
    fault_proxy.mode = "stalled"
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=2)
    assert 1.5 < time.monotonic() - started < 6
    assert fault_proxy.accepted >= 1


def test_proxy_stall_after_startup_holds_queries_until_up(fault_proxy: FaultProxy,
                                                          db: Database) -> None:
    fault_proxy.mode = "stall_after_startup"
    conn = psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=5, autocommit=True)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(conn.execute("SELECT 7").fetchone()),
                              daemon=True)
    worker.start()
    worker.join(1.0)
    assert worker.is_alive() and not result  # connected, and the query held
    fault_proxy.mode = "up"
    worker.join(5)
    assert result == [(7,)]
    conn.close()


def test_proxy_refusing_and_down(fault_proxy: FaultProxy, db: Database) -> None:
    fault_proxy.mode = "refusing"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=5)
    assert fault_proxy.refused >= 1
    fault_proxy.mode = "down"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((fault_proxy.host, fault_proxy.port), timeout=2).close()
    fault_proxy.mode = "up"
    with psycopg.connect(fault_proxy.dsn(db.dsn), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_proxy_stops_by_itself(pg_server: str) -> None:
    proxy = FaultProxy("127.0.0.1", 5432, lifetime=0.3)
    port = proxy.port
    time.sleep(0.8)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    proxy.stop()


# --------------------------------------------------------------------------- the outbox


def outbox_path(repo: Path) -> Path:
    return repo / ".git" / "exai-git" / "outbox.sqlite3"


def commit(repo: Path, name: str, message: str, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    write(repo / name, f"{name}\n")
    git(repo, "add", "-A")
    return git(repo, "commit", "-qm", message, env=env)


def step_status(db: Database, step: int) -> str:
    return str(db.scalar("SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i"
                         " ON i.id = c.issue_id WHERE i.issue_number = 1 AND c.step_number = %s",
                         (step,)))


def test_proxy_in_front_of_the_hooks(fault_proxy: FaultProxy, hooked_repo: Path,
                                     seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """How the other fault tests use it: the hooks' DSN goes through the proxy."""
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    fault_proxy.mode = "refusing"
    out = commit(hooked_repo, "a", f"Fixes EXAI-1 step 1 conv:{U}")
    assert "1 commit queued" in out.stderr, out.stderr
    assert fault_proxy.refused >= 1
    fault_proxy.mode = "up"
    before = fault_proxy.accepted
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0 and fault_proxy.accepted > before, synced.stderr
    assert step_status(seeded, 1) == "complete"


@pytest.mark.parametrize("damage", ["random-bytes", "truncated"])
def test_corrupt_outbox_is_set_aside_and_commits_keep_applying(
        hooked_repo: Path, seeded: Database, damage: str) -> None:
    commit(hooked_repo, "a", f"Fixes EXAI-1 step 1 conv:{U}", env=DOWN)  # queued
    box = outbox_path(hooked_repo)
    assert box.exists()
    if damage == "random-bytes":
        box.write_bytes(os.urandom(8192))
    else:
        data = box.read_bytes()
        box.write_bytes(data[: len(data) // 2 + 100])
    out = commit(hooked_repo, "b", f"Fixes EXAI-1 step 2 conv:{U}")
    assert "Traceback" not in out.stderr
    assert step_status(seeded, 2) == "complete", out.stderr
    aside = list(box.parent.glob("outbox.sqlite3.corrupt-*"))
    if "set aside" in out.stderr:  # a truncated file may still open: then it was not corrupt
        assert len(aside) == 1 and aside[0].name in out.stderr
    for command in (["sync"], ["doctor"]):
        result = exai(*command, cwd=hooked_repo)
        assert "Traceback" not in result.stdout + result.stderr
    # step 1 was in the damaged queue; its marker is still in the commit: apply recovers it
    assert exai("apply", "HEAD~1", cwd=hooked_repo).returncode == 0
    assert step_status(seeded, 1) == "complete"


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_locked_outbox_costs_a_second_and_the_work_is_synced(hooked_repo: Path, seeded: Database) -> None:
    commit(hooked_repo, "a", "base", env=DOWN)
    exai("sync", cwd=hooked_repo)
    box = outbox_path(hooked_repo)
    box.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(box), "30"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        started = time.monotonic()
        out = commit(hooked_repo, "b", f"Fixes EXAI-1 step 3 conv:{U}", env=DOWN)
        assert time.monotonic() - started < 10, out.stderr  # was 30 s, then a failure
        assert "Traceback" not in out.stderr
        pending = box.with_name("outbox.sqlite3.pending.jsonl")
        assert pending.exists() and str(pending) in out.stderr, out.stderr
    finally:
        holder.kill()
        holder.wait()
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert step_status(seeded, 3) == "complete"
    assert not box.with_name("outbox.sqlite3.pending.jsonl").exists()


def test_unappliable_work_is_kept_as_failed_until_dropped(hooked_repo: Path,
                                                         seeded: Database) -> None:
    out = commit(hooked_repo, "a", f"Fixes EXAI-1 step 99 conv:{U}", env=DOWN)
    assert "queued" in out.stderr
    commit(hooked_repo, "b", f"Fixes EXAI-1 step 4 conv:{U}", env=DOWN)
    first = exai("sync", cwd=hooked_repo)
    assert first.returncode == 1, first.stdout + first.stderr  # was 0, and the work deleted
    failed = [ln for ln in first.stdout.splitlines() if ln.startswith("failed ")]
    assert len(failed) == 1 and "no step 99" in failed[0], first.stdout
    assert step_status(seeded, 4) == "complete"  # the good commit behind it still applied
    item = failed[0].split()[1].rstrip(":")
    again = exai("sync", cwd=hooked_repo)
    assert again.returncode == 1 and f"failed {item}:" in again.stdout
    doctor = exai("doctor", cwd=hooked_repo)
    assert "1 queued commit cannot apply" in doctor.stdout + doctor.stderr
    assert exai("sync", "--drop", "999", cwd=hooked_repo).returncode == 2
    dropped = exai("sync", "--drop", item, cwd=hooked_repo)
    assert dropped.returncode == 0 and f"dropped queued item {item}" in dropped.stdout
    assert exai("sync", cwd=hooked_repo).returncode == 0


def test_work_with_bytes_that_are_not_utf8_is_queued_and_replayed(
        hooked_repo: Path, seeded: Database) -> None:
    bad = hooked_repo / os.fsdecode(b"bad\xff.py")
    bad.write_bytes(b"x\n")
    git(hooked_repo, "add", "-A")
    git(hooked_repo, "commit", "-qm", "add a file whose name is not UTF-8")
    seeded.query("UPDATE exai_issues SET file_path = 'bad.py' WHERE issue_number = 2")
    bad.write_bytes(b"y\n")
    git(hooked_repo, "add", "-A")
    out = git(hooked_repo, "commit", "-qm", f"Fixes EXAI-2 conv:{U}", env=DOWN)
    assert "Traceback" not in out.stderr and "1 commit queued" in out.stderr, out.stderr
    # a message that is not UTF-8 either, applied with the database up: the queue goes first
    (hooked_repo / "msg").write_bytes(f"Fixes EXAI-1 step 5 conv:{U} caf\xe9".encode("latin-1"))
    write(hooked_repo / "c", "c\n")
    git(hooked_repo, "add", "c")
    out = git(hooked_repo, "commit", "-q", "-F", "msg")
    assert "Error" not in out.stderr and "Traceback" not in out.stderr, out.stderr  # was
    # UnicodeEncodeError, twice, and nothing applied or queued after it
    assert step_status(seeded, 5) == "complete", out.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 2") == "fixed"
    synced = exai("sync", cwd=hooked_repo)
    assert synced.returncode == 0 and "0 queued commits" in synced.stdout, synced.stderr


def test_outbox_truncated_mid_table_keeps_what_it_can(tmp_path: Path) -> None:
    from exai_git.model import Work
    from exai_git.outbox import Outbox

    said: list[str] = []
    box = Outbox(tmp_path / "outbox.sqlite3", warn=said.append)
    for n in range(50):
        box.put([Work(f"{n:040x}", f"commit {n}", n)], "down")
    data = box.path.read_bytes()
    box.path.write_bytes(data[: len(data) - 1000])  # opens fine, reads garbage
    items = box.items()
    assert len(said) == 1 and "set aside as" in said[0] and "\n" not in said[0]
    pending, failed = box.counts()
    assert pending == len(items) and pending + failed >= 40  # the rest is in the set-aside file
    assert len(list(tmp_path.glob("outbox.sqlite3.corrupt-*"))) == 1


def test_outbox_lock_costs_a_second_and_spills_to_the_plain_file(tmp_path: Path) -> None:
    import sqlite3

    from exai_git.model import Work
    from exai_git.outbox import Outbox

    said: list[str] = []
    box = Outbox(tmp_path / "outbox.sqlite3", warn=said.append)
    box.put([Work("a" * 40, "first", 1)], "down")
    holder = sqlite3.connect(box.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    box.put([Work("b" * 40, "second", 2)], "down")
    assert time.monotonic() - started < 2.5
    assert said and str(box.pending_file) in said[0]
    assert box.pending_file.exists()
    holder.execute("ROLLBACK")
    holder.close()
    assert [w.sha[0] for _, w in box.items()] == ["a", "b"]  # folded in, in order
    assert not box.pending_file.exists()


def test_outbox_spill_file_loses_no_append_while_folded(tmp_path: Path) -> None:
    from exai_git.model import Work
    from exai_git.outbox import Outbox

    box = Outbox(tmp_path / "outbox.sqlite3", warn=lambda line: None)
    box.put([], "nothing")
    stop = time.monotonic() + 2
    written: list[str] = []

    def writer() -> None:
        n = 0
        while time.monotonic() < stop:
            work = Work(f"{n:040x}", "s", n).to_json()
            box._append_pending(json.dumps({"sha": f"{n:040x}", "work": work, "reason": "r",
                                            "queued_at": 0}) + "\n")
            written.append(f"{n:040x}")
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        box.counts()  # folds
    box.counts()
    assert sorted(w.sha for _, w in box.items()) == sorted(written)


# --------------------------------------------------------------------------- read-only


@pytest.fixture
def bound(hooked_repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A command prefix under which file modes bind: root keeps its uid but loses the
    capabilities that override them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: chmod would not bind")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def run_as(prefix: list[str], repo: Path, *args: str, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "exai_git", *args[1:]] if args[0] == "exai" else list(args)
    return subprocess.run([*prefix, *command], cwd=repo, text=True, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_read_only_outbox_file_keeps_work_next_to_it(
        hooked_repo: Path, bound: list[str], seeded: Database) -> None:
    repo, kw = hooked_repo, bound
    (repo / "a").write_text("a\n")
    run_as(kw, repo, "git", "add", "-A")
    first = run_as(kw, repo, "git", "commit", "-qm", f"Fixes EXAI-1 step 1 conv:{U}", env=DOWN)
    assert first.returncode == 0 and "queued" in first.stderr, first.stderr
    box = outbox_path(repo)
    box.chmod(0o444)
    (repo / "b").write_text("b\n")
    run_as(kw, repo, "git", "add", "-A")
    second = run_as(kw, repo, "git", "commit", "-qm", f"Fixes EXAI-1 step 2 conv:{U}", env=DOWN)
    assert second.returncode == 0 and "Traceback" not in second.stderr
    pending = box.with_name("outbox.sqlite3.pending.jsonl")
    assert pending.exists() and str(pending) in second.stderr, second.stderr
    box.chmod(0o644)
    synced = run_as(kw, repo, "exai", "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert (step_status(seeded, 1), step_status(seeded, 2)) == ("complete", "complete")
    assert not pending.exists()
    leftovers = [p.name for p in box.parent.iterdir() if p.name.endswith(("-shm", "-wal"))]
    assert leftovers == []  # no -shm left read-only (rollback journal, not WAL)


def test_read_only_outbox_directory_says_where_the_work_is(
        hooked_repo: Path, bound: list[str], seeded: Database) -> None:
    repo, kw = hooked_repo, bound
    (repo / "a").write_text("a\n")
    run_as(kw, repo, "git", "add", "-A")
    run_as(kw, repo, "git", "commit", "-qm", "first, queued nothing", env=DOWN)
    run_as(kw, repo, "exai", "sync")
    state = outbox_path(repo).parent
    state.mkdir(exist_ok=True)
    state.chmod(0o555)
    try:
        (repo / "b").write_text("b\n")
        run_as(kw, repo, "git", "add", "-A")
        out = run_as(kw, repo, "git", "commit", "-qm", f"Fixes EXAI-1 step 6 conv:{U}", env=DOWN)
        assert out.returncode == 0, out.stderr
        sha = run_as(kw, repo, "git", "rev-parse", "HEAD").stdout.strip()
        line = [ln for ln in out.stderr.splitlines() if "could not queue" in ln]
        assert f"exai-git apply {sha[:10]}" in out.stderr
        assert len(line) == 1 and sha[:10] in line[0] and "exai-git apply" in line[0], out.stderr
        assert "Traceback" not in out.stderr
    finally:
        state.chmod(0o755)
    applied = run_as(kw, repo, "exai", "apply", sha)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert step_status(seeded, 6) == "complete"


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("key", "value", "message"), [
    pytest.param("connect_timeout", 1, "connect_timeout = 1 is out of range; give 2 to 600 "
                 "whole seconds", id="connect-below-libpq-minimum"),
    pytest.param("connect_timeout", 2.5, "must be in whole seconds", id="connect-rounded"),
    pytest.param("statement_timeout", 0.0005, "statement_timeout = 0.0005 is out of range",
                 id="statement-rounds-to-zero"),
    pytest.param("statement_timeout", 0.0015, "whole milliseconds", id="statement-sub-ms"),
    pytest.param("statement_timeout", 0, "out of range", id="statement-zero"),
    pytest.param("hook_timeout", -1, "hook_timeout = -1 is out of range", id="hook-negative"),
    pytest.param("hook_timeout", 0, "out of range", id="hook-zero"),
    pytest.param("hook_timeout", math.nan, "out of range", id="hook-nan"),
    pytest.param("hook_timeout", math.inf, "out of range", id="hook-inf"),
    pytest.param("hook_timeout", 1e9, "out of range", id="hook-huge"),
    pytest.param("hook_timeout", "5", "wrong type (str)", id="hook-string-in-toml"),
    pytest.param("hook_timeout", True, "wrong type (bool)", id="hook-bool"),
    pytest.param("scan_cache_seconds", -1, "out of range", id="cache-negative"),
])
def test_settings_out_of_range_are_refused(tmp_path: Path, key: str, value: Any,
                                           message: str) -> None:
    if value is True:
        literal = "true"
    elif isinstance(value, float) and not math.isfinite(value):
        literal = "nan" if math.isnan(value) else "inf"
    else:
        literal = repr(value)
    write(tmp_path / ".exai-git.toml", f"{key} = {literal}\n")
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path, env={})
    text = str(caught.value)
    assert text.startswith(".exai-git.toml: ") and message in text and "\n" not in text


@pytest.mark.parametrize(("var", "value"), [
    ("EXAI_GIT_CONNECT_TIMEOUT", "1"), ("EXAI_GIT_STATEMENT_TIMEOUT", "0.0005"),
    ("EXAI_GIT_HOOK_TIMEOUT", "nan"), ("EXAI_GIT_HOOK_TIMEOUT", "soon"),
])
def test_environment_values_name_their_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}: "):
        config.load(None, env={var: value})


def test_valid_settings_are_kept_exactly(tmp_path: Path) -> None:
    write(tmp_path / ".exai-git.toml",
          "connect_timeout = 2\nstatement_timeout = 0.25\nhook_timeout = 1.5\n")
    s = config.load(tmp_path, env={})
    assert (s.connect_timeout, s.statement_timeout, s.hook_timeout) == (2, 0.25, 1.5)
    assert config.load(None, env={}).hook_timeout == 5.0


def test_unknown_settings_warn_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path / ".exai-git.toml", "statment_timeout = 1\n")
    said: list[str] = []
    s = config.load(tmp_path, env={"EXAI_GIT_HOOK_TIMOUT": "3"}, warn=said.append)
    assert s.statement_timeout == 5.0
    assert said == [
        "exai-git: warning: .exai-git.toml: unknown setting 'statment_timeout' ignored; did "
        "you mean 'statement_timeout'?",
        "exai-git: warning: unknown environment variable EXAI_GIT_HOOK_TIMOUT ignored; did "
        "you mean 'EXAI_GIT_HOOK_TIMEOUT'?",
    ]


def test_a_bad_setting_is_one_line_from_the_command(repo: Path) -> None:
    write(repo / ".exai-git.toml", "connect_timeout = 1\n")
    out = exai("issues", cwd=repo)
    assert out.returncode == 2
    assert "connect_timeout = 1 is out of range" in one_line(out.stderr)
