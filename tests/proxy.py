"""A loopback TCP proxy in front of PostgreSQL that injects faults, for tests.

    with FaultProxy("127.0.0.1", 5432) as proxy:
        dsn = proxy.dsn(db.dsn)           # the same database, through the proxy
        proxy.mode = "stalled"            # or up, slow, stall_after_startup, refusing, down
        ...
        proxy.accepted                    # connections accepted so far

Modes (switchable at any time; they apply to open connections too):
- up: pass bytes through.
- slow: each chunk waits `delay` seconds (default 0.2) before it is passed on, each way.
- stalled: accept, then pass nothing on: the client waits for the server's first byte.
- stall_after_startup: pass the startup and authentication through (up to the server's
  first ReadyForQuery), then nothing: the client is connected, its queries never answered.
- refusing: accept and close at once (reset): "server closed the connection unexpectedly".
- down: not listening: connecting is refused by the kernel (ECONNREFUSED).
Held bytes flow again when the mode goes back to up or slow.

Bounded: a proxy stops by itself after `lifetime` seconds (default 600), closing every
socket; threads are daemons, and stop() joins them with a timeout.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from typing import Self

MODES = ("up", "slow", "stalled", "stall_after_startup", "refusing", "down")
_READY_FOR_QUERY = b"Z\x00\x00\x00\x05"
_TICK = 0.05


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, *, lifetime: float = 600.0,
                 delay: float = 0.2) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.accepted = 0  # connections accepted (refused ones included)
        self.refused = 0  # connections closed at once in "refusing"
        self.deadline = time.monotonic() + lifetime
        self._mode = "up"
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listening = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = self._bind(0)
        self.host, self.port = "127.0.0.1", self._listener.getsockname()[1]
        self._listening.set()
        self._start(self._accept_loop)

    # ------------------------------------------------------------------ control

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r} (modes: {', '.join(MODES)})")
        with self._lock:
            self._mode = mode
            if mode == "down" and self._listener is not None:
                with contextlib.suppress(OSError):  # stops listening now, wakes accept()
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
                self._listening.clear()
            elif mode != "down" and self._listener is None:
                self._listener = self._bind(self.port)
                self._listening.set()

    def dsn(self, dsn: str) -> str:
        """dsn (a postgresql:// URL) with its host and port replaced by the proxy's."""
        parts = urlsplit(dsn)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@{self.host}:{self.port}" if user else f"{self.host}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for s in list(self._sockets):
                _close(s)
            self._sockets.clear()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ inside

    def _running(self) -> bool:
        if self._stopped.is_set():
            return False
        if time.monotonic() > self.deadline:
            threading.Thread(target=self.stop, daemon=True).start()
            return False
        return True

    def _bind(self, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.settimeout(_TICK)
        return s

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _accept_loop(self) -> None:
        while self._running():
            listener = self._listener
            if listener is None:
                self._listening.wait(_TICK)
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            self.accepted += 1
            if self._mode == "refusing":
                self.refused += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                _close(client)
                continue
            self._start(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        with self._lock:
            if self._stopped.is_set():
                _close(client)
                _close(server)
                return
            self._sockets |= {client, server}
        state = _Conn(client)
        self._start(self._pump, server, client, state, True)
        self._pump(client, server, state, False)

    def _hold(self, state: _Conn) -> bool:
        """Whether bytes wait now (either way); not once the client has hung up."""
        mode = self._mode
        held = mode == "stalled" or (mode == "stall_after_startup" and state.started)
        if held and _hung_up(state.client):
            state.closed = True
        return held and not state.closed

    def _pump(self, src: socket.socket, dst: socket.socket, state: _Conn,
              from_server: bool) -> None:
        tail = b""
        src.settimeout(_TICK)
        try:
            while self._running() and not state.closed:
                try:
                    chunk = src.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                while self._running() and self._hold(state):
                    time.sleep(_TICK)
                if state.closed:
                    break
                if self._mode == "slow":
                    time.sleep(self.delay)
                dst.sendall(chunk)
                if from_server and not state.started:
                    seen = tail + chunk
                    if _READY_FOR_QUERY in seen:
                        state.started = True
                    tail = seen[-len(_READY_FOR_QUERY):]
        except OSError:
            pass
        finally:
            state.closed = True
            with self._lock:
                self._sockets -= {src, dst}
            _close(src)
            _close(dst)


class _Conn:
    """One proxied connection: past the startup yet, and whether either side closed."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.started = False
        self.closed = False


def _hung_up(s: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([s], [], [], 0)
        return bool(readable) and s.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except (OSError, ValueError):
        return True


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass
