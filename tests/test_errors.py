"""Every bad input gets a clear one-line error and the contract's exit code; doctor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Database, exai, git, write


def one_line(out: str) -> str:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


def test_malformed_config(repo: Path, db: Database) -> None:
    write(repo / ".exai-git.toml", "prefix = [\n")
    out = exai("issues", "--dsn", db.dsn, cwd=repo)
    assert out.returncode == 2
    assert ".exai-git.toml: not valid TOML" in one_line(out.stderr)
    write(repo / ".exai-git.toml", 'apply_on = "sometimes"\n')
    out = exai("issues", "--dsn", db.dsn, cwd=repo)
    assert "apply_on must be" in one_line(out.stderr)
    write(repo / ".exai-git.toml", 'colour = "blue"\n')
    out = exai("parse", cwd=repo, input="Fixes EXAI-1")  # unknown: warned about, ignored
    assert out.returncode == 0 and "unknown setting 'colour' ignored" in one_line(out.stderr)
    write(repo / ".exai-git.toml", 'prefix = "EX-AI"\n')
    assert "prefix 'EX-AI'" in one_line(exai("issues", cwd=repo).stderr)


def test_pyproject_table_is_read(repo: Path, seeded: Database) -> None:
    write(repo / "pyproject.toml", '[project]\nname = "x"\n\n[tool.exai-git]\nprefix = "bug"\n')
    out = exai("parse", "--json", cwd=repo, input="Fixes BUG-2 and EXAI-3")
    assert '"issue": 2' in out.stdout and '"issue": 3' not in out.stdout


def test_unknown_prefix(seeded: Database) -> None:
    out = exai("show", "BUG-1", "--dsn", seeded.dsn)
    assert out.returncode == 2
    assert "unknown prefix 'BUG'" in one_line(out.stderr)


def test_repository_with_no_commits(repo: Path, seeded: Database) -> None:
    out = exai("apply", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 2
    assert "no commits yet" in one_line(out.stderr)


def test_not_a_repository(tmp_path: Path, seeded: Database) -> None:
    out = exai("apply", "--dsn", seeded.dsn, cwd=tmp_path)
    assert out.returncode == 2 and "not a git repository" in one_line(out.stderr)


def test_revision_that_does_not_exist(repo: Path, seeded: Database) -> None:
    write(repo / "a", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a")
    for args in (["apply", "nope"], ["apply", "nope..HEAD"], ["scan", "v9.9"]):
        out = exai(*args, "--dsn", seeded.dsn, cwd=repo)
        assert out.returncode == 2, out.stderr
        assert "no such revision" in one_line(out.stderr)


def test_detached_head_applies(repo: Path, seeded: Database) -> None:
    write(repo / "a", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Fixes EXAI-2")
    git(repo, "checkout", "-q", "--detach")
    out = exai("apply", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 2") == "fixed"


def test_shallow_clone(repo: Path, seeded: Database, tmp_path: Path) -> None:
    for n in range(3):
        write(repo / "a", f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"Refs EXAI-3 ({n})")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    out = exai("apply", "HEAD", "--dsn", seeded.dsn, cwd=shallow)
    assert out.returncode == 0, out.stderr
    doctor = exai("doctor", "--dsn", seeded.dsn, cwd=shallow)
    assert "shallow clone" in doctor.stdout


def test_database_without_schema(empty_db: Database, repo: Path) -> None:
    write(repo / "a", "a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Fixes EXAI-1")
    out = exai("apply", "--dsn", empty_db.dsn, cwd=repo)
    assert out.returncode == 3
    assert "run `exai-git db migrate`" in one_line(out.stderr)


def test_schema_newer_than_the_tool(db: Database) -> None:
    db.query("INSERT INTO exai_git_migrations (version, name, checksum) VALUES (999, 'x', 'y')")
    out = exai("issues", "--dsn", db.dsn)
    assert out.returncode == 3
    assert "newer than this exai-git" in one_line(out.stderr)
    assert "newer than this exai-git" in one_line(exai("db", "migrate", "--dsn", db.dsn).stderr)


def test_usage_errors_exit_2(seeded: Database) -> None:
    assert exai("nonsense").returncode == 2
    assert exai("context", "1", "--format", "pdf", "--dsn", seeded.dsn).returncode == 2
    assert exai("scan", "--json", "--sarif").returncode == 2


def test_parse_reads_files_and_stdin(tmp_path: Path) -> None:
    msg = tmp_path / "msg"
    msg.write_bytes(b"Fixes EXAI-1 step 3\n\xff\xfe broken bytes\n")
    out = exai("parse", str(msg))
    assert out.returncode == 0 and "EXAI-1: step 3 -> complete" in out.stdout
    bad = exai("parse", "-", input="Fixes EXAI-1 step 0")
    assert bad.returncode == 1 and "steps start at 1" in bad.stdout
    missing = exai("parse", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "cannot read" in one_line(missing.stderr)


def test_doctor(repo: Path, seeded: Database) -> None:
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 0, out.stdout
    assert "ok    schema: version" in out.stdout
    assert "warn  hooks: none installed" in out.stdout
    write(repo / "deploy.yaml", "url: postgresql://app:hunter22@db.example.com/x\n")
    git(repo, "add", "-A")
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 1
    assert "FAIL  secrets: a database password in tracked file(s): deploy.yaml" in out.stdout
    assert "hunter22" not in out.stdout
    down = exai("doctor", "--dsn", "postgresql://127.0.0.1:1/x", cwd=repo)
    assert down.returncode == 1 and "FAIL  database" in down.stdout


def test_a_working_directory_that_is_gone(tmp_path: Path, seeded: Database) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    # the shell steps into the directory, then removes it: its children start inside nothing
    for args, code, text in ((["-m", "exai_git", "issues"], 1, "exai-git: the current "
                              "directory is gone"),
                             (["-m", "exai_git.hookmain", "pre-commit"], 0, "EXAI: the "
                              "current directory is gone")):
        for server in ("1", "0"):
            out = subprocess.run(
                ["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "$0" "$@"',
                 sys.executable, *args], capture_output=True, text=True,
                env={**os.environ, "EXAI_GIT_DSN": seeded.dsn,
                     "EXAI_GIT_HOOK_SERVER": server})
            assert out.returncode == code, out.stderr
            assert one_line(out.stderr).startswith(text)
            gone.mkdir()
