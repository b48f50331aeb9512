"""Native hook scripts: write them, find the ones exai-git wrote, remove them.

Each script is marked as ours and starts Python only when its shell early exit finds
something to do; a hook that exai-git did not write is never overwritten or removed.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from exai_git.hookmain import HOOKS
from exai_git.hookstate import POST_COMMIT_QUIET

if TYPE_CHECKING:
    from exai_git.repo import Repo

# Shell: $have, the key of the commit HEAD names, as Repo.staged_commit_key() computes it
# for the commit about to be made from the index: its parents and the git blob hash of its
# raw diff against the first (same parent and same diff: same tree; read-only git only).
HEAD_COMMIT_KEY = (
    'have="$(git log -1 --no-show-signature --format=%P HEAD 2>/dev/null)'
    ' $(git diff-tree -r --raw -z --no-abbrev --no-renames --ignore-submodules=none'
    ' --no-commit-id HEAD 2>/dev/null | git hash-object --stdin 2>/dev/null)"'
)
MARK = "# exai-git hook: installed by `exai-git install`; safe to remove with --uninstall"


def hook_script(name: str, python: str, prefix: str = "EXAI") -> str:
    """The shell script of one native hook: an early exit where there can be nothing to do,
    then `python -m exai_git.hookmain NAME`."""
    early = ""
    if name == "prepare-commit-msg":
        # a message given with -m/-F, a merge or a reused message has no template to fill
        early = 'case "$2" in message|merge|squash|commit) exit 0 ;; esac\n'
    elif name == "commit-msg":
        # a message naming no issue key, conversation or revert has nothing to check; the
        # key is the configured prefix at install time (doctor says when it changed since)
        early = f'{_grep_markers(prefix)} "$1" 2>/dev/null || exit 0\n'
    elif name == "post-commit":
        # nothing to apply or move: the pre-commit scan of this parent and staged change
        # found no open issue on the changed files, nothing is queued, and the message names
        # no issue
        early = (f'q="$(git rev-parse --git-common-dir 2>/dev/null)/exai-git/{POST_COMMIT_QUIET}"\n'
                 'if [ -r "$q" ] && read -r want < "$q"; then\n'
                 f'  {HEAD_COMMIT_KEY}\n'
                 '  [ "$have" = "$want" ] &&\n'
                 '    ! git log -1 --no-show-signature --format=%B HEAD 2>/dev/null |'
                 f' {_grep_markers(prefix)} && exit 0\n'
                 'fi\n')
    return (
        "#!/bin/sh\n"
        f"{MARK}\n"
        f"{early}"
        f"exec {_sh_quote(python)} -m exai_git.hookmain {name} \"$@\"\n"
    )


def _grep_markers(prefix: str) -> str:
    """A grep that succeeds when its input may hold a marker, a trailer or a revert."""
    return (f'grep -qiE -e "${{EXAI_GIT_PREFIX:-{prefix}}}" -e "conversation" '
            '-e "reverts commit"')


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


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


def install(repo: Repo, *, uninstall: bool = False, python: str | None = None,
            prefix: str = "EXAI") -> list[str]:
    """Write (or remove) the native hooks; never touch a hook that is not ours. One line per
    hook says what was done."""
    directory = repo.hooks_dir()
    python = python or sys.executable
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
            lines.append(f"skipped {name}: a hook that exai-git did not write is there "
                         "(add `exai-git hook " + name + " \"$@\"` to it yourself)")
            continue
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.exai-tmp")
        tmp.write_text(hook_script(name, python, prefix))
        tmp.chmod(0o755)
        os.replace(tmp, path)
        lines.append(f"installed {name}")
    return lines
