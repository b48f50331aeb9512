"""`exai-git doctor`: configuration, database reachability and latency, schema version,
installed hooks, queued work and secrets in tracked files; one line each."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exai_git.errors import ExaiError

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.repo import Repo

OK, WARN, FAIL = "ok", "warn", "FAIL"
_SECRET_DSN = re.compile(
    r"postgres(?:ql)?://[^\s:/@'\"]+:[^\s@'\"]+@|(?<![\w])password\s*=\s*['\"]?[^\s'\"$]+", re.IGNORECASE)
_CONFIG_FILE = re.compile(r"(^|/)(\.env[^/]*|[^/]+\.(toml|ya?ml|ini|cfg|conf|json|env))$")


@dataclass(frozen=True)
class Check:
    level: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.name}: {self.detail}"


def run(root: Path | None, dsn_flag: str | None) -> list[Check]:
    from exai_git import config

    checks: list[Check] = []
    try:
        settings = config.load(root, overrides={"dsn": dsn_flag})
    except ExaiError as e:
        return [Check(FAIL, "config", str(e))]
    where = settings.config_file or "defaults"
    checks.append(Check(OK, "config", f"{where}; prefix {settings.prefix}, apply_on "
                                      f"{settings.apply_on}"
                        + (f", branches {', '.join(settings.branches)}" if settings.branches
                           else "")))
    checks += _database(settings)
    repo = _repo(root)
    if repo is not None:
        checks += _repository(repo, settings.prefix)
    return checks


def _database(settings: Settings) -> list[Check]:
    from exai_git import store

    shown = "embedded server" if settings.dsn is None else store.redact_dsn(settings.dsn)
    import psycopg  # noqa: F401 - imported before timing the connection

    try:
        started = time.perf_counter()
        conn = store.connect(settings)
        connected = time.perf_counter()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            rtt = time.perf_counter()
            try:
                store.require_schema(cur)
                schema = Check(OK, "schema", f"version {store.migrations()[-1].version}")
            except ExaiError as e:
                schema = Check(FAIL, "schema", str(e))
    except ExaiError as e:
        return [Check(FAIL, "database", f"{shown} (from {settings.dsn_source}): {e}")]
    return [
        Check(OK, "database", f"{shown} (from {settings.dsn_source}); connect "
                              f"{(connected - started) * 1000:.0f} ms, round trip "
                              f"{(rtt - connected) * 1000:.1f} ms"),
        schema,
    ]


def _repo(root: Path | None) -> Repo | None:
    from exai_git.repo import Repo

    try:
        return Repo(root)
    except ExaiError:
        return None


def _repository(repo: Repo, prefix: str) -> list[Check]:
    from exai_git import hooks

    out = []
    directory = hooks.hooks_dir(repo)
    native = [n for n in hooks.NATIVE_HOOKS
              if (directory / n).exists() and hooks.MARK in (directory / n).read_text(
                  errors="replace")]
    framework = (repo.root / ".pre-commit-config.yaml")
    uses_framework = framework.exists() and "exai-" in framework.read_text(errors="replace")
    if native:
        out.append(Check(OK, "hooks", "native: " + ", ".join(native)))
        msg_hook = directory / "commit-msg"
        if "commit-msg" in native and f":-{prefix}}}" not in msg_hook.read_text(errors="replace"):
            out.append(Check(WARN, "hooks", "the commit-msg hook was installed for another "
                                            "prefix; run `exai-git install` again"))
    elif uses_framework:
        out.append(Check(OK, "hooks", "through the pre-commit framework (.pre-commit-config.yaml)"))
    else:
        out.append(Check(WARN, "hooks", "none installed; run `exai-git install` or add the "
                                        "exai hooks to .pre-commit-config.yaml"))
    queued = hooks.outbox(repo).count()
    if queued:
        out.append(Check(WARN, "queue", f"{queued} commit{'s' if queued != 1 else ''} waiting; "
                                        "run `exai-git sync`"))
    else:
        out.append(Check(OK, "queue", "empty"))
    if repo.is_shallow():
        out.append(Check(WARN, "history", "shallow clone: backfill sees only the fetched "
                                          "history (git fetch --unshallow for all of it)"))
    leaks = _secrets_in_tracked_files(repo)
    if leaks:
        out.append(Check(FAIL, "secrets", "a database password in tracked file(s): "
                                          + ", ".join(leaks) + "; use EXAI_GIT_DSN or ~/.pgpass"))
    else:
        out.append(Check(OK, "secrets", "no database password in tracked configuration files"))
    return out


def _secrets_in_tracked_files(repo: Repo) -> list[str]:
    found = []
    try:
        names = repo.run("ls-files", "-z").split(b"\0")
    except ExaiError:
        return []
    for raw in names:
        name = raw.decode(errors="surrogateescape")
        if not name or not _CONFIG_FILE.search(name):
            continue
        path = repo.root / name
        try:
            if path.stat().st_size > 1 << 20:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if _SECRET_DSN.search(text):
            found.append(name)
    return found
