"""`exai-git demo`: the whole product on a scratch repository and a scratch database.

Migrates a demo database (on the embedded server unless --dsn names another server),
loads the tracker's seed issues, installs the native hooks in a scratch repository and
makes real commits through them, printing the tracker before and after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from exai_git import render, seed, store
from exai_git.config import Settings
from exai_git.errors import ExaiError

DEMO_DB = "exai_demo"
DEMO_MARK = "made by exai-git demo"  # its comment: the demo replaces only its own
CONV_FIX = "5f0c2a8e-3d1b-4c7a-9e2f-6b8d1a4c7e90"
CONV_DONE = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _demo_dsn(settings: Settings) -> tuple[str, str]:
    """The demo database's connection string (created afresh), and the server's."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if settings.dsn is None:
        from exai_git import embedded

        admin = embedded.ensure_running("postgres")
    else:
        admin = settings.dsn
    with psycopg.connect(admin, autocommit=True,
                         connect_timeout=max(2, int(settings.connect_timeout))) as conn:
        # an earlier demo's database (--keep) is replaced; one it did not make is left alone
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                           " WHERE datname = %s", (DEMO_DB,)).fetchone()
        if row is not None and row[0] != DEMO_MARK:
            raise ExaiError(f"a database {DEMO_DB} that the demo did not make is on this server;"
                            " the demo would replace it: drop or rename it, or run the demo"
                            " elsewhere (--dsn)")
        conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DEMO_DB}"')
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(DEMO_DB), sql.Literal(DEMO_MARK)))
    return make_conninfo("", **{**conninfo_to_dict(admin), "dbname": DEMO_DB}), admin


def run(settings: Settings, out: Callable[[str], None], *, keep: bool = False) -> None:
    """The walkthrough; then, unless keep, remove what it made: the scratch repository, the
    demo database, and the embedded server when the demo started it."""
    embedded_was_running = True
    if settings.dsn is None:
        from exai_git import embedded

        embedded_was_running = embedded.running()
    made: dict[str, str] = {}
    try:
        _walkthrough(settings, out, made)
    finally:
        if keep:
            kept = [f"{k} {v}" for k, v in made.items() if k != "admin"]
            if settings.dsn is None and not embedded_was_running:
                kept.append("the embedded server (exai-git db stop stops it)")
            out("\nkept (--keep): " + ", ".join(kept))
        else:
            _clean_up(settings, made, stop_embedded=not embedded_was_running, out=out)


def _clean_up(settings: Settings, made: dict[str, str], *, stop_embedded: bool,
              out: Callable[[str], None]) -> None:
    import psycopg

    removed = []
    if "scratch repository" in made:
        shutil.rmtree(made["scratch repository"], ignore_errors=True)
        removed.append("the scratch repository")
    if "admin" in made:
        try:
            with psycopg.connect(made["admin"], autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
            removed.append(f"the database {DEMO_DB}")
        except psycopg.Error:
            out(f"could not drop the demo database {DEMO_DB}; drop it yourself")
    if stop_embedded and settings.dsn is None:
        from exai_git import embedded

        if embedded.stop():
            removed.append("stopped the embedded server it started")
    if removed:
        out("\ncleaned up: " + ", ".join(removed) + " (--keep keeps them)")


def _walkthrough(settings: Settings, out: Callable[[str], None], made: dict[str, str]) -> None:
    dsn, made["admin"] = _demo_dsn(settings)
    made["database"] = store.redact_dsn(dsn)
    demo = Settings(dsn=dsn, prefix=settings.prefix)
    with store.connect(demo) as conn:
        store.migrate(conn)
        seed.load(conn)
    out(f"demo database: {store.redact_dsn(dsn)}")
    scratch = Path(tempfile.mkdtemp(prefix="exai-git-demo-"))
    made["scratch repository"] = str(scratch)
    out(f"scratch repository: {scratch}")
    env = {**os.environ, "EXAI_GIT_DSN": dsn, "GIT_AUTHOR_NAME": "Demo",
           "GIT_AUTHOR_EMAIL": "demo@example.com", "GIT_COMMITTER_NAME": "Demo",
           "GIT_COMMITTER_EMAIL": "demo@example.com"}
    env.pop("EXAI_CONVERSATION_ID", None)

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=scratch, env=env, text=True,
                              capture_output=True, check=True)

    def commit(message: str, files: dict[str, Callable[[list[str]], None]]) -> None:
        for name, edit in files.items():
            path = scratch / name
            lines = path.read_text().splitlines()
            edit(lines)
            path.write_text("\n".join(lines) + "\n")
        git("add", "-A")
        # every paragraph shown, as its own -m: a marker in the body is seen where it is
        paragraphs = message.split("\n\n")
        out("\n$ git commit " + " ".join(f"-m {p!r}" for p in paragraphs))
        result = git("commit", "-q", *(a for p in paragraphs for a in ("-m", p)))
        for line in result.stderr.strip().splitlines():
            out("  " + render.clean(line))

    git("init", "-q")
    for name in ("async_glm", "async_kimi", "async_base"):
        path = scratch / "src" / "providers" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"# {name} line {i}\n" for i in range(1, 101)))
    git("add", "-A")
    git("commit", "-q", "-m", "Initial providers")
    subprocess.run([sys.executable, "-m", "exai_git", "install"], cwd=scratch, env=env,
                   check=True, capture_output=True)

    with store.connect(demo) as conn:
        before = store.list_issues(conn, include_all=True)
    out("\n== The tracker before ==")
    out(render.issues_text(before, settings.prefix))

    def set_line(n: int, text: str) -> Callable[[list[str]], None]:
        def edit(lines: list[str]) -> None:
            lines[n - 1] = text
        return edit

    commit(f"Fixes EXAI-1 step 3 conv:{CONV_FIX}\n\nPass the timeout to the ZhipuAI client.",
           {"src/providers/async_glm.py": set_line(49, "client = ZhipuAI(timeout=timeout)")})
    commit("Lower the AsyncKimi default timeout\n\nRefs EXAI-2",
           {"src/providers/async_kimi.py": set_line(59, "DEFAULT_TIMEOUT = 30")})
    commit(f"Fixes EXAI-1 steps 1-2, 4-7 conv:{CONV_DONE}\n\nImports, retries, logging, "
           "tests and docs for the AsyncGLM timeout.",
           {"src/providers/async_glm.py": set_line(48, "import httpx  # TimeoutConfig")})

    with store.connect(demo) as conn:
        after = store.list_issues(conn, include_all=True)
        detail = store.issue_detail(conn, 1)
    out("\n== The tracker after ==")
    out(render.issues_text(after, settings.prefix))
    out("\n== EXAI-1: update history and linked commits ==")
    text = render.issue_text(detail, settings.prefix)
    out(text[text.index("checklist:"):] if "checklist:" in text else text)
