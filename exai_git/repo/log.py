"""The `git log` stream: commits parsed from `git log -z --format=%H%x00%P%x00%ct%x00%B`,
whole (a finished run's output) or as they arrive from a running git (LogStream).
Re-exported by exai_git.repo, whose Repo.iter_log and Repo.commit use it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence

from exai_git.repo import MAX_MESSAGE_BYTES, Commit, _failed


class LogStream(Iterator[Commit]):
    """The commits of a running `git log -z --format=%H%x00%P%x00%ct%x00%B`, as they arrive.
    Read to the end, a failed git raises GitError; closed early, git is stopped."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc: subprocess.Popen[bytes] | None = proc
        self.commits = _parse_log_stream(proc.stdout)

    def __iter__(self) -> LogStream:
        return self

    def __next__(self) -> Commit:
        try:
            return next(self.commits)
        except StopIteration:
            self._end()
            raise

    def _end(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdout is not None
        proc.stdout.close()
        err = proc.stderr.read() if proc.stderr else b""
        if proc.stderr:
            proc.stderr.close()
        if proc.wait() != 0:
            raise _failed("log", err)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()

    def __del__(self) -> None:
        self.close()


def _widen_pipe(fd: int) -> None:
    """Let git write up to 1 MiB ahead of its reader (Linux; elsewhere, or refused: as is)."""
    try:
        import fcntl
    except ImportError:
        return
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setpipe, 1 << 20)


def _parse_log_records(data: bytes) -> Iterator[Commit]:
    fields = data.split(b"\0")
    for i in range(0, len(fields) - 3, 4):
        yield _commit(fields[i : i + 4])


def _commit(fields: Sequence[bytes]) -> Commit:
    sha = fields[0].decode().strip()
    parents = tuple(fields[1].decode().split())
    message = fields[3]
    if len(message) > MAX_MESSAGE_BYTES:
        # not read, so none of its markers apply (the commit-msg hook refuses such a
        # message when it names any); the other commits of a push or a range still do
        message = (f"(a message of {len(message)} bytes, over the {MAX_MESSAGE_BYTES}-byte "
                   "limit: not read)").encode()
    return Commit(sha, parents, int(fields[2] or b"0"), message.decode("utf-8", errors="replace"))


def _parse_log_stream(stream: object) -> Iterator[Commit]:
    """Commits from a `git log -z --format=%H%x00%P%x00%ct%x00%B` pipe, as they arrive."""
    buffer = b""
    fields: list[bytes] = []
    read = stream.read1 if hasattr(stream, "read1") else stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(1 << 16)
        if not chunk:
            break
        buffer += chunk
        parts = buffer.split(b"\0")
        buffer = parts.pop()
        for part in parts:
            fields.append(part)
            if len(fields) == 4:
                fields[0] = fields[0].lstrip(b"\n")
                yield _commit(fields)
                fields = []
    if buffer:
        fields.append(buffer)
    if len(fields) == 4:
        fields[0] = fields[0].lstrip(b"\n")
        yield _commit(fields)
