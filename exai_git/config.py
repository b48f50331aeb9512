"""Settings: [tool.exai-git] in pyproject.toml or .exai-git.toml at the repository root,
then EXAI_GIT_* environment variables, then command-line flags (each overrides the last)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
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
    repository: str | None = None  # name recorded with commit links; default: repo dir name
    # The pre-commit hook may keep the set of files open issues sit on for this long, so a
    # commit that touches none of them needs no database (a new issue can then go unseen
    # for that long). 0, the default, asks the database on every commit.
    scan_cache_seconds: float = 0.0
    dsn_source: str = "embedded default"
    config_file: str | None = None


_KEYS: dict[str, type | tuple[type, ...]] = {
    "dsn": str,
    "prefix": str,
    "apply_on": str,
    "branches": list,
    "fail_on": str,
    "connect_timeout": (int, float),
    "statement_timeout": (int, float),
    "repository": str,
    "scan_cache_seconds": (int, float),
}

_ENV = {
    "EXAI_GIT_PREFIX": "prefix",
    "EXAI_GIT_APPLY_ON": "apply_on",
    "EXAI_GIT_BRANCHES": "branches",
    "EXAI_GIT_FAIL_ON": "fail_on",
    "EXAI_GIT_CONNECT_TIMEOUT": "connect_timeout",
    "EXAI_GIT_STATEMENT_TIMEOUT": "statement_timeout",
    "EXAI_GIT_REPOSITORY": "repository",
    "EXAI_GIT_SCAN_CACHE_SECONDS": "scan_cache_seconds",
}


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name}: not valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(f"{path.name}: cannot read ({e.strerror})") from None
    return data


def file_settings(root: Path | None) -> tuple[dict[str, Any], str | None]:
    """The [tool.exai-git] table of .exai-git.toml (which wins) or pyproject.toml."""
    if root is None:
        return {}, None
    own = root / ".exai-git.toml"
    if own.is_file():
        data = _load_toml(own)
        table = data.get("tool", {}).get("exai-git", data) if "tool" in data else data
        return _check_table(table, own.name), own.name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = _load_toml(pyproject)
        table = data.get("tool", {}).get("exai-git")
        if table is not None:
            return _check_table(table, "pyproject.toml [tool.exai-git]"), pyproject.name
    return {}, None


def _check_table(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings")
    for key, value in table.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})")
        want = _KEYS[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    return dict(table)


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
    if key == "scan_cache_seconds":
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a number of seconds") from None
        if not 0 <= seconds <= 86400:
            raise ConfigError(f"{where}: {key} must be between 0 and 86400 seconds")
        return seconds
    if key in ("connect_timeout", "statement_timeout"):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a number of seconds") from None
        if not 0 < number <= 600:
            raise ConfigError(f"{where}: {key} must be between 0 and 600 seconds")
        return number
    return value


def load(
    root: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings for the repository at root (None outside a repository)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    table, config_file = file_settings(root)
    for key, value in table.items():
        values[key] = _coerce(key, value, config_file or "config")
    for var, key in _ENV.items():
        if env.get(var):
            values[key] = _coerce(key, env[var], var)
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
    )


def _libpq_env_present(env: Mapping[str, str]) -> bool:
    return any(env.get(v) for v in ("PGHOST", "PGSERVICE", "PGDATABASE", "PGHOSTADDR"))
