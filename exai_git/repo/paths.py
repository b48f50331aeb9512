"""Paths and lines: the v2 locations' git calls and the write commands' (new --at)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exai_git.errors import GitError
from exai_git.repo import _DIFF, Repo

if TYPE_CHECKING:
    from exai_git.diff import FileChange


# --------------------------------------------------------------------------- locations
# (v2 locations: locations.py maps issue lines from their anchor commit to another commit)


def missing_commits(repo: Repo, shas: Sequence[str]) -> set[str]:
    """Those of shas that are not commits this clone has (not fetched, or not a commit):
    one `git cat-file --batch-check` call, none for commits this process has seen."""
    wanted = sorted({s for s in shas if s and s not in repo.present
                     and repo.known_commit(s) is None})
    if not wanted:
        return set()
    out = repo.run("cat-file", "--batch-check=%(objectname) %(objecttype)",
                   input="".join(f"{s}^{{commit}}\n" for s in wanted).encode())
    found: set[str] = set()
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            found.add(parts[0])
    return {s for s in wanted if s not in found}


def changes_between(repo: Repo, base: str, to: str,
                    paths: Sequence[str] = ()) -> list[FileChange]:
    """What `git diff -M base to [-- paths]` changes (renames followed when no paths are
    given; a path list limits the diff to those files)."""
    from exai_git import diff

    return diff.parse(repo.run("diff", *_DIFF, base, to, "--", *paths))


# --------------------------------------------------------------------------- by hand


def path_in_repo(repo: Repo, path: str, cwd: str | None = None) -> str:
    """PATH as given on the command line (relative to cwd) as a path relative to the
    repository's root, with '/' separators; a usage error when it lies outside it."""
    here = Path(cwd or os.getcwd())
    full = Path(os.path.normpath(here / path))
    # resolve the directory only: a tracked symlink is named, not followed
    parent = Path(os.path.realpath(full.parent))
    root = Path(os.path.realpath(repo.root))
    try:
        rel = (parent / full.name).relative_to(root) if full.name else parent.relative_to(root)
    except ValueError:
        raise GitError(f"{path} is outside the repository ({repo.root})",
                       exit_code=2) from None
    text = rel.as_posix()
    if text in ("", "."):
        raise GitError(f"{path} is the repository itself, not a file in it", exit_code=2)
    return text


def lines_at_head(repo: Repo, path: str) -> int | None:
    """How many lines the file at path (relative to the root) has at HEAD; None when HEAD
    has no such file (or no HEAD). One git call."""
    out = repo.run("cat-file", "--batch", input=f"HEAD:{path}\n".encode(errors="surrogateescape"),
                   check=False)
    header, _, body = out.partition(b"\n")
    fields = header.split()
    if len(fields) != 3 or fields[1] != b"blob":
        return None
    data = body[:int(fields[2])]
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
