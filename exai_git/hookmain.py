"""The hooks' own entry point: `python -m exai_git.hookmain NAME [ARGS]`.

Hooks run on every commit, so this path skips the command-line framework and imports only
what the hook at hand needs: a hook with nothing to do imports no psycopg and opens no
connection. Each hook is a short-lived process: it does its work and exits.
"""

from __future__ import annotations

import os
import sys

HOOKS = ("commit-msg", "pre-commit", "prepare-commit-msg", "post-commit", "pre-push",
         "post-rewrite")


def _stdin_lines() -> list[str]:
    if sys.stdin is None or sys.stdin.isatty():
        return []
    return sys.stdin.read().splitlines()


def run(name: str, args: list[str]) -> int:
    from exai_git import budget

    budget.hook_started()  # the hook's budget for database work counts from here
    if _nothing_to_do(name, args):
        return 0  # skipped, or a message given (-m, -F) or reused: no template to add to
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

    return errors.handle(lambda: _run(name, args), label="EXAI", code_of=code_of,
                         secrets=[os.environ.get("EXAI_GIT_DSN"), os.environ.get("DATABASE_URL")])


def _run(name: str, args: list[str]) -> int:
    """Run one hook in this process."""
    from exai_git import config, hooks
    from exai_git.repo import Repo

    repo = Repo()
    settings = config.load(repo.root)
    from exai_git import budget

    budget.for_hook(settings.hook_timeout)  # all this hook's database work: one budget
    from exai_git.install import remember_prefix

    remember_prefix(repo, settings)  # the native hooks' shell test reads it
    if name == "commit-msg":
        return hooks.commit_msg(repo, settings, args[0] if args else
                                str(repo.git_dir / "COMMIT_EDITMSG"))
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
    assert name == "post-rewrite"
    return hooks.post_rewrite(repo, settings, _stdin_lines())


def _nothing_to_do(name: str, args: list[str]) -> bool:
    return bool(os.environ.get("EXAI_GIT_SKIP")) or (
        name == "prepare-commit-msg" and len(args) > 1 and args[1] in (
            "message", "merge", "squash", "commit"))


def main() -> None:
    argv = sys.argv[1:]
    if not argv:
        print(f"usage: exai-git-hook NAME [ARGS] (NAME: {', '.join(HOOKS)})", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(argv[0], argv[1:]))


if __name__ == "__main__":
    main()
