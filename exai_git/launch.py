"""The `exai-git` command's entry point: hands the command to the warm server when one runs
(see hookserver), else runs it here and, when it had to import psycopg, starts a server for the
commands and hooks that follow. Imports nothing heavy before it knows which."""

from __future__ import annotations

import sys


def main() -> None:
    from exai_git import hookserver

    argv = sys.argv[1:]
    path = hookserver.socket_path() if hookserver.enabled() else None
    if path is not None:
        rc = hookserver.delegate("cli", argv, path)
        if rc is not None:
            sys.exit(rc)
    from exai_git import cli

    rc = cli.run(argv)
    if path is not None and "psycopg" in sys.modules:
        hookserver.spawn(path)  # this command paid for importing psycopg; the next need not
    sys.exit(rc)
