"""The benchmarks stay runnable: a smoke run of the quick B1 (no timing is judged here; the
figures are bench/RESULTS.md's business)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_b1_quick_writes_its_rows(pg_server: str, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "B1", "--out",
         str(out)], env={**os.environ, "EXAI_BENCH_DSN": pg_server}, capture_output=True,
        text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| B1")]
    assert [r.split("|")[1].strip() for r in rows] == [
        "B1 parse", "B1 parse, split", "B1 parse, Python alone", "B1 parse, 1 MB",
        "B1 parse, 1 MB hostile"]
    assert "the bare regex (target 3x)" in rows[0]
