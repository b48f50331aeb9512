"""A warm process that runs hooks and commands, so a hook that needs the database does not
pay for starting Python and importing psycopg on every commit.

A hook (`exai-git-hook NAME`) or command (`exai-git ...`) first tries the server's socket.
When one answers, the client sends its arguments, working directory, environment and umask,
and passes its stdin, stdout and stderr (SCM_RIGHTS); the server forks a child that already
has everything imported, and the child runs the hook or command exactly as the client's own
process would have (`hookmain.run`, `cli.run`), writing to the client's own terminal or pipes,
and sends back the exit code. The client forwards SIGINT, SIGTERM and SIGHUP to the child; a
child whose client is gone (even killed with SIGKILL) kills itself. When no server answers,
the client runs the work in its own process, and if it had to import psycopg it starts a
server for the hooks and commands that follow.

The server holds no database connection (each child connects and disconnects as a hook
does), listens on a socket in a directory only its user can enter and checks the peer's uid,
and exits after `EXAI_GIT_HOOK_SERVER_IDLE` seconds (default 600) without a request. Its
socket name is derived from the Python interpreter and the installed exai-git files, so a
server never runs code other than what the hook would run. `EXAI_GIT_HOOK_SERVER=0` turns it
off.

This module is imported by every hook: only the standard library's cheapest modules here.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import socket
import struct
import sys
from collections.abc import Callable, Iterator

_HEAD = struct.Struct("!IB3s")  # request length, how many fds, which (0, 1, 2) in order
_RC = struct.Struct("!i")
MAX_REQUEST = 1 << 24  # 16 MiB of arguments and environment is not a hook
ACK_SECONDS = 5.0  # a server that has not taken a hook by then is stuck: run it here


def enabled() -> bool:
    return (os.environ.get("EXAI_GIT_HOOK_SERVER", "1").strip().lower()
            not in ("0", "off", "no", "false")) and hasattr(socket, "AF_UNIX") and hasattr(
                socket, "send_fds")


def _code_key() -> str:
    """Names the code a server would run: this interpreter and these package files."""
    import zlib

    here = os.path.dirname(os.path.abspath(__file__))
    parts = [os.path.realpath(sys.executable), sys.prefix, sys.version, here]
    with os.scandir(here) as it:
        for entry in it:
            # the compiled parser too: a rebuilt one must not be served by an old server
            if entry.name.endswith((".py", ".sql", ".so", ".pyd")):
                st = entry.stat()
                parts.append(f"{entry.name}:{st.st_mtime_ns}:{st.st_size}")
    text = "\0".join(sorted(parts)).encode()
    return f"{zlib.crc32(text):08x}{zlib.crc32(text[::-1]):08x}{zlib.adler32(text):08x}"


def socket_path() -> str | None:
    """The server's socket, in a directory only this user can enter; None when there is no
    such directory to be had (then hooks run in their own process)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    directory = os.path.join(base, f"exai-git-{os.getuid()}")
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(directory)
    except OSError:
        return None
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # not ours, or open to others: never talk through it
    path = os.path.join(directory, _code_key() + ".sock")
    return path if len(path.encode()) < 100 else None


# --------------------------------------------------------------------------- client


def run(kind: str, argv: list[str], here: Callable[[], int]) -> int:
    """The exit code of a hook (kind "hook") or command ("cli"): from the server when one
    takes it, else from here() in this process, after which a server is started if here()
    had to import psycopg (the next one need not)."""
    path = socket_path() if enabled() else None
    if path is not None:
        rc = delegate(kind, argv, path)
        if rc is not None:
            return rc
    rc = here()
    if path is not None and "psycopg" in sys.modules:
        spawn(path)
    return rc


def delegate(kind: str, argv: list[str], path: str) -> int | None:
    """Run a hook (kind "hook") or a command (kind "cli") in the server; its exit code, or
    None when no server took it (then the caller runs it in its own process)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            cwd = os.getcwd()
            sock.connect(path)
        except OSError:
            return None  # no server, or no working directory: this process says so
        request = marshal.dumps({
            "kind": kind,
            "argv": argv,
            "executable": sys.executable,
            "cwd": cwd,
            "env": dict(os.environ),
            "umask": _umask(),
            "streams": [_stream_info(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
        })
        fds = [f for f in (0, 1, 2) if _is_open(f)]
        try:
            socket.send_fds(sock, [_HEAD.pack(len(request), len(fds), bytes(fds))], fds)
            sock.sendall(request)
            sock.settimeout(ACK_SECONDS)
            ack = _recv_exact(sock, 1 + _RC.size)
            if ack is None or ack[:1] != b"\x01":
                return None  # the server went away before taking it: run here
            sock.settimeout(None)  # the work itself takes as long as it takes
            with _forwarding_signals(int(_RC.unpack(ack[1:])[0])):
                reply = _recv_exact(sock, _RC.size)
        except OSError:
            return None
        if reply is None:
            return None  # the child died before answering: run it here
        return int(_RC.unpack(reply)[0])
    finally:
        sock.close()


@contextlib.contextmanager
def _forwarding_signals(pid: int) -> Iterator[None]:
    """Ctrl-C, a hang-up or a termination of this process reach the child doing the work."""
    import signal

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    saved = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            saved[signum] = signal.signal(signum, forward)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _stream_info(stream: object) -> tuple[str, str, bool, bool] | None:
    """How this process's text stream is set up, for the child to set up the same."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return None
    return (encoding, str(getattr(stream, "errors", "strict")),
            bool(getattr(stream, "line_buffering", False)),
            bool(getattr(stream, "write_through", False)))


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def spawn(path: str) -> None:
    """Start a server for the hooks that follow; never waits for it, never fails a hook."""
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-m", "exai_git.hookserver", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", start_new_session=True, close_fds=True,
        )
    except OSError:
        pass


# --------------------------------------------------------------------------- server


def _warm() -> None:
    """Import what the hooks and commands use, and compile the marker patterns, once."""
    import psycopg
    import psycopg.rows  # noqa: F401

    from exai_git import (  # noqa: F401
        cli,
        config,
        diff,
        doctor,
        engine,
        hookmain,
        hooks,
        markers,
        outbox,
        render,
        repo,
        scanner,
        store,
    )

    markers.parse("Fixes EXAI-1 step 1 conv:00000000-0000-0000-0000-000000000000")


def serve(path: str, idle: float) -> None:
    import fcntl
    import signal
    import time

    lock_path = path + ".lock"
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock)
        return  # another server has this socket
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    _sweep(os.path.dirname(path))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    listener.bind(tmp)
    os.chmod(tmp, 0o600)
    listener.listen(64)
    os.replace(tmp, path)
    mine = os.stat(path).st_ino
    listener.settimeout(1.0)
    children: set[int] = set()
    try:
        # Listening before warming up: a hook that comes meanwhile (the next hook of the
        # commit whose first hook started this server) waits in the backlog for the imports
        # already under way, instead of making the same imports itself on the same cores.
        _warm()
        last = time.monotonic()
        while True:
            _reap(children)
            if time.monotonic() - last > idle and not children:
                return
            if not _still_ours(path, mine):
                return  # removed, or replaced by a newer server for the same code
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            try:
                conn.settimeout(10)
                request = _receive(conn)
            except (OSError, ValueError, EOFError):
                request = None
            if request is None:
                conn.close()
                continue
            fds, payload = request
            pid = os.fork()
            if pid == 0:
                listener.close()
                os.close(lock)
                os._exit(_child(conn, fds, payload))
            children.add(pid)
            for fd in fds:
                os.close(fd)
            conn.close()
    finally:
        listener.close()
        if _still_ours(path, mine):
            os.unlink(path)
        if _still_ours(lock_path, os.fstat(lock).st_ino):
            os.unlink(lock_path)
        os.close(lock)


def _sweep(directory: str) -> None:
    """Remove the sockets of servers that are gone (killed, or for code since replaced)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.endswith(".sock.lock"):
            sock = os.path.join(directory, name[: -len(".lock")])
            if running(sock) is None:
                for leftover in (sock, sock + ".lock"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def running(path: str) -> int | None:
    """The pid of the server on this socket, when one runs."""
    import fcntl

    try:
        fd = os.open(path + ".lock", os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _receive(conn: socket.socket) -> tuple[list[int], dict[str, object]] | None:
    creds = getattr(socket, "SO_PEERCRED", None)
    if creds is not None:
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, creds,
                                                              struct.calcsize("3i")))
        if uid != os.getuid():
            return None
    head, fds, _flags, _addr = socket.recv_fds(conn, _HEAD.size, 3)
    rest = _recv_exact(conn, _HEAD.size - len(head)) if 0 < len(head) < _HEAD.size else b""
    payload: object = None
    if head and rest is not None:
        size, count, which = _HEAD.unpack(head + rest)
        wanted = list(which[:count])
        body = _recv_exact(conn, size) if size <= MAX_REQUEST else None
        if body is not None and len(wanted) == len(fds) and set(wanted) <= {0, 1, 2}:
            payload = marshal.loads(body)
    if not isinstance(payload, dict):
        for fd in fds:
            os.close(fd)
        return None
    payload["fds"] = wanted
    return fds, payload


def _child(conn: socket.socket, fds: list[int], payload: dict[str, object]) -> int:
    """In the forked child: become the process the client would have been."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        conn.sendall(b"\x01" + _RC.pack(os.getpid()))
    except OSError:
        return 1
    _die_with_client(conn)
    targets = payload.get("fds")
    assert isinstance(targets, list)
    for fd, target in zip(fds, targets):
        os.dup2(fd, target)
        os.close(fd)
    for target in (0, 1, 2):
        if target not in targets:  # closed in the hook: nothing there, as the server has it
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, target)
            os.close(null)
    rc: int | None = 0
    try:
        env = payload["env"]
        argv = payload["argv"]
        assert isinstance(env, dict) and isinstance(argv, list)
        os.environ.clear()
        os.environ.update(env)
        umask = payload.get("umask")
        if isinstance(umask, int):
            os.umask(umask)
        cwd = payload["cwd"]
        assert isinstance(cwd, str)
        os.chdir(cwd)
        streams = payload.get("streams") or [None, None, None]
        assert isinstance(streams, list)
        for fd, info in zip((0, 1, 2), streams):
            if info is not None and fd in targets:
                _set_stream(fd, info)
        kind = payload.get("kind", "hook")
        sys.argv = ["exai-git-hook" if kind == "hook" else "exai-git", *argv]
        executable = payload.get("executable")
        if isinstance(executable, str) and executable:
            sys.executable = executable  # as the client names it (hooks record it)
        if kind == "cli":
            from exai_git import cli

            rc = cli.run(argv)
        else:
            from exai_git import hookmain

            rc = hookmain.run(argv[0], argv[1:]) if argv else 2
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - no answer: the client runs the hook itself
        rc = None
    finally:
        for out in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                if out is not None:
                    out.flush()
    try:
        if rc is not None:
            conn.sendall(_RC.pack(rc))
    except OSError:
        pass
    conn.close()
    return 0 if rc is not None else 1


def _die_with_client(conn: socket.socket) -> None:
    """The client sends nothing more after its request: when its end closes before the answer
    is sent, the client is gone (killed, even with SIGKILL, which it cannot forward), and the
    work stops as it would have in the client's own process."""
    import signal
    import threading

    def watch() -> None:
        try:
            conn.settimeout(None)
            gone = conn.recv(1) == b""
        except OSError:
            gone = True
        if gone:
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _set_stream(fd: int, info: list[object] | tuple[object, ...]) -> None:
    """sys.stdin/stdout/stderr on the hook's descriptors, buffered as Python sets them up."""
    import io

    encoding, errors, line_buffering, write_through = info
    assert isinstance(encoding, str) and isinstance(errors, str)
    raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
    buffered: io.BufferedReader | io.BufferedWriter = (
        io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw))
    stream = io.TextIOWrapper(buffered, encoding=encoding, errors=errors,
                              line_buffering=bool(line_buffering),
                              write_through=bool(write_through))
    if fd == 0:
        sys.stdin = stream
    elif fd == 1:
        sys.stdout = stream
    else:
        sys.stderr = stream


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python -m exai_git.hookserver SOCKET", file=sys.stderr)
        sys.exit(2)
    try:
        idle = float(os.environ.get("EXAI_GIT_HOOK_SERVER_IDLE", "600"))
    except ValueError:
        idle = 600.0
    serve(sys.argv[1], idle)


if __name__ == "__main__":
    main()
