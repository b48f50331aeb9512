"""The benchmarks stay runnable: smoke runs of the quick B1 and B5 (no timing is judged here;
the figures are bench/RESULTS.md's business)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(only: str, dsn: str, out: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", only, "--out",
         str(out)], env={**os.environ, "EXAI_BENCH_DSN": dsn}, capture_output=True,
        text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [line for line in out.read_text().splitlines() if line.startswith(f"| {only}")]


def test_bench_b1_quick_writes_its_rows(pg_server: str, tmp_path: Path) -> None:
    rows = run_bench("B1", pg_server, tmp_path / "RESULTS.md")
    names = [r.split("|")[1].strip() for r in rows]
    assert names[:4] == ["B1 parse", "B1 parse, split", "B1 parse, 1 MB", "B1 parse, hostile"]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert [n.removeprefix("B1 hostile: ") for n in names if n.startswith("B1 hostile: ")] == \
        list(bench.HOSTILE)  # a row for every hostile shape
    assert "the bare regex (target 10x)" in rows[0]


@pytest.mark.slow
def test_bench_b5_counts_connections_and_round_trips_at_the_proxy(pg_server: str,
                                                                   tmp_path: Path) -> None:
    rows = run_bench("B5", pg_server, tmp_path / "RESULTS.md")
    names = [r.split("|")[1].strip() for r in rows]
    for kind in ("(a) no marker", "(b) marker"):
        assert f"B5 far tracker {kind}, whole commit" in names
        assert f"B5 far tracker {kind}, pre-commit" in names
    # a marker commit reaches the tracker: the proxy saw its connections
    whole = next(r for r in rows if r.startswith("| B5 far tracker (b) marker, whole commit"))
    assert " 0 connections" not in whole
