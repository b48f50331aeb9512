"""When a commit counts (MARKERS.md v2): tracked branches, what landed and what left,
equivalent commits, squash records, the repository's identity.

Pure: every decision takes plain values (ref names and shas, messages, patch-ids). The git
calls that feed it are the "landing" block in repo/landing.py; the clone-local state it
reads and writes (recorded heads, a pending squash or location move) is in hookstate.py.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

DEFAULT_BRANCHES = ("main", "master")  # after the branch origin/HEAD names
REMOTE = "origin"
HEADS = "refs/heads/"
ZERO = "0" * 40

Refs = Mapping[str, str]  # full ref name -> commit sha
RevList = Callable[[Sequence[str], Sequence[str]], list[str]]  # (include, exclude) -> shas


# ---------------------------------------------------------------------- tracked branches


def remotes_prefix(remote: str = REMOTE) -> str:
    return f"refs/remotes/{remote}/"


def tracked_names(setting: Sequence[str] | None, origin_head: str | None) -> tuple[str, ...]:
    """The branch names or globs tracked: the setting, or when it is empty or absent the
    default (the branch origin/HEAD names, main, master), without duplicates, in order."""
    names = list(setting or ())
    if not names:
        names = [n for n in (origin_head, *DEFAULT_BRANCHES) if n]
    return tuple(dict.fromkeys(names))


def origin_head(symrefs: Mapping[str, str], remote: str = REMOTE) -> str | None:
    """The branch refs/remotes/<remote>/HEAD points at (`main`), from a ref snapshot."""
    prefix = remotes_prefix(remote)
    target = symrefs.get(f"{prefix}HEAD", "")
    return target[len(prefix):] if target.startswith(prefix) else None


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def branch_of(ref: str, remote: str = REMOTE) -> str | None:
    """`main` for refs/heads/main and for refs/remotes/origin/main; None for other refs."""
    for prefix in (HEADS, remotes_prefix(remote)):
        if ref.startswith(prefix) and ref != f"{remotes_prefix(remote)}HEAD":
            return ref[len(prefix):]
    return None


def tracked_refs(refs: Refs, names: Sequence[str], *, remote: str = REMOTE,
                 remote_only: bool = False) -> dict[str, str]:
    """The tracked refs of a snapshot (full ref name -> sha), each with its remote-tracking
    twin: a literal name tracks refs/heads/NAME and refs/remotes/origin/NAME, whichever
    exist; a glob tracks the local branches it matches and their twins (`*` is every local
    branch). With remote_only (apply_on = "push") only remote-tracking refs count, globs
    matching their names."""
    rprefix = remotes_prefix(remote)
    local = {r[len(HEADS):]: r for r in refs if r.startswith(HEADS)}
    remote_refs = {r[len(rprefix):]: r for r in refs
                   if r.startswith(rprefix) and r != f"{rprefix}HEAD"}
    out: dict[str, str] = {}
    for name in names:
        if remote_only:
            chosen = [b for b in remote_refs if fnmatchcase(b, name)] if _is_glob(name) else [name]
            out.update({remote_refs[b]: refs[remote_refs[b]] for b in chosen if b in remote_refs})
            continue
        chosen = [b for b in local if fnmatchcase(b, name)] if _is_glob(name) else [name]
        for b in chosen:
            for ref in (local.get(b), remote_refs.get(b)):
                if ref is not None:
                    out[ref] = refs[ref]
    return dict(sorted(out.items()))


def main_line(refs: Refs, names: Sequence[str], *, remote: str = REMOTE,
              remote_only: bool = False,
              prefer: Sequence[str | None] = DEFAULT_BRANCHES) -> tuple[str, str] | None:
    """(branch name, ref) of the main line: the first tracked branch that exists, its local
    branch, else its remote-tracking one; None when no tracked branch exists. Of the
    branches a glob matches, those in prefer (origin/HEAD's branch, main, master) first."""
    tracked = tracked_refs(refs, names, remote=remote, remote_only=remote_only)
    by_branch: dict[str, list[str]] = {}
    for ref in tracked:  # sorted: refs/heads/ before refs/remotes/
        by_branch.setdefault(branch_of(ref, remote) or ref, []).append(ref)
    for name in names:
        if not _is_glob(name):
            order = [name]
        else:
            matched = sorted(b for b in by_branch if fnmatchcase(b, name))
            order = [p for p in prefer if p in matched] + matched
        for branch in order:
            if branch and branch in by_branch:
                return branch, by_branch[branch][0]
    return None


def branch_ref(refs: Refs, name: str, remote: str = REMOTE) -> str | None:
    """The ref `apply --branch NAME` follows: refs/heads/NAME, else origin/NAME."""
    for ref in (f"{HEADS}{name}", f"{remotes_prefix(remote)}{name}"):
        if ref in refs:
            return ref
    return None


# ---------------------------------------------------------------------- landed and left


@dataclass(frozen=True)
class Plan:
    """One reconciliation. landed: reachable now from a tracked ref and from no recorded
    head, oldest first (topological: a merge after the commits it brings). left: reachable
    from a recorded head and from no tracked ref now, newest first (undo order). heads: what
    to record once the plan is applied. moved: ref -> (recorded, current), None = absent."""

    landed: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    heads: Mapping[str, str] = field(default_factory=dict)
    moved: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    main_line: tuple[str, str] | None = None  # (branch, ref); None: no tracked branch exists
    started: bool = False  # the clone had recorded no heads: this is where it starts

    @property
    def nothing(self) -> bool:
        return not self.moved

    @property
    def main_line_move(self) -> tuple[str | None, str | None] | None:
        """(old, new) head of the main line when it moved (locations move then, only)."""
        return self.moved.get(self.main_line[1]) if self.main_line else None


def moved_refs(recorded: Refs, current: Refs) -> dict[str, tuple[str | None, str | None]]:
    return {ref: (recorded.get(ref), current.get(ref))
            for ref in sorted(set(recorded) | set(current))
            if recorded.get(ref) != current.get(ref)}


def plan(recorded: Refs, current: Refs, rev_list: RevList,
         walk: Callable[[Sequence[str], Sequence[str]], tuple[list[str], set[str]]] | None
         = None) -> Plan:
    """What landed and what left between the recorded heads and the current tracked refs.
    When nothing moved, rev_list is not called (no git walk, no database). walk: rev_list
    that also gives the walk's boundary (the excluded parents of what it lists): a recorded
    head among them, or still a head, is reachable now, so nothing behind it left; when
    every recorded head is, the walk for what left is spared (a commit on the main line)."""
    moved = moved_refs(recorded, current)
    if not moved:
        return Plan(heads=dict(current))
    now, then = sorted(set(current.values())), sorted(set(recorded.values()))
    reached: set[str] = set(now)
    if now and walk is not None:
        landed, boundary = walk(now, then)
        reached |= boundary
    else:
        landed = rev_list(now, then) if now else []
    left = rev_list(then, now) if then and not set(then) <= reached else []
    return Plan(tuple(landed), tuple(reversed(left)), dict(current), moved)


def initial_heads(current: Refs, head_ref: str | None, before: str | None) -> dict[str, str]:
    """Heads to start from when the clone has recorded none: the tracked refs as they are,
    except the checked-out one, which is put back where it was before the event (HEAD^ in
    post-commit, ORIG_HEAD in post-merge; before=None: as it is, in pre-commit and install).
    before=ZERO: the branch had no commit before (a root commit lands)."""
    heads = dict(current)
    if head_ref is not None and head_ref in heads and before is not None:
        if before == ZERO:
            del heads[head_ref]
        else:
            heads[head_ref] = before
    return heads


def parse_push_lines(text: str) -> list[tuple[str, str, str, str]]:
    """pre-push stdin: (local ref, local sha, remote ref, remote sha) per line."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def with_pushed(current: Refs, pushes: Iterable[tuple[str, str, str, str]],
                names: Sequence[str], remote: str = REMOTE) -> dict[str, str]:
    """current (a ref snapshot, or its tracked refs) as it will be if a push to remote
    succeeds: each pushed branch's remote-tracking ref at the sha sent (gone when the push
    deletes it), one new to the remote added when it is tracked. A refused push shows at the
    next reconciliation as commits that left."""
    refs = dict(current)
    for _local, sha, remote_ref, _old in pushes:
        if not remote_ref.startswith(HEADS):
            continue
        ref = f"{remotes_prefix(remote)}{remote_ref[len(HEADS):]}"
        if sha == ZERO:
            refs.pop(ref, None)
        else:
            refs[ref] = sha
    kept = tracked_refs(refs, names, remote=remote, remote_only=True)
    return {r: sha for r, sha in refs.items() if r in current or r in kept}


def pushed_refs(pushes: Iterable[tuple[str, str, str, str]],
                remote: str = REMOTE) -> dict[str, str]:
    """The remote-tracking refs a push to remote moves, each at the sha it sends (branches
    only; deletions left out)."""
    return {f"{remotes_prefix(remote)}{rref[len(HEADS):]}": sha
            for _local, sha, rref, _old in pushes if rref.startswith(HEADS) and sha != ZERO}


# ---------------------------------------------------------------------- equivalence

_CHERRY = re.compile(r"^\(cherry picked from commit ([0-9a-f]{40})\)\s*$", re.MULTILINE)
_SQUASHED = re.compile(r"^commit ([0-9a-f]{40})\b", re.MULTILINE)


@dataclass(frozen=True)
class Ident:
    """What equivalence compares beyond the patch: author and author date ('ts tz')."""

    author: str
    date: str
    message: str
    merge: bool = False


@dataclass(frozen=True)
class Equivalent:
    sha: str
    reason: str  # "rewrite" | "cherry-pick" | "patch-id"


def parse_rewrites(text: str) -> dict[str, str]:
    """post-rewrite stdin / rebase-merge/rewritten-list: `old new [extra]` lines -> old->new."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def amend_rewrites(reflog: Sequence[tuple[str, str]]) -> dict[str, str]:
    """old->new of each `commit (amend)` in a reflog given newest first as (sha, subject):
    an amend's old commit is the entry just older than it."""
    out: dict[str, str] = {}
    for (sha, subject), (older, _) in itertools.pairwise(reflog):
        if subject.startswith("commit (amend)") and older != sha:
            out[older] = sha
    return out


def cherry_picked_from(message: str) -> list[str]:
    return _CHERRY.findall(message)


def squashed_commits(squash_msg: str) -> list[str]:
    """The commits `git merge --squash` lists in SQUASH_MSG (newest first, as git writes)."""
    return _SQUASHED.findall(squash_msg)


def match_equivalents(commits: Sequence[str], candidates: Sequence[str],
                      rewrites: Mapping[str, str], idents: Mapping[str, Ident],
                      patch_ids: Mapping[str, str]) -> dict[str, Equivalent]:
    """For each of commits, the candidate that is the same work, if any: the rewrite mapping
    (followed through chains: amend after amend), a `(cherry picked from commit X)` line in
    either, or the same author, author date and patch-id (merges never: no patch of their
    own). A revert has a new author date and the inverse patch: never equivalent. When
    several match, the latest candidate (candidates are oldest first) wins."""
    order = {sha: i for i, sha in enumerate(candidates)}
    picked: dict[str, list[str]] = {}
    by_key: dict[tuple[str, str, str], list[str]] = {}
    for cand in candidates:
        ident = idents.get(cand)
        if ident is None:
            continue
        for origin in cherry_picked_from(ident.message):
            picked.setdefault(origin, []).append(cand)
        pid = patch_ids.get(cand)
        if pid and not ident.merge:
            by_key.setdefault((ident.author, ident.date, pid), []).append(cand)
    out: dict[str, Equivalent] = {}
    for sha in commits:
        found = _follow(sha, rewrites, order)
        if found is not None:
            out[sha] = Equivalent(found, "rewrite")
            continue
        ident = idents.get(sha)
        matches = [c for c in picked.get(sha, ()) if c != sha]
        if ident is not None:
            matches += [c for c in cherry_picked_from(ident.message) if c in order and c != sha]
        if matches:
            out[sha] = Equivalent(max(matches, key=order.__getitem__), "cherry-pick")
            continue
        pid = patch_ids.get(sha)
        if ident is not None and pid and not ident.merge:
            same = [c for c in by_key.get((ident.author, ident.date, pid), ()) if c != sha]
            if same:
                out[sha] = Equivalent(max(same, key=order.__getitem__), "patch-id")
    return out


def _follow(sha: str, rewrites: Mapping[str, str], candidates: Mapping[str, int]) -> str | None:
    """The last commit in sha's rewrite chain that is a candidate."""
    found, seen, cur = None, {sha}, sha
    while cur in rewrites and rewrites[cur] not in seen:
        cur = rewrites[cur]
        seen.add(cur)
        if cur in candidates:
            found = cur
    return found


# ---------------------------------------------------------------------- repository identity

_SCP = re.compile(r"^(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+):(?!//)(.*)$")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^@/]*@)?(\[[^\]]+\]|[^:/]*)(?::\d*)?(/.*)?$")


def normalise_remote_url(url: str) -> str:
    """host/path of a remote URL, so every clone and CI agree: scheme, user and password and
    port dropped, host lowercased, `.git` and slashes trimmed; ssh (`git@host:a/b`) and
    https forms of the same host/path equal; subgroups kept. A local path stays a path."""
    url = url.strip()
    m = _URL.match(url)
    if m:
        scheme, host, path = m.group(1).lower(), m.group(2).lower(), m.group(3) or ""
        if scheme == "file" or not host:
            return _trim(path) if scheme == "file" else _trim(url)
        return f"{host}/{_trim(path).lstrip('/')}".rstrip("/")
    m = _SCP.match(url)
    if m and not os.path.isabs(url) and not re.match(r"^[A-Za-z]:[\\/]", url):
        host, path = m.group(1).lower(), m.group(2)
        return f"{host}/{_trim(path).lstrip('/').removeprefix('~/')}".rstrip("/")
    return _trim(url)


def _trim(path: str) -> str:
    path = path.rstrip("/")
    path = path.removesuffix(".git")
    return path.rstrip("/") or path


def repository_name(setting: str | None, origin_url: str | None, root: Path) -> str:
    """`repository`: the setting, else the normalised origin URL, else the directory name."""
    if setting:
        return setting
    if origin_url and origin_url.strip():
        return normalise_remote_url(origin_url)
    return root.name
