"""Settings: [tool.exai-git] in pyproject.toml or .exai-git.toml at the repository root,
then EXAI_GIT_* environment variables, then command-line flags (each overrides the last)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exai_git.errors import ConfigError

SEVERITIES = ("critical", "high", "medium", "low")
PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}\Z")


@dataclass(frozen=True)
class Settings:
    dsn: str | None = None
    prefix: str = "EXAI"
    apply_on: str = "commit"  # "commit" (post-commit) or "push" (pre-push)
    branches: tuple[str, ...] = ()
    fail_on: str | None = None  # scan exits 1 on a finding this severe or worse
    connect_timeout: float = 3.0  # seconds; hooks must not hang on a far database
    statement_timeout: float = 5.0  # seconds
    # A hook's budget for all its database work (connect and queries), enforced on the
    # client; past it, the hook queues the work (DESIGN.md, "Hooks").
    hook_timeout: float = 5.0  # seconds
    repository: str | None = None  # name recorded with commit links; default: repo dir name
    # The pre-commit hook may keep the set of files open issues sit on for this long, so a
    # commit that touches none of them needs no database (a new issue can then go unseen
    # for that long). 0, the default, asks the database on every commit.
    scan_cache_seconds: float = 0.0
    dsn_source: str = "embedded default"
    config_file: str | None = None
    warnings: tuple[str, ...] = ()  # settings ignored (unknown keys), already printed


_KEYS: dict[str, type | tuple[type, ...]] = {
    "dsn": str,
    "prefix": str,
    "apply_on": str,
    "branches": list,
    "fail_on": str,
    "connect_timeout": (int, float),
    "statement_timeout": (int, float),
    "hook_timeout": (int, float),
    "repository": str,
    "scan_cache_seconds": (int, float),
}

# Seconds: (lowest, highest, step). Out of range is refused, never clamped or rounded:
# libpq waits whole seconds and at least 2 for a connection; PostgreSQL counts statement
# time in whole milliseconds, and 0 there would mean no timeout at all.
_SECONDS: dict[str, tuple[float, float, float | None]] = {
    "connect_timeout": (2, 600, 1),
    "statement_timeout": (0.001, 600, 0.001),
    "hook_timeout": (0.1, 600, None),
    "scan_cache_seconds": (0, 86400, None),
}

# Other variables of ours that are not settings (so not warned about as unknown).
_OTHER_ENV = {"EXAI_GIT_DSN", "EXAI_GIT_SKIP"}

_ENV = {
    "EXAI_GIT_PREFIX": "prefix",
    "EXAI_GIT_APPLY_ON": "apply_on",
    "EXAI_GIT_BRANCHES": "branches",
    "EXAI_GIT_FAIL_ON": "fail_on",
    "EXAI_GIT_CONNECT_TIMEOUT": "connect_timeout",
    "EXAI_GIT_STATEMENT_TIMEOUT": "statement_timeout",
    "EXAI_GIT_HOOK_TIMEOUT": "hook_timeout",
    "EXAI_GIT_REPOSITORY": "repository",
    "EXAI_GIT_SCAN_CACHE_SECONDS": "scan_cache_seconds",
}


def _load_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name}: not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"{path.name}: cannot read ({e.strerror})") from None
    return data


def file_settings(root: Path | None, warn: Callable[[str], None] | None = None
                  ) -> tuple[dict[str, Any], str | None]:
    """The [tool.exai-git] table of .exai-git.toml (which wins) or pyproject.toml; unknown
    keys are left out (and passed to warn)."""
    if root is None:
        return {}, None
    own = root / ".exai-git.toml"
    if own.is_file():
        data = _load_toml(own)
        table = data.get("tool", {}).get("exai-git", data) if "tool" in data else data
        return _check_table(table, own.name, warn), own.name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = _load_toml(pyproject)
        table = data.get("tool", {}).get("exai-git")
        if table is not None:
            return _check_table(table, "pyproject.toml [tool.exai-git]", warn), pyproject.name
    return {}, None


def _check_table(table: Any, where: str, warn: Callable[[str], None] | None = None
                 ) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    out = {}
    for key, value in table.items():
        if key not in _KEYS:
            if warn is not None:
                warn(f"{where}: unknown setting {key!r} ignored{_suggest(key, _KEYS)}")
            continue
        want = _KEYS[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
        out[key] = value
    return out


def _suggest(name: str, known: Mapping[str, Any] | set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(sorted(known))})"


def _seconds(key: str, value: Any, where: str) -> float:
    lo, hi, step = _SECONDS[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a number of seconds, not {value!r}") from None
    unit = "whole seconds" if step == 1 else "seconds"
    if not (math.isfinite(number) and lo <= number <= hi):
        raise ConfigError(f"{where}: {key} = {value!r} is out of range; give {lo:g} to "
                          f"{hi:g} {unit}")
    if step is not None and abs(number / step - round(number / step)) > 1e-6:
        what = "whole seconds" if step == 1 else "whole milliseconds"
        raise ConfigError(f"{where}: {key} = {value!r} must be in {what} (it would be "
                          f"rounded); give e.g. {round(number / step) * step:g}")
    return number


def _coerce(key: str, value: Any, where: str) -> Any:
    if key == "prefix":
        if not PREFIX_RE.match(value):
            raise ConfigError(
                f"{where}: prefix {value!r} must be letters then letters or digits, e.g. EXAI"
            )
        return value.upper()
    if key == "apply_on":
        if value not in ("commit", "push"):
            raise ConfigError(f"{where}: apply_on must be \"commit\" or \"push\", not {value!r}")
        return value
    if key == "branches":
        if isinstance(value, str):
            value = [b for b in re.split(r"[,\s]+", value) if b]
        if not all(isinstance(b, str) and b for b in value):
            raise ConfigError(f"{where}: branches must be a list of branch names")
        return tuple(b.removeprefix("refs/heads/") for b in value)
    if key == "fail_on":
        if value in ("", "none", "never"):
            return None
        if value not in SEVERITIES:
            raise ConfigError(f"{where}: fail_on must be one of {', '.join(SEVERITIES)}")
        return value
    if key in _SECONDS:
        return _seconds(key, value, where)
    return value


def load(
    root: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Settings for the repository at root (None outside a repository). A value out of
    range raises ConfigError naming the setting and where it came from; an unknown setting
    is ignored with a warning (to warn, default stderr) that suggests the closest name."""
    env = os.environ if env is None else env
    warnings: list[str] = []

    def note(line: str) -> None:
        warnings.append(line)
        (warn or _stderr)(f"exai-git: warning: {line}")

    values: dict[str, Any] = {}
    table, config_file = file_settings(root, note)
    where = "pyproject.toml [tool.exai-git]" if config_file == "pyproject.toml" else config_file
    for key, value in table.items():
        values[key] = _coerce(key, value, where or "config")
    for var, key in _ENV.items():
        if env.get(var):
            values[key] = _coerce(key, env[var], var)
    for var in env:
        if var.startswith("EXAI_GIT_") and var not in _ENV and var not in _OTHER_ENV:
            note(f"unknown environment variable {var} ignored"
                 f"{_suggest(var, set(_ENV) | _OTHER_ENV)}")
    dsn_source = "embedded default"
    if values.get("dsn"):
        dsn_source = config_file or "config"
    for var in ("EXAI_GIT_DSN", "DATABASE_URL"):
        if env.get(var):
            values["dsn"], dsn_source = env[var], var
            break
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "dsn":
            values["dsn"], dsn_source = value, "--dsn"
        else:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    if _libpq_env_present(env) and not values.get("dsn"):
        # libpq's own PG* variables, service files and ~/.pgpass name a server: an empty
        # connection string lets libpq read them.
        values["dsn"], dsn_source = "", "PG* environment"
    fields = {f.name for f in dataclasses.fields(Settings)}
    return Settings(
        **{k: v for k, v in values.items() if k in fields},
        dsn_source=dsn_source,
        config_file=config_file,
        warnings=tuple(warnings),
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _libpq_env_present(env: Mapping[str, str]) -> bool:
    return any(env.get(v) for v in ("PGHOST", "PGSERVICE", "PGDATABASE", "PGHOSTADDR"))
