"""The one domain error and the exit codes of the command-line contract."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_DB_UNREACHABLE = 3


class ExaiError(RuntimeError):
    """An error the user can act on; its message is one line, its code an exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ExaiError):
    """Configuration that cannot be used (bad file, bad value)."""


class GitError(ExaiError):
    """git failed or the repository is not in a state the command can work with."""


class DatabaseUnreachable(ExaiError):
    """The database cannot be reached (refused, timed out, DNS, authentication)."""

    exit_code = EXIT_DB_UNREACHABLE


class SchemaError(ExaiError):
    """The database has no schema, or a schema this version does not know."""

    exit_code = EXIT_DB_UNREACHABLE


class CheckFailed(ExaiError):
    """A check the user asked for did not pass (bad marker, --fail-on hit)."""

    exit_code = EXIT_CHECK_FAILED
