"""A tracker far away: a TCP proxy on loopback that delays every chunk by a fixed time in each
direction, and counts, per connection, the round trips the client waits for.

    proxy = DelayProxy("127.0.0.1", 5432, delay=0.025)   # runs in a thread of its own
    ... connect to 127.0.0.1:proxy.port ...
    proxy.connections  # [Connection(opened, closed, round_trips), ...]
    proxy.close()

Counting is done on the wire, not in the code under test: a round trip is a burst of
client -> server data sent after the server last spoke. The startup handshake (until the
server's first ReadyForQuery) is the connection's own cost and is not counted; neither is a
burst that is only the Terminate message, which waits for no answer. It listens on 127.0.0.1
only and stops with close() (or when its owner exits: the thread is a daemon).
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from dataclasses import dataclass, field

TERMINATE = b"X\x00\x00\x00\x04"


@dataclass
class Connection:
    opened: float  # time.time()
    closed: float | None = None
    round_trips: int = 0  # after the startup handshake
    ready: bool = False  # the handshake is over (the server said ReadyForQuery)
    _server_buffer: bytearray = field(default_factory=bytearray)
    _client_burst: bytearray = field(default_factory=bytearray)
    _client_last: bool = False  # the last to speak was the client


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, delay: float = 0.025) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the delay proxy did not start")

    def reset(self) -> None:
        with self._lock:
            self.connections = []

    def between(self, start: float, end: float) -> list[Connection]:
        """The connections opened in [start, end] (time.time())."""
        with self._lock:
            return [c for c in self.connections if start <= c.opened <= end]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(time.time())
        with self._lock:
            self.connections.append(conn)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, conn, from_client=True),
                             self._pipe(up_reader, writer, conn, from_client=False))
        conn.closed = time.time()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: Connection,
                    from_client: bool) -> None:
        """Relays src to dst, each chunk `delay` after it arrived, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                dst.write(data)
                await dst.drain()
            dst.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                data = await src.read(65536)
                self._observe(conn, data, from_client)
                await queue.put((time.monotonic() + self.delay, data))
                if not data:
                    break
        except OSError:
            await queue.put((0.0, b""))
        try:
            await sender
        except OSError:
            pass

    def _observe(self, conn: Connection, data: bytes, from_client: bool) -> None:
        with self._lock:
            if from_client:
                if not conn._client_last:  # a new burst: the client waits on a new answer
                    self._end_burst(conn)
                    conn._client_last = True
                conn._client_burst += data
                return
            if conn._client_last:
                self._end_burst(conn)
            conn._client_last = False
            if not conn.ready:
                conn._server_buffer += data
                conn.ready = _has_ready_for_query(conn._server_buffer)

    @staticmethod
    def _end_burst(conn: Connection) -> None:
        burst, conn._client_burst = bytes(conn._client_burst), bytearray()
        if burst and conn.ready and burst != TERMINATE:
            conn.round_trips += 1

    def close(self) -> None:
        for c in self.connections:
            self._end_burst(c)

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _has_ready_for_query(buffer: bytearray) -> bool:
    """Whether the server's messages so far (type byte, int32 length) hold a ReadyForQuery."""
    at = 0
    while at + 5 <= len(buffer):
        kind = buffer[at : at + 1]
        (length,) = struct.unpack("!i", buffer[at + 1 : at + 5])
        if kind == b"Z":
            return True
        at += 1 + length
    return False
