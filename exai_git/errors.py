"""The domain error, the one mapping of low-level errors to it, the exit codes of the
command-line contract, and the one handler that the command line and the hooks run under.

Nothing here imports psycopg: a database error is recognised by its module first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DB_UNREACHABLE = 3
EXIT_BUG = 70  # sysexits EX_SOFTWARE: an error exai-git did not expect
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class ExaiError(RuntimeError):
    """An error the user can act on: its message is one line that says what to do, its
    exit_code one of the contract's, and its state (for a hook that queues work) a few words
    on why the database could not take it."""

    exit_code = EXIT_USAGE
    state = "error"

    def __init__(self, message: str, *, exit_code: int | None = None,
                 state: str | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        if state is not None:
            self.state = state


# Names for where an ExaiError comes from; each is an ExaiError with its exit code preset.


class ConfigError(ExaiError):
    """Configuration that cannot be used (bad file, bad value)."""


class GitError(ExaiError):
    """git failed or the repository is not in a state the command can work with."""


class DatabaseUnreachable(ExaiError):
    """The database cannot be reached (refused, timed out, DNS, authentication)."""

    exit_code = EXIT_DB_UNREACHABLE
    state = "database unreachable"


class TrackerTimeout(DatabaseUnreachable):
    """The tracker did not answer within the budget (hook_timeout); the connection is closed."""

    state = "tracker too slow"


class BackedOff(DatabaseUnreachable):
    """A hook did not try the tracker: it failed to answer moments ago (budget.BACKOFF_SECONDS)."""

    state = "tracker not tried"


class NoTracker(DatabaseUnreachable):
    """A hook found no database configured (it never uses the embedded default)."""

    state = "no tracker configured"


class SchemaError(ExaiError):
    """The database has no schema, or a schema this version does not know."""

    exit_code = EXIT_DB_UNREACHABLE
    state = "database not ready"


class CheckFailed(ExaiError):
    """A check the user asked for did not pass (bad marker, --fail-on hit)."""

    exit_code = EXIT_CHECK_FAILED


# --------------------------------------------------------------------------- mapping


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def from_database(e: BaseException) -> ExaiError | None:
    """A psycopg error as a domain error that says what to do, or None when e is not one
    exai-git expects from a database (a bug, then)."""
    if not type(e).__module__.startswith("psycopg"):
        return None
    import psycopg
    from psycopg import errors as pg

    why = first_line(e)
    if isinstance(e, (pg.UndefinedTable, pg.UndefinedFunction, pg.UndefinedColumn)):
        return SchemaError(f"the database has no exai-git schema, or an old one ({why}); "
                           "run `exai-git db migrate`")
    if isinstance(e, pg.InsufficientPrivilege):
        return ExaiError(f"the database refused: {why}; ask its owner for the privilege",
                         exit_code=EXIT_CHECK_FAILED, state="database refused the update")
    if isinstance(e, (pg.QueryCanceled, pg.LockNotAvailable)):
        return DatabaseUnreachable(f"no answer within the statement timeout ({why}); "
                                   "try again, or raise hook_timeout",
                                   state="database too slow")
    if isinstance(e, psycopg.OperationalError):
        return DatabaseUnreachable(f"lost the database connection ({why}); "
                                   "check that the server is up and reachable")
    return None


def from_exception(e: BaseException) -> ExaiError | None:
    """Any low-level error exai-git expects (database, file system, undecodable text) as a
    domain error, or None for a bug."""
    if isinstance(e, ExaiError):
        return e
    mapped = from_database(e)
    if mapped is not None:
        return mapped
    if isinstance(e, OSError):
        where = f"{os.fsdecode(e.filename)}: " if e.filename is not None else ""
        return ExaiError(f"{where}{e.strerror or first_line(e)}; check the path, its "
                         "permissions and the free space")
    if isinstance(e, UnicodeError):
        return ExaiError(f"text that is not valid UTF-8 ({first_line(e)}); "
                         "check the file's encoding")
    return None


def bug(e: BaseException) -> ExaiError:
    """An unexpected exception, said in one line with how to see and report it."""
    return ExaiError(f"internal error ({type(e).__name__}: {first_line(e)}); this is a bug "
                     "in exai-git: rerun with EXAI_GIT_DEBUG=1 to see the traceback, and "
                     "report it with that traceback", exit_code=EXIT_BUG)


# --------------------------------------------------------------------------- the handler


def handle(work: Callable[[], int], *, label: str, secrets: Iterable[str | None] = (),
           code_of: Callable[[ExaiError], int] | None = None) -> int:
    """Run work and return its exit code. Whatever it raises becomes one line on standard
    error, prefixed with label, with the password of every DSN in secrets removed:

    - Ctrl-C: "interrupted", exit 130; nothing is run again;
    - a domain error or a low-level one mapped to it: its message and code_of(error)
      (by default its exit_code; a hook passes a code_of that never blocks a commit);
    - anything else: one line naming the bug (the traceback with EXAI_GIT_DEBUG=1) and
      code_of of an error whose exit code is 70.
    A closed standard output (`exai-git issues | head`) ends the command quietly.
    """
    try:
        return work()
    except KeyboardInterrupt:
        _say(f"{label}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as e:  # noqa: BLE001 - the one place every error ends up
        secrets = list(secrets)
        error = from_exception(e)
        if error is None:
            error = bug(e)
        if error is not e and os.environ.get("EXAI_GIT_DEBUG"):
            import traceback

            _say(_scrub("".join(traceback.format_exception(e)).rstrip(), secrets))
        _say(_scrub(f"{label}: {error}", secrets))
        return code_of(error) if code_of is not None else error.exit_code


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no stderr to say it on


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    """text without the password of any DSN in secrets."""
    for candidate in secrets:
        if candidate and ("@" in candidate or "password" in candidate.lower()):
            from exai_git.store import scrub

            text = scrub(text, candidate)
    return text
