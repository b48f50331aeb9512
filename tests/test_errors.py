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


def test_a_bad_setting_refuses_a_message_with_markers_it_cannot_check(
        repo: Path, seeded: Database) -> None:
    """Was: the setting's error was printed, and `Fixes EXAI-5 step 0` went in unchecked."""
    msg = repo / "msg"
    env = {**os.environ, "EXAI_GIT_DSN": seeded.dsn, "EXAI_GIT_HOOK_TIMEOUT": "abc"}
    for text, code in (("z\n\nFixes EXAI-5 step 0\n", 1), ("a plain message\n", 0)):
        msg.write_text(text)
        out = subprocess.run([sys.executable, "-m", "exai_git.hookmain", "commit-msg", str(msg)],
                             cwd=repo, capture_output=True, text=True, env=env)
        assert out.returncode == code, (text, out.stderr)
        assert "hook_timeout must be a number of seconds" in one_line(out.stderr)
        assert ("commit refused" in out.stderr) == bool(code)


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


def test_apply_refuses_a_symmetric_range_in_one_line(repo: Path, seeded: Database) -> None:
    for n in (1, 2):
        write(repo / "a", f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"c{n}")
    out = exai("apply", "HEAD~1...HEAD", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 2, out.stdout + out.stderr
    assert one_line(out.stderr) == ("exai-git: HEAD~1...HEAD: apply takes a revision or A..B "
                                    "(the commits after A up to B), not A...B")
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links") == 0


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
        out = subprocess.run(
            ["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "$0" "$@"',
             sys.executable, *args], capture_output=True, text=True,
            env={**os.environ, "EXAI_GIT_DSN": seeded.dsn})
        assert out.returncode == code, out.stderr
        assert one_line(out.stderr).startswith(text)
        gone.mkdir()


# --------------------------------------------------------------------------- the one handler


def interrupted_while_waiting(args: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Start args (a command that connects to the database) against a server that accepts
    and never answers, press Ctrl-C once it waits, and return its exit code and stderr."""
    import signal
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(30)
        dsn = f"postgresql://carol:pw-9x7@127.0.0.1:{listener.getsockname()[1]}/x"
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "EXAI_GIT_DSN": dsn,
                            "EXAI_GIT_CONNECT_TIMEOUT": "60", "EXAI_GIT_HOOK_TIMEOUT": "60"})
        try:
            conn, _ = listener.accept()  # it is waiting for the server's answer now
            with conn:
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_ctrl_c_while_waiting_on_the_database_exits_130_in_one_line() -> None:
    code, err = interrupted_while_waiting(["-m", "exai_git.cli", "issues"])
    assert code == 130, err
    assert one_line(err) == "exai-git: interrupted"
    assert "pw-9x7" not in err


def test_ctrl_c_in_a_hook_exits_130_and_runs_nothing_again(repo: Path) -> None:
    msg = repo / "msg"
    msg.write_text("Fixes EXAI-1 step 2\n")  # a marker: the hook asks the database
    code, err = interrupted_while_waiting(["-m", "exai_git.hookmain", "commit-msg", str(msg)],
                                          cwd=repo)
    assert code == 130, err
    assert one_line(err) == "EXAI: interrupted"
    assert not (repo / ".git" / "exai-git" / "outbox.sqlite3").exists()


def broken_tracker(seeded: Database) -> None:
    """A tracker whose path function fails in a way exai-git does not expect."""
    seeded.query("CREATE OR REPLACE FUNCTION exai_norm_path(p text) RETURNS text"
                 " LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$")
    for setting in ("enable_indexscan", "enable_bitmapscan"):  # so every row calls it
        seeded.query(f'ALTER DATABASE "{seeded.name}" SET {setting} = off')


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """The command line run in this process's own interpreter, whatever launches it."""
    return subprocess.run([sys.executable, "-m", "exai_git.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_an_unexpected_error_is_one_line_naming_the_bug(repo: Path, seeded: Database) -> None:
    for text in ("a\n", "b\n"):  # a change to a file that was there: the scan asks
        write(repo / "a.py", text)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", text)
    # the clone's first reconciliation says once where it starts; the hook below is not first
    assert cli("status", "--dsn", seeded.dsn, cwd=repo).returncode == 0
    broken_tracker(seeded)
    out = cli("scan", "HEAD", "--dsn", seeded.dsn, cwd=repo)
    assert out.returncode == 70, out.stderr
    line = one_line(out.stderr)
    assert line.startswith("exai-git: internal error (RaiseException: boom)")
    assert "bug in exai-git" in line and "EXAI_GIT_DEBUG=1" in line
    debug = cli("scan", "HEAD", "--dsn", seeded.dsn, cwd=repo, env={"EXAI_GIT_DEBUG": "1"})
    assert debug.returncode == 70
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line
    # in a hook the same one line, and the commit goes on
    write(repo / "a.py", "c\n")
    git(repo, "add", "-A")
    hook = subprocess.run([sys.executable, "-m", "exai_git.hookmain", "pre-commit"], cwd=repo,
                          capture_output=True, text=True,
                          env={**os.environ, "EXAI_GIT_DSN": seeded.dsn})
    assert hook.returncode == 0
    assert one_line(hook.stderr).startswith("EXAI: internal error (RaiseException: boom)")


def test_database_errors_map_to_one_line_that_says_what_to_do(db: Database) -> None:
    """Real errors from a real server, classified by the one mapping (errors.from_database)."""
    import psycopg

    from exai_git import errors

    def raised(*statements: str) -> Exception:
        with db.connect(autocommit=True) as holder, db.connect(autocommit=True) as conn:
            holder.execute("BEGIN; LOCK TABLE exai_issues IN ACCESS EXCLUSIVE MODE")
            try:
                for sql in statements:
                    conn.execute(sql)  # type: ignore[arg-type]
            except psycopg.Error as e:
                return e
        raise AssertionError(f"{statements} raised nothing")

    cases = [
        (("SELECT * FROM no_such_table",), 3, "database not ready", "exai-git db migrate"),
        (("SET statement_timeout = 50", "SELECT pg_sleep(2)"), 3, "database too slow",
         "statement timeout"),
        (("SET lock_timeout = 50", "SELECT * FROM exai_issues"), 3, "database too slow",
         "statement timeout"),
        (("SELECT pg_terminate_backend(pg_backend_pid())",), 3, "database unreachable",
         "lost the database connection"),
    ]
    for statements, code, state, text in cases:
        mapped = errors.from_database(raised(*statements))
        assert mapped is not None, statements
        assert (mapped.exit_code, mapped.state) == (code, state), statements
        assert text in str(mapped) and len(str(mapped).splitlines()) == 1, statements
    assert errors.from_database(raised("SELECT 1 / 0")) is None  # not expected: a bug
    assert errors.from_database(ValueError("x")) is None
    assert errors.from_exception(PermissionError(13, "Permission denied", "/x")) is not None
