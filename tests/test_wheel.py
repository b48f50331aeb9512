"""The package is pure Python: `pip wheel .` gives one py3-none-any wheel that carries the
migrations, and building it compiles nothing."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pip_wheel_gives_one_pure_python_wheel(tmp_path: Path) -> None:
    out = tmp_path / "whl"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q",
                           "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.iterdir()
    assert wheel.name.startswith("exai_git-") and wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        assert "Tag: py3-none-any" in z.read(info).decode().splitlines()
        assert "Root-Is-Purelib: true" in z.read(info).decode()
        sql = sorted(n for n in names if n.startswith("exai_git/sql/"))
        assert sql == sorted(f"exai_git/sql/{p.name}" for p in (ROOT / "sql").glob("*.sql"))
        assert sql and all(n.endswith(".sql") for n in sql)
        assert not [n for n in names if n.endswith((".so", ".pyd", ".c", ".pyi"))]
        assert "exai_git/markers.py" in names and "exai_git/hookmain.py" in names
        assert "exai_git/store/__init__.py" in names and "exai_git/store/reads.py" in names
        assert "exai_git/repo/__init__.py" in names
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = z.read(entry).decode()
        assert "exai-git = exai_git.cli:main" in scripts
        assert "exai-git-hook = exai_git.hookmain:main" in scripts
