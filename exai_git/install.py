"""Native hook scripts: write them, find the ones exai-git wrote, remove them.

Each script is marked as ours and starts Python only when its shell early exit finds
something to do; a hook that exai-git did not write is never overwritten or removed. The
scripts find `exai-git-hook` at run time and read the issue prefix at run time, so a moved
virtualenv or a changed configuration needs no reinstall.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from exai_git.hookmain import HOOK_DIRS_ENV, HOOKS
from exai_git.hookstate import (
    HINT_PENDING,
    POST_COMMIT_QUIET,
    REFS_ENV,
    REFS_SEEN,
    _replace,
    state_dir,
)
from exai_git.repo.landing import REFS_FORMAT

if TYPE_CHECKING:
    from exai_git.config import Settings
    from exai_git.repo import Repo

# Shell: $have, the key of the commit HEAD names, as Repo.staged_commit_key() computes it
# for the commit about to be made from the index: its parents and the git blob hash of its
# raw diff against the first (same parent and same diff: same tree; read-only git only);
# $b its message, read by the same `git log` as its parents (the first line).
HEAD_COMMIT_KEY = (
    'm="$(git log -1 --no-show-signature --format=%P%n%B HEAD 2>/dev/null)"\n'
    '  b="${m#*\n}"; [ "$b" = "$m" ] && b=""\n'
    '  have="${m%%\n*}'
    ' $(git diff-tree -r --raw -z --no-abbrev --no-renames --ignore-submodules=none'
    ' --no-commit-id HEAD 2>/dev/null | git hash-object --stdin 2>/dev/null)"'
)
# Shell: $seen, what hookstate.refs_seen_line() records after a reconciliation, for the refs
# and settings as they are now: equal, and nothing tracked can have moved.
REFS_SEEN_KEY = (
    f"seen=\"$(git for-each-ref --format='{REFS_FORMAT}' refs/heads/ refs/remotes/ 2>/dev/null"
    ' | git hash-object --stdin 2>/dev/null)'
    f' {"|".join("${" + v + "}" for v in REFS_ENV)}"\n'
)
# Shell: $g the git dir, $c the common dir, $t the work tree's top, $head the commit HEAD
# names, all from one git process (in a bare repository t is empty: git prints the first two,
# then refuses the third; before the first commit head is empty).
GIT_DIRS = ("{ IFS= read -r g; IFS= read -r c; IFS= read -r t; IFS= read -r head; } <<EOF\n"
            "$(git rev-parse --git-dir --git-common-dir --show-toplevel"
            " --verify -q --end-of-options 'HEAD^{commit}' 2>/dev/null)\nEOF\n")
# Shell: true while a rebase is under way (its post-rewrite reconciles at the end); $g set.
IN_REBASE = '[ -d "$g/rebase-merge" ] || [ -d "$g/rebase-apply" ]'
MARK = "# exai-git hook: installed by `exai-git install`; safe to remove with --uninstall"
# the framework hook ids (.pre-commit-hooks.yaml) and the git hooks each one runs in
FRAMEWORK_IDS = {"exai-check-msg": ("commit-msg",), "exai-scan": ("pre-commit",),
                 "exai-apply": ("post-commit",), "exai-push": ("pre-push",),
                 "exai-land": ("post-merge", "post-rewrite", "post-checkout")}
LANDING_HOOKS = FRAMEWORK_IDS["exai-land"]
PREFIX_FILE = "prefix"  # <common dir>/exai-git/prefix: the prefix the shell scripts test for
HOOK_COMMAND = "exai-git-hook"


def hook_script(name: str, hook_command: str) -> str:
    """One native hook: an early exit where there can be nothing to do, then `exai-git-hook
    NAME`, found on PATH at run time, else at hook_command (where it was at install time); one
    line, and the commit goes on, when neither is there."""
    # before asking git anything: what needs no answer from it
    first = {
        # a message given with -m/-F, a merge or a reused message has no template to fill
        "prepare-commit-msg": 'case "$2" in message|merge|squash|commit) exit 0 ;; esac\n',
        # a checkout of files ($3 = 0) does nothing
        "post-checkout": '[ "$3" = 0 ] && exit 0\n',
    }.get(name, "")
    early = ""
    if name == "commit-msg":
        # a message naming no issue key, conversation or revert has nothing to check (unless
        # a `merge --squash` staged commits: their markers are remembered for post-commit;
        # or the pre-commit scan left a hint to give when the message does not say it)
        early = (_read_prefix()
                 + f'[ -n "$p" ] && [ ! -f "$g/SQUASH_MSG" ] && [ ! -e "$d/{HINT_PENDING}" ] &&'
                 f' ! {_grep_markers()} "$1" 2>/dev/null && exit 0\n')
    elif name in ("post-checkout", "post-merge", "post-rewrite"):
        # an amend mid-rebase does nothing; otherwise there is nothing to do when no ref moved
        # since the last reconciliation (but a squash merge, $1 = 1, moves none and stages
        # commits to remember)
        amend = f'if [ "$1" = amend ]; then\n{IN_REBASE} && exit 0\nfi\n'
        keep = ' && [ "$1" != 1 ]' if name == "post-merge" else ""
        early = ((amend if name == "post-rewrite" else "") + _read_prefix() + REFS_SEEN_KEY
                 + f'[ -n "$p" ]{keep} && [ -r "$d/{REFS_SEEN}" ] &&'
                 f' read -r want < "$d/{REFS_SEEN}" && [ "$seen" = "$want" ] && exit 0\n')
    elif name == "post-commit":
        # mid-rebase: nothing (the rebase's post-rewrite reconciles); nothing to apply or
        # move: the pre-commit scan of this parent and staged change found no open issue on
        # the changed files, nothing is queued, and the message names no issue
        early = (f"{IN_REBASE} && exit 0\n" + _read_prefix()
                 + f'q="$d/{POST_COMMIT_QUIET}"\n'
                 'if [ -n "$p" ] && [ -r "$q" ] && read -r want < "$q"; then\n'
                 f'  {HEAD_COMMIT_KEY}\n'
                 '  [ "$have" = "$want" ] &&\n'
                 f'    ! printf \'%s\\n\' "$b" | {_grep_markers()} && exit 0\n'
                 'fi\n')
    # every hook that goes on asks git once for the directories and HEAD, and hands the
    # answer to the Python it starts ($$: exec keeps this process's id, so the answer is
    # taken by that process only: Repo.from_hook_dirs)
    early = (first + GIT_DIRS + early
             + f'{HOOK_DIRS_ENV}="$$\n$PWD\n$g\n$c\n$t\n$head"; export {HOOK_DIRS_ENV}\n')
    return (
        "#!/bin/sh\n"
        f"{MARK}\n"
        f"{early}"
        f"h=$(command -v {HOOK_COMMAND} 2>/dev/null) || h={_sh_quote(hook_command)}\n"
        'if [ ! -x "$h" ]; then\n'
        f'  echo "EXAI: {HOOK_COMMAND} is not on PATH (nor at $h); hook {name} skipped:'
        ' reinstall exai-git, or exai-git install --uninstall" >&2\n'
        "  exit 0\n"
        "fi\n"
        f'exec "$h" {name} "$@"\n'
    )


def _read_prefix() -> str:
    """Shell, after GIT_DIRS: $d the state directory, $p the prefix the hook last read from
    the configuration (empty when there is none yet or a configuration file changed since:
    Python then runs, reads the configuration and writes it again); EXAI_GIT_PREFIX wins."""
    return ('d="$c/exai-git"; p=""\n'
            f'[ -r "$d/{PREFIX_FILE}" ] && read -r p < "$d/{PREFIX_FILE}"\n'
            'for f in "$t/.exai-git.toml" "$t/pyproject.toml"; do\n'
            f'  [ "$f" -nt "$d/{PREFIX_FILE}" ] && p=""\n'
            'done\n'
            'p="${EXAI_GIT_PREFIX:-$p}"\n')


def _grep_markers() -> str:
    """A grep that succeeds when its input may hold a marker, a trailer or a revert."""
    return 'grep -qiE -e "$p" -e "conversation" -e "reverts commit"'


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def remember_prefix(repo: Repo, settings: Settings) -> None:
    """Record the configured prefix for the native hooks' shell test (see hook_script)."""
    if os.environ.get("EXAI_GIT_PREFIX"):
        return  # the environment's, not the configuration's
    path = state_dir(repo) / PREFIX_FILE
    try:
        if path.read_text().strip() == settings.prefix and not any(
                (repo.root / f).exists() and (repo.root / f).stat().st_mtime_ns
                > path.stat().st_mtime_ns for f in (".exai-git.toml", "pyproject.toml")):
            return
    except OSError:
        pass
    _replace(path, settings.prefix + "\n")  # unwritable: Python runs for every message


def installed(repo: Repo) -> list[str]:
    """The native hooks exai-git wrote that are in place."""
    directory = repo.hooks_dir()
    return [n for n in HOOKS if _ours(directory / n)]


def _ours(path: os.PathLike[str]) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARK in f.read()
    except OSError:
        return False


def install(repo: Repo, *, uninstall: bool = False, hook_command: str | None = None,
            settings: Settings | None = None) -> list[str]:
    """Write (or remove) the native hooks; never touch a hook that is not ours. One line per
    hook says what was done."""
    directory = repo.hooks_dir()
    hook_command = hook_command or _installed_hook_command()
    lines = []
    for name in HOOKS:
        path = directory / name
        ours = _ours(path)
        if uninstall:
            if ours:
                path.unlink()
                lines.append(f"removed {name}")
            elif path.exists():
                lines.append(f"left {name}: not installed by exai-git")
            continue
        if path.exists() and not ours:
            head = path.read_text(errors="replace")[:512]
            framework = next((f for f in ("pre-commit", "prek")
                              if f"# File generated by {f}" in head), None)
            runs = [i for i in configured_ids(repo) if name in FRAMEWORK_IDS[i]]
            if framework and runs:  # the framework runs exai-git there: nothing is missing
                lines.append(f"kept {name}: {framework} runs {runs[0]} there "
                             "(.pre-commit-config.yaml)")
                continue
            lines.append(f"skipped {name}: " + (
                f"{framework} manages it (use the exai hooks in .pre-commit-config.yaml)"
                if framework else "a hook that exai-git did not write is there (add "
                f"`exai-git-hook {name} \"$@\"` to it yourself)"))
            continue
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.exai-tmp")
        tmp.write_text(hook_script(name, hook_command))
        tmp.chmod(0o755)
        os.replace(tmp, path)
        lines.append(f"installed {name}")
    if not uninstall and settings is not None:
        remember_prefix(repo, settings)
        from exai_git.hookland import start_point

        start_point(repo, settings, lines.append)  # the clone's start: nothing before applies
    return lines


def configured_ids(repo: Repo) -> list[str]:
    """The exai hook ids .pre-commit-config.yaml names (read as text: no YAML parser for a
    list of ids)."""
    import re

    try:
        text = (repo.root / ".pre-commit-config.yaml").read_text(errors="replace")
    except OSError:
        return []
    return [i for i in FRAMEWORK_IDS
            if re.search(rf"^\s*-\s*id:\s*['\"]?{i}['\"]?\s*(#.*)?$", text, re.MULTILINE)]


def _installed_hook_command() -> str:
    """exai-git-hook of this installation: next to the running interpreter (a virtualenv's
    bin/), else on PATH, else that place anyway (the hook then says it is missing)."""
    import shutil

    beside = Path(sys.executable).parent / HOOK_COMMAND
    if beside.exists():
        return str(beside)
    return shutil.which(HOOK_COMMAND) or str(beside)
