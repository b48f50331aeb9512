"""A pull that lands many commits: how many git processes the reconciliation after it starts,
and how long it takes.

    python bench/pull.py [--commits 2000] [--every 5]

A bare remote gets a generated history (tests.history: every `--every`-th commit fixes a
step); a clone that has reconciled at its first commit pulls the rest and reconciles once,
in this process. Run twice on fresh copies: once with a `git` on PATH that counts its
starts (the count), once without (the time). Needs a PostgreSQL (EXAI_BENCH_DSN, else
EXAI_TEST_DSN, else 127.0.0.1:5432) on which it creates and drops its own database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from exai_git import store
from exai_git.config import Settings
from exai_git.reconcile import reconcile
from exai_git.repo import Repo
from tests.history import fast_import_history, issues_with_steps

SERVER = (os.environ.get("EXAI_BENCH_DSN") or os.environ.get("EXAI_TEST_DSN")
          or "postgresql://postgres@127.0.0.1:5432/postgres")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def counting_git(where: Path) -> tuple[Path, Path]:
    """A directory with a `git` that logs each start, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    where.mkdir()
    log = where / "calls.log"
    shim = where / "git"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    return where, log


def scenario(tmp: Path, commits: int, every: int, count: bool) -> tuple[float, int, int, list[str]]:
    """(seconds, git starts or -1, actions applied, git subcommands started) of one pull."""
    name = f"exai_pull_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(**{**conninfo_to_dict(SERVER), "dbname": name})
    try:
        with psycopg.connect(dsn) as conn:
            store.migrate(conn)
        markers = commits // every
        numbers = issues_with_steps(dsn, 10, markers // 10 + 1)
        gen, remote, clone = tmp / "gen", tmp / "remote.git", tmp / "clone"
        git(tmp, "init", "-q", "-b", "main", str(gen))
        fast_import_history(gen, commits + 1, every, numbers, markers // 10 + 1)
        git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
        git(gen, "push", "-q", str(remote), "main~" + str(commits) + ":refs/heads/main")
        git(tmp, "clone", "-q", str(remote), str(clone))
        settings = Settings(dsn=dsn, dsn_source="bench")
        said: list[str] = []
        reconcile(Repo(clone), settings, hook=None, say=said.append)  # the clone starts here
        git(gen, "push", "-q", str(remote), "main")
        git(clone, "pull", "-q", "--ff-only")
        calls: list[str] = []
        path = os.environ["PATH"]
        if count:
            shim_dir, log = counting_git(tmp / "shim")
            os.environ["PATH"] = f"{shim_dir}{os.pathsep}{path}"
        try:
            t = time.perf_counter()
            report = reconcile(Repo(clone), settings, hook=None, say=said.append)
            took = time.perf_counter() - t
        finally:
            os.environ["PATH"] = path
        if count:
            calls = log.read_text().splitlines()
        applied = report.applied if report is not None else 0
        return took, len(calls) if count else -1, applied, calls
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def subcommand(call: str) -> str:
    """The git subcommand of a logged command line (after the `-c key=value` pairs)."""
    words = call.split()
    while len(words) >= 2 and words[0] == "-c":
        words = words[2:]
    return words[0] if words else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--show-calls", action="store_true")
    args = parser.parse_args()
    for var in ("EXAI_GIT_DSN", "DATABASE_URL", "EXAI_CONVERSATION_ID"):
        os.environ.pop(var, None)
    times = []
    starts = applied = 0
    kinds: dict[str, int] = {}
    for n in range(args.rounds + 1):
        tmp = Path(tempfile.mkdtemp(prefix="exai-pull-"))
        try:
            took, started, done, calls = scenario(tmp, args.commits, args.every, count=n == 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if n == 0:
            starts, applied = started, done
            for call in calls:
                kinds[subcommand(call)] = kinds.get(subcommand(call), 0) + 1
        else:
            times.append(took)
    times.sort()
    print(f"reconcile after a pull of {args.commits} commits ({args.commits // args.every} "
          f"markers): {starts} git processes, {applied} actions applied; "
          f"median {times[len(times) // 2]:.2f} s of {len(times)} rounds "
          f"({', '.join(f'{t:.2f}' for t in times)})")
    if args.show_calls:
        for kind, k in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  {k:6d} git {kind}")


if __name__ == "__main__":
    main()
