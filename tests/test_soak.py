"""Soak (issue 16): 200 commits across 4 repositories sharing one tracker, through the fault
proxy, with the native hooks, while a fault injector cycles the proxy through up, stalled,
refusing and slow. At the end, after one `sync` per repository, every marker of every commit
is applied exactly once (its update row counted) and no commit took longer than the budget
plus a second beyond what a commit costs on this machine when the tracker answers (measured
first, in the same run: a loaded machine slows every process, not only the faulty ones). Bounded: a few minutes at most on two loaded cores."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Database, exai, git, write
from tests.proxy import FaultProxy

REPOS = 4
COMMITS = 50  # per repository: 200 in all
BUDGET = 1.0  # hook_timeout, seconds
CYCLE = ("up", "stalled", "up", "refusing", "up", "slow")
PHASE = 1.5  # seconds each fault lasts
WALL = 220.0  # the whole run stops here, whatever is left (the test then fails)
QUEUED: list[int] = []  # commits whose hooks queued their work (a fault met)

pytestmark = pytest.mark.slow


def _inject(proxy: FaultProxy, stop: threading.Event) -> None:
    """Cycle the proxy through the faults until stopped (bounded by the proxy's lifetime)."""
    proxy.delay = 0.05
    for i in range(int(WALL / PHASE) + 1):
        if stop.wait(PHASE):
            break
        proxy.mode = CYCLE[i % len(CYCLE)]
    proxy.mode = "up"


def _commit_one(repo: Path, index: int, n: int, took: list[float], shas: list[str],
                errors: list[str]) -> bool:
    write(repo / f"f{n % 5}.txt", f"{index} {n}\n")
    git(repo, "add", "-A")
    started = time.monotonic()
    proc = git(repo, "commit", "-qm", f"r{index} c{n}\n\nRefs EXAI-{1 + n % 3}", check=False)
    took.append(time.monotonic() - started)
    if "queued" in proc.stderr:
        QUEUED.append(n)
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        errors.append(f"repo {index} commit {n}: {proc.returncode} {proc.stderr.strip()}")
        return False
    shas.append(git(repo, "rev-parse", "HEAD").stdout.strip())
    return True


def _commit_pairs(repos: list[Path], first: int, deadline: float, took: list[list[float]],
                  shas: list[list[str]], errors: list[str]) -> None:
    """Commit to each of repos in turn (indexes first, first + 2, ...)."""
    for n in range(COMMITS):
        for k, repo in enumerate(repos):
            index = first + 2 * k
            if time.monotonic() > deadline:
                errors.append(f"repo {index}: out of time after {n} commits")
                return
            if not _commit_one(repo, index, n, took[index], shas[index], errors):
                return


def test_soak_200_commits_under_cycling_faults(fault_proxy: FaultProxy, seeded: Database,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", fault_proxy.dsn(seeded.dsn))
    monkeypatch.setenv("EXAI_GIT_HOOK_TIMEOUT", f"{BUDGET:g}")
    repos = []
    for i in range(REPOS):
        repo = tmp_path / f"repo{i}"
        repo.mkdir()
        git(repo, "init", "-q")
        write(repo / "base.txt", "base\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        installed = exai("install", cwd=repo)
        assert installed.returncode == 0, installed.stderr
        repos.append(repo)

    plain: list[float] = []  # what a commit costs here with the tracker up, before any fault
    for i, repo in enumerate(repos):
        assert _commit_one(repo, i, -1, plain, [], [])
    stop = threading.Event()
    injector = threading.Thread(target=_inject, args=(fault_proxy, stop), daemon=True)
    took: list[list[float]] = [[] for _ in repos]
    shas: list[list[str]] = [[] for _ in repos]
    errors: list[str] = []
    deadline = time.monotonic() + WALL
    # two committers at a time, each through two repositories: four would measure how the
    # test's own processes queue for two cores more than how a commit waits for the tracker
    workers = [threading.Thread(target=_commit_pairs, args=(repos[i::2], i, deadline, took,
                                                            shas, errors), daemon=True)
               for i in range(2)]
    injector.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(1.0, deadline - time.monotonic() + 30))
    stop.set()
    injector.join(10)
    fault_proxy.mode = "up"
    assert not errors, errors
    assert sum(len(s) for s in shas) == REPOS * COMMITS

    # the faults did happen to some commits: their work was queued (how many met a refusing
    # proxy rather than a stalled one depends on when the 30 s back-off, shared by the four
    # repositories, ends)
    assert QUEUED, "no commit met a fault"

    for repo in repos:
        synced = exai("sync", cwd=repo, env={"EXAI_GIT_HOOK_TIMEOUT": "10"})
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "Traceback" not in synced.stderr

    every = [sha for per_repo in shas for sha in per_repo]
    rows = dict(seeded.query(
        "SELECT left(content, 10), count(*) FROM exai_issue_updates"
        " WHERE content LIKE '%: referenced' GROUP BY 1"))
    links = dict(seeded.query("SELECT commit_sha, count(*) FROM exai_commit_links"
                              " GROUP BY commit_sha"))
    wrong = {sha[:10]: (rows.get(sha[:10], 0), links.get(sha, 0)) for sha in every
             if rows.get(sha[:10], 0) != 1 or links.get(sha, 0) != 1}
    assert not wrong, f"{len(wrong)} commits not applied exactly once: {wrong}"
    times = sorted(t for per_repo in took for t in per_repo)
    slowest = times[-1]
    bound = BUDGET + 1 + max(plain)
    print(f"soak: {len(times)} commits, median {times[len(times) // 2]:.2f} s, 95th "
          f"{times[len(times) * 95 // 100]:.2f} s, slowest {slowest:.2f} s, over "
          f"{bound:.2f} s: {sum(t > bound for t in times)}, proxy accepted "
          f"{fault_proxy.accepted}")
    assert slowest <= bound, (f"slowest commit {slowest:.2f} s, plain {max(plain):.2f} s",
                                   sorted((t for per in took for t in per), reverse=True)[:10])
