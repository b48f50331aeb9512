"""The reading commands of the command line (`issues`, `show`, `conv`, `context`, `status`,
`doctor`) and the `db` group, registered on the main group by cli.py: ask the tracker one question, render.
Kept apart so cli.py stays under its size and its other commands' edits do not meet these.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from exai_git.errors import EXIT_CHECK_FAILED, EXIT_USAGE, ExaiError

if TYPE_CHECKING:
    from exai_git.cli import Ctx

_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def issue_number(value: str, prefix: str = "EXAI") -> int:
    """An issue number given as N or PREFIX-N (a usage error otherwise)."""
    from exai_git.config import PREFIX_RE

    text = value.strip()
    if "-" in text and PREFIX_RE.match(text.split("-", 1)[0]):
        given, text = text.split("-", 1)
        if given.upper() != prefix.upper():
            raise ExaiError(f"unknown prefix {given!r}: this repository's issues are "
                            f"{prefix}-N", exit_code=EXIT_USAGE)
    if not text.isdigit() or int(text) < 1:
        raise ExaiError(f"not an issue number: {value!r} (expected e.g. 1 or EXAI-1)",
                        exit_code=EXIT_USAGE)
    return int(text)


def register(group: click.Group, m: ModuleType) -> None:
    """Add the db group and the reading commands to group; m is the cli module (its option
    decorators and helpers), passed in rather than imported, so `python -m exai_git.cli`
    loads it once."""
    dsn_option: Decorator = m.dsn_option
    pass_ctx: Decorator = m.pass_ctx
    echo: Callable[[str], None] = m.echo
    _db(group, dsn_option, pass_ctx, echo)
    _clone(group, m)

    @group.command("issues")
    @dsn_option
    @click.option("--all", "include_all", is_flag=True, help="Every issue, not only active ones.")
    @_JSON
    @pass_ctx
    def issues_cmd(ctx: Ctx, include_all: bool, as_json: bool) -> None:
        """Active issues by severity, then number, with checklist progress."""
        from exai_git import render, store

        rows = ctx.read(store.list_issues, include_all=include_all)
        if as_json:
            echo(render.to_json({"issues": rows}))
        else:
            echo(render.issues_text(rows, ctx.settings.prefix))

    @group.command("show")
    @dsn_option
    @click.argument("number")
    @_JSON
    @pass_ctx
    def show_cmd(ctx: Ctx, number: str, as_json: bool) -> None:
        """An issue with its checklist, update history and linked commits."""
        from exai_git import render, store

        n = issue_number(number, ctx.settings.prefix)
        detail = ctx.read(store.issue_detail, n)
        if as_json:
            echo(render.to_json(detail))
        else:
            echo(render.issue_text(detail, ctx.settings.prefix))

    @group.command("conv")
    @dsn_option
    @click.argument("conversation_id")
    @_JSON
    @pass_ctx
    def conv_cmd(ctx: Ctx, conversation_id: str, as_json: bool) -> None:
        """Issues, steps, updates and commits of one conversation."""
        from exai_git import render, store
        from exai_git.markers import UUID_RE
        from exai_git.nearmiss import UUID_FORM

        conversation_id = conversation_id.strip()
        if not conversation_id:
            raise ExaiError("conversation id is empty", exit_code=EXIT_USAGE)
        if not UUID_RE.match(conversation_id):  # a prefix or a typo would find nothing
            raise ExaiError(f"not a whole conversation id: {conversation_id!r} (expected "
                            f"{UUID_FORM})", exit_code=EXIT_USAGE)
        data = ctx.read(store.conversation, conversation_id.lower())
        if as_json:
            echo(render.to_json(data))
        else:
            echo(render.conversation_text(data, ctx.settings.prefix))

    @group.command("context")
    @dsn_option
    @click.argument("number")
    @click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md",
                  show_default=True)
    @pass_ctx
    def context_cmd(ctx: Ctx, number: str, fmt: str) -> None:
        """Everything an AI session needs to resume issue NUMBER."""
        from exai_git import render, store

        n = issue_number(number, ctx.settings.prefix)
        detail = ctx.read(store.issue_detail, n)
        if fmt == "json":
            echo(render.to_json(dict(detail, key=f"{ctx.settings.prefix}-{n}")))
        else:
            click.echo(render.context_markdown(detail, ctx.settings.prefix), nl=False)


def _db(group: click.Group, dsn_option: Decorator, pass_ctx: Decorator,
        echo: Callable[[str], None]) -> None:
    @group.group()
    def db() -> None:
        """Create or inspect the tracker's schema."""

    @db.command("migrate")
    @dsn_option
    @pass_ctx
    def db_migrate(ctx: Ctx) -> None:
        """Apply pending migrations (idempotent; safe to run concurrently)."""
        from exai_git import store

        applied = ctx.read(store.migrate)
        if applied:
            for m in applied:
                echo(f"applied {m.version:03d}_{m.name}")
        else:
            echo("schema is up to date")

    @db.command("status")
    @dsn_option
    @_JSON
    @pass_ctx
    def db_status(ctx: Ctx, as_json: bool) -> None:
        """List migrations and whether each is applied."""
        from exai_git import render, store

        states = ctx.read(store.migration_status)
        if as_json:
            echo(render.to_json({"migrations": [_migration(s) for s in states]}))
            return
        for s in states:
            if s.applied_at is None:
                state = "pending"
            else:
                state = f"applied {render.when(s.applied_at)}"
                if s.checksum_ok is False:
                    state += " (file changed since)"
                elif s.checksum_ok is None:
                    state += " (unknown to this version)"
            echo(f"{s.version:03d}_{s.name}  {state}")

    @db.command("stop")
    def db_stop() -> None:
        """Stop the embedded PostgreSQL server (the default when no database is configured)."""
        from exai_git import embedded

        if embedded.stop():
            echo(f"stopped the embedded server ({embedded.data_dir() / 'pgdata'})")
        else:
            echo("the embedded server is not running")


def _migration(s: Any) -> dict[str, Any]:
    return {"version": s.version, "name": s.name, "applied": s.applied_at is not None,
            "applied_at": s.applied_at, "checksum_ok": s.checksum_ok}


def _clone(group: click.Group, m: ModuleType) -> None:
    """`status` and `doctor`: this clone and its setup, read."""
    dsn_option: Decorator = m.dsn_option
    pass_ctx: Decorator = m.pass_ctx
    echo: Callable[[str], None] = m.echo

    @group.command("status")
    @dsn_option
    @_JSON
    @click.option("--undo-orphaned", is_flag=True,
                  help="Undo the progress of commits that no branch reaches any more.")
    @pass_ctx
    def status_cmd(ctx: Ctx, as_json: bool, undo_orphaned: bool) -> None:
        """This clone: branch, tracked or not, the main line, held markers, orphaned progress,
        queued and failed work, the last scan (after reconciling with the tracked branches)."""
        from exai_git import render, status

        say: Callable[[str], None] = lambda line: click.echo(line, err=True)
        if undo_orphaned:
            for o in status.undo_orphaned(m._repo(), ctx.settings, say):
                echo(f"undone: progress of {o.commit[:10]} {render.clean(o.subject)}")
        result = status.status(m._repo(), ctx.settings, say)
        if as_json:
            echo(render.to_json(result.to_json(ctx.settings.prefix)))
        else:
            for line in status.lines(result, ctx.settings.prefix):
                echo(render.clean(line))

    @group.command("doctor")
    @dsn_option
    @pass_ctx
    def doctor_cmd(ctx: Ctx) -> None:
        """Check configuration, database, schema, hooks, the queue and tracked secrets."""
        from exai_git import doctor, render

        checks = doctor.run(m.find_root(), ctx.dsn)
        for check in checks:
            echo(render.clean(check.line()))
        if any(c.level == doctor.FAIL for c in checks):
            raise SystemExit(EXIT_CHECK_FAILED)

