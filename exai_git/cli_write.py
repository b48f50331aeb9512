"""The write commands of the command line (`new`, `step`, `note`, `mark`), registered on the
main group by cli.py: parse, call one function of hand.py, render. Kept apart so cli.py
stays under its size and its other commands' edits do not meet these.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import click

from exai_git.cli_read import issue_number

if TYPE_CHECKING:
    from exai_git.cli import Ctx

_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_CONV = click.option("--conv", metavar="ID", default=None,
                     help="The conversation (a UUID) this was done in.")
Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def _said(echo: Callable[[str], None], edit: object, as_json: bool) -> None:
    from exai_git import render
    from exai_git.edits import Edit

    assert isinstance(edit, Edit)
    if as_json:
        echo(render.to_json(edit.to_json()))
        return
    echo(render.clean("; ".join(edit.said)))
    for line in edit.warnings:
        click.echo(f"warning: {render.clean(line)}", err=True)


def register(group: click.Group, m: ModuleType) -> None:
    """Add the write commands to group; m is the cli module (its option decorators and
    helpers), passed in rather than imported, so `python -m exai_git.cli` loads it once."""
    dsn_option: Decorator = m.dsn_option
    pass_ctx: Decorator = m.pass_ctx
    echo: Callable[[str], None] = m.echo

    @group.command("new")
    @dsn_option
    @click.argument("title")
    @click.option("--severity", default="medium", show_default=True,
                  help="critical, high, medium or low.")
    @click.option("--category", default=None,
                  help="timeout, architecture, configuration, performance, security or other.")
    @click.option("--at", "at", metavar="PATH[:A[-B]]", default=None,
                  help="Where the issue is: a file at HEAD (relative to here), and lines A-B.")
    @click.option("--step", "steps", metavar="TEXT", multiple=True,
                  help="A checklist step (repeat for more; numbered 1, 2, ... in order).")
    @_CONV
    @click.option("--description", default=None, help="What is wrong, in more words.")
    @_JSON
    @pass_ctx
    def new_cmd(ctx: Ctx, title: str, severity: str, category: str | None, at: str | None,
                steps: tuple[str, ...], conv: str | None, description: str | None,
                as_json: bool) -> None:
        """File an issue (status open); prints its key."""
        from exai_git import hand, render

        filed = hand.new(ctx.settings, m._repo_or_none() if at is not None else None, title,
                         severity=severity, category=category, at=at, steps=steps, conv=conv,
                         description=description)
        echo(render.to_json(filed.to_json()) if as_json else filed.key)


    @group.command("step")
    @dsn_option
    @click.argument("number")
    @click.argument("step", metavar="K|add")
    @click.argument("value", metavar="STATUS|TEXT")
    @_CONV
    @_JSON
    @pass_ctx
    def step_cmd(ctx: Ctx, number: str, step: str, value: str, conv: str | None,
                 as_json: bool) -> None:
        """`step N add TEXT` adds a checklist step (the next number); `step N K STATUS` sets
        step K: pending, in_progress, complete or skipped."""
        from exai_git import hand

        n = issue_number(number, ctx.settings.prefix)
        if step == "add":
            edit = hand.add_step(ctx.settings, n, value, conv)
        else:
            edit = hand.set_step(ctx.settings, n, step, value, conv)
        _said(echo, edit, as_json)


    @group.command("note")
    @dsn_option
    @click.argument("number")
    @click.argument("text")
    @_CONV
    @_JSON
    @pass_ctx
    def note_cmd(ctx: Ctx, number: str, text: str, conv: str | None, as_json: bool) -> None:
        """A comment on issue N (a conversation_link when --conv is given)."""
        from exai_git import hand

        _said(echo, hand.note(ctx.settings, issue_number(number, ctx.settings.prefix), text, conv),
              as_json)


    @group.command("mark")
    @dsn_option
    @click.argument("number")
    @click.argument("status")
    @_CONV
    @click.option("--note", default=None, help="A comment to record with the change.")
    @_JSON
    @pass_ctx
    def mark_cmd(ctx: Ctx, number: str, status: str, conv: str | None, note: str | None,
                 as_json: bool) -> None:
        """Set issue N's status by hand: open, in_progress, fixed, verified, closed, wont_fix."""
        from exai_git import hand

        _said(echo, hand.mark(ctx.settings, issue_number(number, ctx.settings.prefix), status, conv,
                        note), as_json)
