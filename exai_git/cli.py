"""The command line: parse options, call one function, render. No SQL and no git here.

Imports are deferred into the commands so a hook that has nothing to do stays cheap.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from exai_git import errors
from exai_git.errors import EXIT_CHECK_FAILED, EXIT_USAGE, ExaiError

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.repo import Repo

T = TypeVar("T")


def find_root(start: Path | None = None) -> Path | None:
    """The work tree root above start (where .git is), without running git."""
    here = (start or Path.cwd()).resolve()
    for path in (here, *here.parents):
        if (path / ".git").exists():
            return path
    return None


class Ctx:
    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from exai_git import config

            self._settings = config.load(find_root(), overrides={"dsn": self.dsn})
        return self._settings

    def read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One question to the tracker (a store function): connect, ask, close."""
        from exai_git import store

        with store.connect(self.settings) as conn:
            return query(conn, *args, **kwargs)


pass_ctx = click.make_pass_decorator(Ctx)


def dsn_option(f: Any) -> Any:
    def remember(ctx: click.Context, _param: Any, value: str | None) -> None:
        if value is not None:
            ctx.find_object(Ctx).dsn = value  # type: ignore[union-attr]

    return click.option(
        "--dsn",
        metavar="DSN",
        expose_value=False,
        callback=remember,
        help="Database connection string or URL (default: $EXAI_GIT_DSN, $DATABASE_URL, "
        "the embedded server).",
    )(f)


def echo(text: str) -> None:
    click.echo(text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dsn", metavar="DSN", default=None, help="Database connection string or URL.")
@click.version_option(package_name="exai-git")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None) -> None:
    """Keep the EXAI issue tracker in step with git: commit-message markers, a scanner for
    code that open issues point at, and hooks that apply both."""
    ctx.obj = Ctx(dsn)


# --------------------------------------------------------------------------- markers


def _repo_or_none() -> Repo | None:
    from exai_git.repo import Repo

    try:
        return Repo()
    except ExaiError:
        return None


def _repo() -> Repo:
    from exai_git.repo import Repo

    return Repo()


@cli.command("parse")
@dsn_option
@click.argument("file", default="-", metavar="[FILE|-]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def parse_cmd(ctx: Ctx, file: str, as_json: bool) -> None:
    """Dry run: the actions a commit message would trigger (reads stdin by default)."""
    from exai_git import msgcheck, render

    checked = msgcheck.check_draft(msgcheck.read_message_file(file), ctx.settings,
                                   _repo_or_none())
    parsed = checked.parsed
    if as_json:
        data = parsed.to_json()
        data["warnings"] += [{"reason": w} for w in checked.db_warnings]
        data["errors"] += [{"reason": e} for e in checked.db_errors]
        data["checked"] = "syntax" if checked.db_note or not parsed.actions else "tracker"
        echo(render.to_json(data))
    else:
        for line in msgcheck.check_lines(checked, ctx.settings.prefix, hook=False):
            echo(line)
    if not checked.ok:
        raise SystemExit(EXIT_CHECK_FAILED)


@cli.command("check-msg")
@dsn_option
@click.argument("file")
@pass_ctx
def check_msg_cmd(ctx: Ctx, file: str) -> None:
    """The commit-msg hook: refuse a message with a malformed marker or one naming an issue
    or step that does not exist."""
    from exai_git import msgcheck

    code = msgcheck.commit_msg(_repo_or_none(), ctx.settings, file,
                               say=lambda line: click.echo(line, err=True))
    if code:
        raise SystemExit(code)


# --------------------------------------------------------------------------- scan


@cli.command("scan")
@dsn_option
@click.argument("target", required=False, metavar="[REV | A..B]")
@click.option("--staged", is_flag=True, help="Scan the index (the default).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--sarif", is_flag=True, help="SARIF 2.1.0 output.")
@click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low"]),
              default=None, help="Exit 1 when a finding is this severe or worse.")
@pass_ctx
def scan_cmd(ctx: Ctx, target: str | None, staged: bool, as_json: bool, sarif: bool,
             fail_on: str | None) -> None:
    """Which open issues does the staged change (or REV, or A..B) touch?"""
    from exai_git import __version__, hooks, render, scanner

    if staged and target:
        raise click.UsageError("give --staged or a revision, not both")
    if as_json and sarif:
        raise click.UsageError("give --json or --sarif, not both")
    repo = _repo()
    # run by a person or CI, a scan the tracker cannot answer exits 3 (the pre-commit hook,
    # exai-git-hook pre-commit, says so and lets the commit go on)
    result = hooks.scan(repo, ctx.settings, target)
    if target is None:  # what the staged change touches, for the commit's hooks
        from exai_git import hookstate

        hookstate.remember_scan(repo, result, ctx.settings)
    prefix = ctx.settings.prefix
    if as_json:
        echo(render.to_json({"findings": [f.to_json() for f in result.findings]}))
    elif sarif:
        echo(render.to_json(scanner.sarif(result.findings, prefix, __version__)))
    else:
        # as a hook, git shows a hook's standard output on the terminal too
        for f in result.findings:
            echo(scanner.finding_line(f, prefix))
        if not result.findings:
            echo(render.clean(f"{target or 'the staged change'} touches no open issue"))
        elif target is None:  # past commits' messages are written
            echo(scanner.hint(result.findings, prefix))
    if scanner.fails(result.findings, fail_on or ctx.settings.fail_on):
        raise SystemExit(EXIT_CHECK_FAILED)


# --------------------------------------------------------------------------- apply


@cli.command("apply")
@dsn_option
@click.argument("target", required=False, metavar="[REV | A..B]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--branch", "branch", metavar="NAME",
              help="Bring the tracker up to branch NAME from the head recorded for it (CI).")
@click.option("--since", "since", metavar="REV",
              help="With --branch and no recorded head: apply what came after REV.")
@pass_ctx
def apply_cmd(ctx: Ctx, target: str | None, as_json: bool, branch: str | None,
              since: str | None) -> None:
    """Apply the markers of HEAD, a revision, or every commit of A..B (oldest first).
    Idempotent: what was applied is skipped."""
    from exai_git import apply, backfill

    repo = _repo()
    if (since and not branch) or (target and branch):
        raise click.UsageError("use REV | A..B, or --branch NAME [--since REV]")
    if target and "..." in target:  # said before anything is reconciled
        raise ExaiError(f"{target}: apply takes a revision or A..B (the commits after A up to "
                        "B), not A...B", exit_code=EXIT_USAGE)
    bar = None
    progress = None
    if branch:
        from exai_git.branch import apply_branch

        report = apply_branch(repo, ctx.settings, branch, since=since,
                              say=lambda line: click.echo(line, err=as_json))
    elif target and ".." in target and sys.stderr.isatty() and not as_json:
        bar = click.progressbar(length=0, label="applying", file=sys.stderr,
                                show_pos=True, show_percent=False)

        def progress(n: int) -> None:
            assert bar is not None
            bar.length = (bar.length or 0) + n
            bar.update(n)
    if not branch:
        _reconcile(repo, ctx.settings, err=as_json)
        report = backfill.apply_revs(repo, target, ctx.settings, progress=progress)
    if bar is not None:
        bar.render_finish()
    if as_json:
        from exai_git import render

        echo(render.to_json(report.to_json()))
    else:
        lines = apply.report_lines(report, ctx.settings.prefix)
        if len(lines) > 50:  # a backfill: say what went wrong, then the totals
            lines = [ln for ln in lines if ln.startswith(("EXAI: warning", "EXAI: error"))]
        for line in lines:
            echo(line)
        echo(f"{report.read} commit{'s' if report.read != 1 else ''} read, "
             f"{report.applied} action{'s' if report.applied != 1 else ''} applied, "
             f"{report.skipped} skipped as already applied, {report.errors} error"
             f"{'s' if report.errors != 1 else ''}")
    if report.errors:
        raise SystemExit(EXIT_CHECK_FAILED)


def _reconcile(repo: Repo, settings: Settings, *, err: bool = False) -> None:
    """Bring the tracker up to this clone's tracked branches first (MARKERS.md: every hook,
    `status`, `sync` and `apply` reconciles), saying what that applied or undid."""
    from exai_git import hookland

    hookland.land(repo, settings, None, say=lambda line: click.echo(line, err=err))


@cli.command("sync")
@dsn_option
@click.option("--drop", "drop_id", type=int, metavar="ID",
              help="Delete queued item ID (a failed one, as listed by sync) instead.")
@pass_ctx
def sync_cmd(ctx: Ctx, drop_id: int | None) -> None:
    """Replay the work queued while the database could not be reached."""
    from exai_git import apply, hooks, render

    repo = _repo()
    if drop_id is not None:  # failed queued work stays until dropped
        if not hooks.outbox(repo).drop(drop_id):
            raise ExaiError(f"no queued item {drop_id}; `exai-git sync` lists the failed ones")
        echo(f"dropped queued item {drop_id}")
        return
    count, report = apply.sync(repo, ctx.settings)
    for line in apply.report_lines(report, ctx.settings.prefix):
        echo(line)
    echo(f"{count} queued commit{'s' if count != 1 else ''} replayed, "
         f"{report.applied} action{'s' if report.applied != 1 else ''} applied, "
         f"{report.skipped} already applied")
    _reconcile(repo, ctx.settings)
    failed = hooks.outbox(repo).failed()  # report failed work, exit 1
    for item in failed:
        echo(f"failed {item.id}: commit {item.sha[:10]} cannot apply: {render.clean(item.reason)}"
             f"; fix the tracker and run `exai-git apply {item.sha[:10]}`, then "
             f"`exai-git sync --drop {item.id}`")
    if failed:
        raise SystemExit(EXIT_CHECK_FAILED)


@cli.command("install")
@click.option("--uninstall", is_flag=True, help="Remove the hooks exai-git installed.")
@pass_ctx
def install_cmd(ctx: Ctx, uninstall: bool) -> None:
    """Install native git hooks (for repositories that do not use pre-commit)."""
    from exai_git import install

    lines = install.install(_repo(), uninstall=uninstall, settings=ctx.settings)
    for line in lines:
        echo(line)
    skipped = [line.split()[1].rstrip(":") for line in lines if line.startswith("skipped ")]
    if skipped:  # half the hooks is not an install: say what is missing and fail
        raise ExaiError(f"not installed: {', '.join(skipped)}; markers are not checked or "
                        "applied there until those hooks run exai-git", exit_code=1)


@cli.command("hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def hook_cmd(ctx: Ctx, name: str, args: tuple[str, ...]) -> None:
    """Entry point of the hooks (as the pre-commit framework runs them)."""
    from exai_git import hookmain

    if ctx.dsn:
        os.environ["EXAI_GIT_DSN"] = ctx.dsn
    code = hookmain.run(name, list(args))
    if code:
        raise SystemExit(code)


@cli.command("demo")
@dsn_option
@click.option("--keep", is_flag=True, help="Keep the scratch repository, the demo database "
              "and the embedded server it started.")
@pass_ctx
def demo_cmd(ctx: Ctx, keep: bool) -> None:
    """The walkthrough: seed issues, real commits through the hooks, the tracker before and
    after (on the embedded server unless --dsn names one); then removes what it made."""
    from exai_git import demo

    demo.run(ctx.settings, echo, keep=keep)


# --------------------------------------------------------------------------- reading, writing
# db, issues, show, conv, context, status, doctor live in cli_read.py and new, step, note, mark in
# cli_write.py (registered with this module's helpers).

from exai_git import cli_read, cli_write

cli_read.register(cli, sys.modules[__name__])
cli_write.register(cli, sys.modules[__name__])


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """The process's entry point (the console script, `python -m exai_git`): run, then end
    without the interpreter's last garbage collection. The command is done (its connections,
    files and git processes closed); what is left is the imported modules' objects, which
    that collection would walk one by one only to free them as the process exits (some
    25 ms once psycopg is imported). Frozen, it passes them by."""
    code = run(argv)
    import gc

    gc.freeze()
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """The exit code of the command line argv, every error said in one line (errors.handle)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        os.getcwd()
    except OSError as e:
        click.echo(f"exai-git: the current directory is gone ({e.strerror}); cd somewhere",
                   err=True)
        return 1
    dsns = [os.environ.get("EXAI_GIT_DSN"), os.environ.get("DATABASE_URL"),
            *(a.split("=", 1)[1] if a.startswith("--dsn=") else a for a in args)]
    return errors.handle(lambda: _invoke(args), label="exai-git", secrets=dsns)


def _invoke(args: list[str]) -> int:
    """Parse args and run the command, outside click's own handling of Ctrl-C and errors."""
    try:
        with cli.make_context("exai-git", args) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.Abort:
        raise KeyboardInterrupt from None  # a prompt's Ctrl-C or end of input
    except click.ClickException as e:
        e.show()
        return EXIT_USAGE if e.exit_code == 2 else e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    main()
