"""The warm hook server: hooks handed to it behave exactly as hooks run in their own process,
it starts only after a hook needed the database, and it never listens where others can reach."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exai_git import hookserver
from tests.conftest import Database, exai, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runtime directory (short: socket paths are limited), its server stopped after."""
    path = Path(tempfile.mkdtemp(prefix="xr", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    monkeypatch.setenv("EXAI_GIT_HOOK_SERVER_IDLE", "60")
    try:
        yield path
    finally:
        for pid in server_pids(path):
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(path, ignore_errors=True)


def server_pids(runtime: Path) -> list[int]:
    """The servers running in this runtime directory (the holders of their socket locks)."""
    pids = [hookserver.running(str(lock).removesuffix(".lock"))
            for lock in runtime.glob("exai-git-*/*.sock.lock")]
    return [pid for pid in pids if pid]


def socket_path() -> str:
    out = subprocess.run([sys.executable, "-c", "from exai_git import hookserver; "
                          "print(hookserver.socket_path())"], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def serving(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def wait_for(predicate: object, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def hook(cwd: Path, *args: str, stdin: str = "", server: bool = True,
         env: dict[str, str] | None = None, importtime: bool = False
         ) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "exai_git.hookmain", *args], cwd=cwd, input=stdin,
        capture_output=True, text=True,
        env={**os.environ, "EXAI_GIT_HOOK_SERVER": "1" if server else "0", **(env or {})})


def modules(proc: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


def without_importtime(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("import time:"))


@pytest.fixture
def tracked(runtime: Path, hooked_repo: Path) -> Path:
    return hooked_repo  # installed with the private runtime directory already set


def start_server(repo: Path) -> str:
    """Run a hook that needs the database, and wait for the server it starts."""
    msg = repo / "warm-msg"
    msg.write_text("Refs EXAI-2\n")
    assert hook(repo, "commit-msg", str(msg)).returncode == 0
    path = socket_path()
    assert wait_for(lambda: serving(path)), "no server started"
    return path


def test_no_server_starts_for_hooks_with_nothing_to_do(tracked: Path, runtime: Path) -> None:
    msg = tracked / "msg"
    msg.write_text("A plain message\n")
    assert hook(tracked, "commit-msg", str(msg)).returncode == 0
    write(tracked / "other.txt", "changed\n")
    git(tracked, "add", "-A")
    git(tracked, "commit", "-qm", "notes")  # the scan of a changed file asks the database
    path = socket_path()
    assert wait_for(lambda: os.path.exists(path))
    for pid in server_pids(runtime):
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not os.path.exists(path))
    # with no server, a hook that needs no database runs alone and starts none
    assert hook(tracked, "commit-msg", str(msg)).returncode == 0
    assert hook(tracked, "post-commit").returncode == 0
    time.sleep(0.5)
    assert not os.path.exists(path) and server_pids(runtime) == []


def test_a_hook_in_the_server_imports_nothing_itself_and_does_the_work(
        tracked: Path, seeded: Database) -> None:
    start_server(tracked)
    git(tracked, "commit", "-q", "--allow-empty", "-m", f"Fixes EXAI-1 step 2 conv:{U}",
        env={"EXAI_GIT_SKIP": "1"})  # committed without the hooks: applied by hand below
    proc = hook(tracked, "post-commit", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert "psycopg" not in modules(proc)  # the server's child did the database work
    assert "EXAI-1: step 2 -> complete" in without_importtime(proc.stderr)
    assert seeded.scalar(
        "SELECT c.status FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
        " WHERE i.issue_number = 1 AND c.step_number = 2") == "complete"


def test_server_and_own_process_give_the_same_output_and_exit_code(tracked: Path) -> None:
    start_server(tracked)
    msg = tracked / "msg"
    msg.write_text("Fixes EXAI-999 and EXAI-1 step 99\nSee EXAI 2 — ‘quoted’ näive\n")
    served = hook(tracked, "commit-msg", str(msg))
    alone = hook(tracked, "commit-msg", str(msg), server=False)
    assert served.returncode == alone.returncode == 1
    assert served.stderr == alone.stderr
    assert "EXAI-999" in served.stderr and served.stdout == alone.stdout


def test_the_server_takes_the_hooks_environment_directory_and_stdin(
        tracked: Path, seeded: Database) -> None:
    start_server(tracked)
    base = git(tracked, "rev-parse", "HEAD").stdout.strip()
    git(tracked, "commit", "-q", "--allow-empty", "-m", "Starts EXAI-3",
        env={"EXAI_GIT_APPLY_ON": "push"})  # applies nothing: it waits for the push
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 3") == "open"
    head = git(tracked, "rev-parse", "HEAD").stdout.strip()
    line = f"refs/heads/main {head} refs/heads/main {base}\n"
    proc = hook(tracked / "src", "pre-push", "origin", "/nowhere", stdin=line,
                env={"EXAI_GIT_APPLY_ON": "push", "EXAI_CONVERSATION_ID": U})
    assert proc.returncode == 0, proc.stderr
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 3") == \
        "in_progress"
    assert seeded.scalar("SELECT count(*) FROM exai_commit_links WHERE conversation_id = %s",
                         (U,)) == 1


def test_a_socket_directory_others_can_enter_is_never_used(tracked: Path, runtime: Path) -> None:
    directory = runtime / f"exai-git-{os.getuid()}"
    directory.mkdir(mode=0o755, exist_ok=True)
    directory.chmod(0o755)
    for leftover in directory.iterdir():
        leftover.unlink()
    assert socket_path() == "None"
    msg = tracked / "msg"
    msg.write_text("Refs EXAI-2\n")
    proc = hook(tracked, "commit-msg", str(msg), importtime=True)
    assert proc.returncode == 0 and "psycopg" in modules(proc)  # ran in its own process
    time.sleep(0.5)
    assert list(directory.iterdir()) == []
    doctor = exai("doctor", cwd=tracked)
    assert "hook server: no private directory" in doctor.stdout


def test_an_idle_server_exits_and_cleans_up(tracked: Path, monkeypatch: pytest.MonkeyPatch,
                                            runtime: Path) -> None:
    monkeypatch.setenv("EXAI_GIT_HOOK_SERVER_IDLE", "1")
    path = start_server(tracked)
    assert wait_for(lambda: not os.path.exists(path) and not os.path.exists(path + ".lock"))
    assert server_pids(runtime) == []


def test_a_dead_servers_socket_is_replaced(tracked: Path, runtime: Path) -> None:
    path = start_server(tracked)
    (pid,) = server_pids(runtime)
    os.kill(pid, signal.SIGKILL)  # no chance to clean up: the socket file stays
    assert wait_for(lambda: not server_pids(runtime))
    assert os.path.exists(path)
    msg = tracked / "msg"
    msg.write_text("Fixes EXAI-999\n")
    proc = hook(tracked, "commit-msg", str(msg), importtime=True)
    assert proc.returncode == 1 and "EXAI-999: no such issue" in proc.stderr
    assert "psycopg" in modules(proc)  # ran in its own process, and started a new server
    assert wait_for(lambda: len(server_pids(runtime)) == 1 and serving(path))
    proc = hook(tracked, "commit-msg", str(msg), importtime=True)
    assert proc.returncode == 1 and "EXAI-999: no such issue" in proc.stderr
    assert "psycopg" not in modules(proc)


def test_doctor_reports_the_server(tracked: Path) -> None:
    assert "hook server: not running" in exai("doctor", cwd=tracked).stdout
    start_server(tracked)
    assert "hook server: running (pid " in exai("doctor", cwd=tracked).stdout
    off = exai("doctor", cwd=tracked, env={"EXAI_GIT_HOOK_SERVER": "0"})
    assert "hook server: off" in off.stdout


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True)
    return [int(x) for x in out.stdout.split()]


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_stopping_the_client_stops_the_work_in_the_server(tracked: Path, runtime: Path,
                                                          how: str) -> None:
    start_server(tracked)
    (server,) = server_pids(runtime)
    # `parse -` waits for its message on stdin, which stays open: the work is under way
    client = subprocess.Popen([sys.executable, "-m", "exai_git", "parse", "-"], cwd=tracked,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: len(children_of(server)) == 1), "the server took no command"
    client.send_signal(getattr(signal, how))
    _out, err = client.communicate(timeout=20)
    if how == "SIGINT":  # forwarded: the command stops as it would at a terminal
        assert client.returncode == 130 and "exai-git: interrupted" in err
    else:
        assert client.returncode == -signal.SIGKILL
    assert wait_for(lambda: children_of(server) == []), "the work outlived its client"


def test_commands_run_in_the_server_exactly_as_alone(tracked: Path, seeded: Database) -> None:
    start_server(tracked)
    message = "Fixes EXAI-1 steps 2-3 conv:" + U + "\nSee EXAI 2 — ‘näive’\n"
    cases = [(["issues", "--json"], ""), (["show", "EXAI-1"], ""), (["show", "EXAI-99"], ""),
             (["parse", "-"], message), (["parse", "--json", "-"], message),
             (["check-msg", "-"], "Fixes EXAI-1 step 99\n"), (["nonsense"], ""),
             (["--help"], ""), (["context", "EXAI-1"], "")]
    for args, stdin in cases:
        served = subprocess.run([sys.executable, "-X", "importtime", "-m", "exai_git", *args],
                                cwd=tracked, input=stdin, capture_output=True, text=True)
        alone = exai(*args, cwd=tracked, input=stdin, env={"EXAI_GIT_HOOK_SERVER": "0"})
        assert "psycopg" not in modules(served) and "click" not in modules(served), args
        assert (served.returncode, served.stdout, without_importtime(served.stderr)) == (
            alone.returncode, alone.stdout, alone.stderr.rstrip("\n")), args


def test_the_server_name_follows_the_code_it_would_run(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from exai_git import hookserver

    write(tmp_path / "hooks.py", "x = 1\n")
    write(tmp_path / "_speedups.cpython-311-x86_64-linux-gnu.so", "compiled")
    write(tmp_path / "notes.txt", "n")
    monkeypatch.setattr(hookserver, "__file__", str(tmp_path / "hookserver.py"))
    first = hookserver._code_key()
    write(tmp_path / "notes.txt", "other notes")
    assert hookserver._code_key() == first  # not code
    write(tmp_path / "_speedups.cpython-311-x86_64-linux-gnu.so", "rebuilt!")
    assert hookserver._code_key() != first  # a rebuilt parser: another server
    second = hookserver._code_key()
    write(tmp_path / "hooks.py", "x = 22\n")
    assert hookserver._code_key() != second
