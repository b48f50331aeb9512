"""The hooks' own entry point: `python -m exai_git.hookmain NAME [ARGS]`.

Hooks run on every commit, so this path skips the command-line framework and imports only
what the hook at hand needs: a hook with nothing to do imports no psycopg and opens no
connection. Each hook is a short-lived process: it does its work and exits.
"""

from __future__ import annotations

import os
import sys

# Set by the native hooks' shell for the Python it starts: its directory and what
# `git rev-parse --git-dir --git-common-dir --show-toplevel --verify HEAD` said there, one
# a line (install.GIT_DIRS).
HOOK_DIRS_ENV = "EXAI_HOOK_DIRS"
HOOKS = ("commit-msg", "pre-commit", "prepare-commit-msg", "post-commit", "pre-push",
         "post-rewrite", "post-merge", "post-checkout")
# The frameworks' exai-land runs in three stages and names none: the environment they set
# for each says which (pre-commit: PRE_COMMIT_IS_SQUASH_MERGE, prek: PRE_COMMIT_SQUASH_MERGE).
LAND_STAGES = (("post-checkout", "PRE_COMMIT_CHECKOUT_TYPE"),
               ("post-merge", "PRE_COMMIT_IS_SQUASH_MERGE"),
               ("post-merge", "PRE_COMMIT_SQUASH_MERGE"),
               ("post-rewrite", "PRE_COMMIT_REWRITE_COMMAND"))


def _arg_or_env(args: list[str], index: int, *names: str) -> str | None:
    """A hook argument as git passes it, else as pre-commit (first name) or prek passes it
    in the environment (the frameworks run hooks without git's arguments)."""
    if len(args) > index:
        return args[index]
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _stdin_text() -> str:
    """What git wrote to the hook's standard input (post-rewrite's mapping, pre-push's refs);
    '' on a terminal or when there is none."""
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    try:
        return sys.stdin.read()
    except (OSError, ValueError):
        return ""


def _stdin_lines() -> list[str]:
    return _stdin_text().splitlines()


def _land_stage() -> str:
    """The git hook `exai-git-hook land` runs in; "post-checkout" (a plain reconciliation)
    when the environment names none."""
    return next((hook for hook, var in LAND_STAGES if os.environ.get(var)), "post-checkout")


def run(name: str, args: list[str]) -> int:
    dirs = os.environ.pop(HOOK_DIRS_ENV, "")  # this process's only: never a child's
    if name == "land":
        name, args = _land_stage(), []
    from exai_git import budget

    budget.hook_started()  # the hook's budget for database work counts from here
    if _nothing_to_do(name, args):
        return 0
    try:
        os.getcwd()
    except OSError as e:
        print(f"EXAI: the current directory is gone ({e.strerror}); hook skipped",
              file=sys.stderr)
        return 0
    if name not in HOOKS:
        print(f"exai-git: unknown hook {name!r} (known: {', '.join(HOOKS)})", file=sys.stderr)
        return 2
    from exai_git import errors

    def code_of(e: errors.ExaiError) -> int:
        # A check that failed refuses the commit; any other error is said, never blocking.
        failed = name == "commit-msg" and e.exit_code == errors.EXIT_CHECK_FAILED
        return e.exit_code if failed else 0

    return errors.handle(lambda: _run(name, args, dirs), label="EXAI", code_of=code_of,
                         secrets=[os.environ.get("EXAI_GIT_DSN"), os.environ.get("DATABASE_URL")])


def _refuse_unchecked_markers(e: Exception, path: str) -> None:
    """With settings that cannot be read, a message that may hold markers is refused: they
    could be neither checked nor applied as configured (no marker: the commit goes on)."""
    from exai_git import config, msgcheck
    from exai_git.errors import CheckFailed

    parsed = msgcheck.parse_message(msgcheck.read_message_file(path), config.Settings())
    if parsed.actions or parsed.errors or parsed.reverts:
        raise CheckFailed(f"{e}; this message's markers cannot be checked: commit refused "
                          "(fix the setting, or commit with --no-verify)")


def _run(name: str, args: list[str], dirs: str = "") -> int:
    """Run one hook in this process (dirs: what the native hook's shell learnt of the
    repository, HOOK_DIRS_ENV)."""
    from exai_git import config, errors
    from exai_git.repo import Repo

    repo = Repo.from_hook_dirs(dirs) or Repo()
    try:
        settings = config.load(repo.root)
    except errors.ConfigError as e:
        if name == "commit-msg":
            _refuse_unchecked_markers(e, args[0] if args else str(repo.git_dir / "COMMIT_EDITMSG"))
        raise
    from exai_git import budget

    budget.for_hook(settings.hook_timeout)  # all this hook's database work: one budget
    from exai_git.install import remember_prefix

    remember_prefix(repo, settings)  # the native hooks' shell test reads it
    if name == "commit-msg":
        from exai_git.msgcheck import commit_msg

        return commit_msg(repo, settings, args[0] if args else
                          str(repo.git_dir / "COMMIT_EDITMSG"))
    from exai_git import hooks

    if name == "pre-commit":
        return hooks.pre_commit(repo, settings)
    if name == "prepare-commit-msg":
        if args:
            hooks.prepare_commit_msg(repo, settings, args[0], args[1] if len(args) > 1
                                     else None)
        return 0
    if name == "post-commit":
        return hooks.post_commit(repo, settings)
    if name == "pre-push":
        lines = hooks.pre_commit_framework_push_lines() or _stdin_lines()
        remote = args[0] if args else os.environ.get("PRE_COMMIT_REMOTE_NAME")
        return hooks.pre_push(repo, settings, lines, remote)
    if name == "post-merge":
        squash = _arg_or_env(args, 0, "PRE_COMMIT_IS_SQUASH_MERGE", "PRE_COMMIT_SQUASH_MERGE")
        return hooks.post_merge(repo, settings, squash=squash == "1")
    if name == "post-checkout":
        return hooks.post_checkout(repo, settings)
    assert name == "post-rewrite"
    command = _arg_or_env(args, 0, "PRE_COMMIT_REWRITE_COMMAND")
    return hooks.post_rewrite(repo, settings, command, _stdin_text())


def _nothing_to_do(name: str, args: list[str]) -> bool:
    """Skipped, a message given (-m, -F) or reused (no template to add to), or a checkout of
    files (post-checkout's third argument 0: no branch moved)."""
    if os.environ.get("EXAI_GIT_SKIP"):
        return True
    if name == "prepare-commit-msg":
        return len(args) > 1 and args[1] in ("message", "merge", "squash", "commit")
    if name == "post-checkout":
        return _arg_or_env(args, 2, "PRE_COMMIT_CHECKOUT_TYPE") == "0"
    return False


def main() -> None:
    argv = sys.argv[1:]
    if not argv:
        print(f"usage: exai-git-hook NAME [ARGS] (NAME: {', '.join(HOOKS)}, land)",
              file=sys.stderr)
        sys.exit(2)
    code = run(argv[0], argv[1:])
    # the hook is done (connections, files, git processes closed): end without the
    # interpreter's last garbage collection walking every imported object (cli.main)
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
