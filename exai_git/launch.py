"""The `exai-git` command's entry point: hands the command to the warm server when one runs
(see hookserver), else runs it here and, when it had to import psycopg, starts a server for the
commands and hooks that follow. Imports nothing heavy before it knows which."""

from __future__ import annotations

import sys


def main() -> None:
    from exai_git import hookserver

    argv = sys.argv[1:]

    def here() -> int:
        from exai_git import cli

        return cli.run(argv)

    sys.exit(hookserver.run("cli", argv, here))
