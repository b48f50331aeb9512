"""The landing block (MARKERS.md v2): the git side of "When a commit counts"."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exai_git.errors import GitError
from exai_git.repo import MAX_MESSAGE_BYTES, Repo

if TYPE_CHECKING:
    from exai_git.landing import Equivalent, Ident, Plan
    from exai_git.repo import Commit


# ======================================================================== landing (MARKERS.md v2)
# The git side of "When a commit counts": a ref snapshot, the walks that say what landed and
# what left, rewrite mappings, what equivalence compares, squash and merge ranges, identity.
# Decisions on these values are pure, in landing.py.


@dataclass(frozen=True)
class RefSnapshot:
    refs: dict[str, str]  # refs/heads/* and refs/remotes/* -> sha (symbolic ones left out)
    symrefs: dict[str, str]  # symbolic ref -> its target (refs/remotes/origin/HEAD)
    # what the native landing hooks' shell test computes for the same refs
    # (install.REFS_SEEN_KEY: `git hash-object` of this very for-each-ref output)
    key: str = ""


REFS_FORMAT = "%(refname)%00%(objectname)%00%(symref)"  # the native hooks' shell test's too


def read_refs(repo: Repo) -> RefSnapshot:
    """Every local and remote-tracking branch in one `git for-each-ref` (the cheap path).
    The process's last snapshot is kept as repo.last_refs (hookstate.remember_refs)."""
    snap = _refs(repo.run("for-each-ref", f"--format={REFS_FORMAT}", "refs/heads/",
                          "refs/remotes/"))
    repo.last_refs = snap
    return snap


def _refs(raw: bytes) -> RefSnapshot:
    import hashlib

    refs: dict[str, str] = {}
    symrefs: dict[str, str] = {}
    for line in raw.decode(errors="surrogateescape").splitlines():
        name, sha, target = (line.split("\0") + ["", ""])[:3]
        if target:
            symrefs[name] = target
        elif name and sha:
            refs[name] = sha
    # git's blob hash, in the repository's object format (its shas' length says which)
    algorithm = hashlib.sha256 if any(len(s) == 64 for s in refs.values()) else hashlib.sha1
    key = algorithm(b"blob %d\0" % len(raw) + raw).hexdigest()
    return RefSnapshot(refs, symrefs, key)


def head_ref(repo: Repo) -> str | None:
    """The branch checked out (refs/heads/NAME), None when HEAD is detached."""
    out = repo.run("symbolic-ref", "-q", "HEAD", check=False).decode(errors="surrogateescape")
    return out.strip() or None


def rev_parse_optional(repo: Repo, rev: str) -> str | None:
    """The commit rev names (HEAD^, ORIG_HEAD), or None when there is none."""
    out = repo.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
                   check=False).decode().strip()
    return out or None


def rev_list(repo: Repo, include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Commits reachable from include and from none of exclude, oldest first, parents before
    children. A recorded head git no longer has (gc'd after a force-push) is skipped."""
    if not include:
        return []
    out = repo.run("rev-list", "--reverse", "--topo-order", "--ignore-missing",
                   *include, *(f"^{e}" for e in exclude), "--")
    return out.decode().split()


def rev_list_boundary(repo: Repo, include: Sequence[str], exclude: Sequence[str]
                      ) -> tuple[list[str], set[str]]:
    """rev_list, and in the same walk its boundary: the excluded commits that are parents
    of listed ones (so reachable from include, and commits this clone has)."""
    if not include:
        return [], set()
    out = repo.run("rev-list", "--boundary", "--reverse", "--topo-order", "--ignore-missing",
                   *include, *(f"^{e}" for e in exclude), "--")
    listed, boundary = [], set()
    for word in out.decode().split():
        if word.startswith("-"):
            boundary.add(word[1:])
        else:
            listed.append(word)
    repo.present.update(boundary)
    return listed, boundary


def rebase_in_progress(repo: Repo) -> bool:
    """A rebase is under way in this work tree (post-commit and post-rewrite amend wait)."""
    return any((repo.git_dir / d).is_dir() for d in ("rebase-merge", "rebase-apply"))


def rewritten_list(repo: Repo) -> str:
    """The running rebase's old->new lines (what post-rewrite's stdin would say), or ''."""
    for name in ("rebase-merge/rewritten-list", "rebase-apply/rewritten"):
        with contextlib.suppress(OSError):
            return (repo.git_dir / name).read_text(encoding="ascii", errors="replace")
    return ""


def head_reflog(repo: Repo, limit: int = 200) -> list[tuple[str, str]]:
    """(sha, subject) of HEAD's newest reflog entries, newest first (amends are found here
    when a hook framework hides post-rewrite's stdin): read from the reflog file where git
    keeps one (git-update-ref(1), "Logging updates"), else asked of `git log -g`."""
    found = _reflog_tail(repo.git_dir / "logs" / "HEAD", limit)
    if found is not None:
        return found
    out = repo.run("log", "-g", "-z", f"-n{limit}", "--format=%H%x00%gs", "HEAD", "--",
                   check=False)
    fields = out.decode(errors="replace").split("\0")
    return [(fields[i].strip(), fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def _reflog_tail(path: Path, limit: int) -> list[tuple[str, str]] | None:
    """The newest limit entries of a reflog file (`old new ident<TAB>message` lines, oldest
    first), newest first, as (new sha, message), what `git log -g --format=%H%x00%gs`
    prints; None when there is no such file (another ref store, or no reflog)."""
    try:
        with open(path, "rb") as f:
            pos = f.seek(0, os.SEEK_END)
            data = b""
            while pos > 0 and data.count(b"\n") <= limit:
                step = min(1 << 16, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
    except OSError:
        return None
    lines = data.split(b"\n")[1 if pos > 0 else 0:]  # the first may be cut
    found: list[tuple[str, str]] = []
    for line in reversed(lines):
        head, _, message = line.partition(b"\t")
        fields = head.split(b" ", 2)
        if len(fields) < 3 or not fields[1].strip(b"0"):
            continue  # not an entry, or one that names no commit
        found.append((fields[1].decode("ascii", errors="replace"),
                      message.decode(errors="replace")))
        if len(found) >= limit:
            break
    return found


def idents(repo: Repo, shas: Sequence[str]) -> dict[str, Ident]:
    """Author, author date (raw: seconds and zone) and message of each commit, one git call."""
    from exai_git.landing import Ident

    if not shas:
        return {}
    out = repo.run("log", "--no-walk=unsorted", "--stdin", "-z", "--date=raw",
                   "--format=%H%x00%P%x00%an <%ae>%x00%ad%x00%B",
                   input="\n".join(shas).encode() + b"\n")
    fields = out.split(b"\0")
    found: dict[str, Ident] = {}
    for i in range(0, len(fields) - 4, 5):
        sha = fields[i].decode().strip()
        found[sha] = Ident(fields[i + 2].decode(errors="replace"), fields[i + 3].decode(),
                           fields[i + 4][:MAX_MESSAGE_BYTES].decode(errors="replace"),
                           merge=len(fields[i + 1].split()) > 1)
    return found


def rewrites(repo: Repo, stdin: str | None = None) -> dict[str, str]:
    """Every old->new rewrite git can tell: post-rewrite's stdin when given, the running
    rebase's rewritten-list, and the amends in HEAD's reflog."""
    from exai_git.landing import amend_rewrites, parse_rewrites

    found = amend_rewrites(head_reflog(repo))
    found.update(parse_rewrites(rewritten_list(repo)))
    found.update(parse_rewrites(stdin or ""))
    return found


def equivalents(repo: Repo, commits: Sequence[str], candidates: Sequence[str],
                rewrite_map: dict[str, str] | None = None) -> dict[str, Equivalent]:
    """For each of commits, the candidate (oldest first) that is the same work (landing.
    match_equivalents): two git calls for any number of commits, plus one patch-id batch for
    the commits whose author and author date meet one on the other side."""
    from exai_git.landing import match_equivalents

    if not commits or not candidates:
        return {}
    info = idents(repo, list(dict.fromkeys([*commits, *candidates])))
    rewrite_map = rewrites(repo) if rewrite_map is None else rewrite_map
    def keys(shas: Sequence[str]) -> set[tuple[str, str]]:
        return {(info[s].author, info[s].date) for s in shas if s in info and not info[s].merge}

    meet = keys(commits) & keys(candidates)
    need = [s for s in info if not info[s].merge and (info[s].author, info[s].date) in meet]
    pids = repo.patch_ids(need) if len(need) > 1 else {}
    return match_equivalents(commits, candidates, rewrite_map, info, pids)


def squash_pending(repo: Repo) -> list[str]:
    """The commits a `merge --squash` has staged (SQUASH_MSG), oldest first; [] when none."""
    from exai_git.landing import squashed_commits

    try:
        text = (repo.git_dir / "SQUASH_MSG").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return list(reversed(squashed_commits(text)))


def merge_brought(repo: Repo, merge: str) -> list[str]:
    """M^1..M, oldest first: the commits a merge brought, M itself last (reverting M undoes
    them all). A commit that is not a merge brings itself only."""
    sha = repo.resolve(merge)
    if rev_parse_optional(repo, f"{sha}^2") is None:
        return [sha]
    return rev_list(repo, [sha], [f"{sha}^1"])


def origin_url(repo: Repo, remote: str = "origin") -> str | None:
    out = repo.run("remote", "get-url", "--", remote, check=False)
    return out.decode(errors="replace").strip() or None


def repository(repo: Repo, setting: str | None = None) -> str:
    """The name links and heads are recorded under (landing.repository_name)."""
    from exai_git.landing import repository_name

    return repository_name(setting, None if setting else origin_url(repo), repo.root)


def off_branches(repo: Repo, shas: Sequence[str]) -> set[str]:
    """Those of shas no branch, local or remote-tracking, reaches any more (orphaned
    progress in `status`): one walk."""
    if not shas:
        return set()
    out = repo.run("rev-list", "--ignore-missing", *shas, "--not", "--branches", "--remotes",
                   "--")
    return set(out.decode().split()) & set(shas)


def require_full_history(repo: Repo) -> None:
    """`apply --branch` walks the branch's whole history: a shallow clone is refused (exit 1)."""
    if repo.is_shallow():
        raise GitError("this clone is shallow: apply --branch needs the branch's whole history; "
                       "fetch it (git fetch --unshallow, or fetch-depth: 0 in CI)", exit_code=1)


def landing_plan(repo: Repo, branches: Sequence[str] | None = None, *, before: str | None = None,
                 remote_only: bool = False, remote: str = "origin",
                 pushes: Sequence[tuple[str, str, str, str]] = ()) -> Plan:
    """The reconciliation every hook, status, sync and apply starts with: one for-each-ref
    and the recorded heads; a git walk only when a tracked ref moved. before: the rev the
    checked-out branch was at before the event (HEAD^ in post-commit, ORIG_HEAD in
    post-merge), used only when the clone has recorded no heads yet. pushes: pre-push's
    lines for a push to remote (apply_on = "push"): the plan is against the refs as they will
    be once it succeeds (a clone's first one starts from them as they are). Nothing is
    recorded here: once the plan is applied, landstate.save_heads(repo.common_dir,
    plan.heads)."""
    import dataclasses

    from exai_git import landing, landstate

    snap = read_refs(repo)
    default = landing.origin_head(snap.symrefs, remote)
    names = landing.tracked_names(branches, default)
    refs = landing.with_pushed(snap.refs, pushes, names, remote) if pushes else snap.refs
    current = landing.tracked_refs(refs, names, remote=remote, remote_only=remote_only)
    main = landing.main_line(refs, names, remote=remote, remote_only=remote_only,
                             prefer=(default, *landing.DEFAULT_BRANCHES))
    recorded = landstate.load_heads(repo.common_dir)
    started = recorded is None
    if recorded is None:
        now = landing.tracked_refs(snap.refs, names, remote=remote, remote_only=remote_only) \
            if pushes else current
        start = None if before is None else (rev_parse_optional(repo, before) or landing.ZERO)
        recorded = landing.initial_heads(now, head_ref(repo) if start else None, start)
    result = landing.plan(recorded, current, lambda inc, exc: rev_list(repo, inc, exc),
                          lambda inc, exc: rev_list_boundary(repo, inc, exc))
    return dataclasses.replace(result, main_line=main, started=started)


def not_taken(repo: Repo, pushed: Mapping[str, str], heads: Mapping[str, str]) -> dict[str, str]:
    """Of the heads a pre-push recorded as pushed (ref -> sha), those the ref is not at now:
    each commit they bring that no tracked ref reaches, mapped to its ref (a refused push,
    or a branch reset since). One walk per such ref; none when every push was taken."""
    out: dict[str, str] = {}
    for ref, sha in pushed.items():
        if heads.get(ref) != sha:
            for commit in rev_list(repo, [sha], list(heads.values())):
                out.setdefault(commit, ref)
    return out


def read_commits(repo: Repo, shas: Sequence[str]) -> dict[str, Commit]:
    """Each of shas as a Commit (parents, commit time, message), all read by one
    `git log --no-walk` (repo.LogStream parses it): a pull that lands thousands of commits
    costs one git call here, not a few per commit."""
    import subprocess

    from exai_git.repo import LogStream

    found: dict[str, Commit] = {}
    wanted = []
    for sha in dict.fromkeys(shas):
        known = repo.known_commit(sha)  # read before in this process (post-commit's HEAD)
        if known is not None:
            found[sha] = known
        else:
            wanted.append(sha)
    if not wanted:
        return found
    proc = repo.popen("log", "--no-walk=unsorted", "--stdin", "-z",
                      "--format=%H%x00%P%x00%ct%x00%B", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:  # git reads all of its stdin before it writes anything
        proc.stdin.write("\n".join(wanted).encode() + b"\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    found.update((c.sha, repo.remember(c)) for c in LogStream(proc))
    return found


def reached(repo: Repo, head: str, shas: Sequence[str]) -> tuple[set[str], set[str]]:
    """Of shas, those head reaches, and those no branch of this clone reaches (not in it at
    all, or on none of its branches, local or remote-tracking): three git calls."""
    from exai_git.repo import missing_commits

    missing = missing_commits(repo, shas)
    present = [s for s in dict.fromkeys(shas) if s not in missing]
    off_head = set(rev_list(repo, present, [head]))
    on_head = {s for s in present if s not in off_head}
    return on_head, missing | off_branches(repo, [s for s in present if s in off_head])
