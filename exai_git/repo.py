"""git I/O: staged and commit diffs, commit info, log streaming, patch-ids.

git is always asked for machine-readable output (NUL-separated, no quoting, no colour, no
external diff or textconv, fixed a/ b/ prefixes) and never takes the index lock.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from exai_git.errors import GitError

if TYPE_CHECKING:
    from exai_git.diff import FileChange
    from exai_git.landing import Equivalent, Ident, Plan

# Settings that would change what git prints, pinned for every call.
_CONFIG = (
    "-c", "core.quotepath=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
    "-c", "color.ui=never", "-c", "diff.external=", "-c", "diff.relative=false",
    "-c", "log.showSignature=false",
)
_DIFF = ("--raw", "-p", "-z", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv",
         "--src-prefix=a/", "--dst-prefix=b/", "--ignore-submodules=none")
_Stream = int | IO[Any] | None  # what subprocess takes for a child's stdin/out/err
MAX_MESSAGE_BYTES = 1 << 20  # a commit message larger than 1 MiB is refused, not read


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    committed_at: int  # unix seconds
    message: str

    @property
    def subject(self) -> str:
        return self.message.strip().split("\n", 1)[0][:200] if self.message.strip() else ""


class Repo:
    """A git repository (work tree or bare) and the git calls exai-git makes on it.

    Every call is a git plumbing command with NUL-separated output, run directly: hooks run
    on every commit, and importing a git library costs them more (120-170 ms) than all of
    their git calls together.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        where = Path(path or os.getcwd())
        try:
            proc = subprocess.run(
                ["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir",
                 "--git-common-dir", "--show-toplevel"],
                cwd=where, capture_output=True, env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"),
                check=False,
            )
        except OSError as e:
            if isinstance(e, FileNotFoundError) and where.exists():
                raise GitError("git failed to start; is it installed?") from None
            raise GitError(f"not a git repository: {where}") from None
        lines = proc.stdout.decode(errors="surrogateescape").splitlines()
        bare = bool(lines) and lines[0] == "true"
        if len(lines) < 3 or (proc.returncode != 0 and not bare):
            raise GitError(f"not a git repository: {where}")
        self.git_dir = Path(lines[1])
        common = Path(lines[2])
        self.common_dir = common if common.is_absolute() else (where / common).resolve()
        self.root = self.git_dir if bare or len(lines) < 4 else Path(lines[3])

    # ------------------------------------------------------------------ plumbing

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run git with pinned settings; stdout as bytes."""
        proc = self.popen(*args, stdin=subprocess.PIPE if input is not None else None)
        out, err = proc.communicate(input)
        if check and proc.returncode != 0:
            raise _failed(args[0], err)
        return out

    def popen(self, *args: str, stdin: _Stream = None, stdout: _Stream = subprocess.PIPE,
              stderr: _Stream = subprocess.PIPE) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                ["git", *_CONFIG, *args],
                cwd=self.root, env=_env(), stdin=stdin, stdout=stdout, stderr=stderr,
            )
        except OSError as e:
            raise GitError(f"git failed to start ({e.strerror}); is it installed?") from None

    def config(self, key: str, default: str | None = None) -> str | None:
        out = self.run("config", "--get", key, check=False).decode(errors="replace").strip()
        return out or default

    def comment_char(self) -> str | None:
        """core.commentChar (git's "auto" picks one per message: None lets the caller look)."""
        value = self.config("core.commentChar") or self.config("core.commentString") or "#"
        return None if value == "auto" else value

    def empty_tree(self) -> str:
        return self.run("hash-object", "-t", "tree", "--stdin", input=b"").decode().strip()

    # ------------------------------------------------------------------ revisions

    def resolve(self, rev: str) -> str:
        if rev.startswith("-"):
            raise GitError(f"not a revision: {rev!r}")
        out = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
                       check=False).decode().strip()
        if not out:
            if rev == "HEAD":
                raise GitError("the repository has no commits yet")
            raise GitError(f"no such revision: {rev!r}")
        return out

    def head(self) -> str | None:
        """The commit HEAD names, or None before the first commit."""
        return rev_parse_optional(self, "HEAD")

    def has_head(self) -> bool:
        return self.head() is not None

    def is_shallow(self) -> bool:
        return (self.common_dir / "shallow").exists()

    def commit(self, rev: str = "HEAD") -> Commit:
        sha = self.resolve(rev)
        out = self.run("log", "-1", "--no-walk", "-z", "--format=%H%x00%P%x00%ct%x00%B", sha)
        commits = list(_parse_log_records(out))
        if not commits:
            raise GitError(f"no such commit: {rev!r}")
        return commits[0]

    def range_shas(self, spec: str) -> tuple[list[str], list[str]]:
        """(included, excluded) revisions of a revision or A..B range, resolved."""
        if ".." in spec and "..." not in spec:
            a, b = spec.split("..", 1)
            return [self.resolve(b or "HEAD")], [self.resolve(a or "HEAD")]
        return [self.resolve(spec)], []

    def iter_log(self, include: Sequence[str], exclude: Sequence[str] = ()) -> LogStream:
        """Commits reachable from include but not exclude, oldest first, streamed. An exclude
        that starts with -- is a ref option (`--remotes=origin`: every ref it names is
        excluded). git starts now, not at the first commit asked for: it walks the history
        (and, into a widened pipe, writes the start of it) while the caller does other work."""
        plain = [f"^{e}" for e in exclude if not e.startswith("--")]
        refs = [e for e in exclude if e.startswith("--")]
        proc = self.popen("log", "-z", "--reverse", "--topo-order",
                          "--format=%H%x00%P%x00%ct%x00%B", *include, *plain,
                          *(["--not", *refs] if refs else []), "--")
        assert proc.stdout is not None
        _widen_pipe(proc.stdout.fileno())
        return LogStream(proc)

    def merge_base(self, a: str, b: str) -> str | None:
        return self.run("merge-base", a, b, check=False).decode().strip() or None

    def hooks_dir(self) -> Path:
        """Where git runs this repository's hooks from (core.hooksPath honoured)."""
        path = Path(os.fsdecode(self.run("rev-parse", "--git-path", "hooks").strip()))
        return path if path.is_absolute() else self.root / path

    # ------------------------------------------------------------------ diffs

    def staged_changes(self) -> list[FileChange]:
        """What the index changes against HEAD (or against nothing, before the first commit).

        Honours GIT_INDEX_FILE (commit -a, commit <paths>); reads, never locks, the index.
        """
        from exai_git import diff

        args = ["diff", "--cached", *_DIFF]
        if self.has_head():
            args.append("HEAD")
        return diff.parse(self.run(*args, "--"))

    def staged_commit_key(self) -> str | None:
        """A key for the commit `git commit` is about to write from the index: HEAD and the
        git blob hash of the index's raw diff against it (None before the first commit).

        The native post-commit hook computes the same for the commit it follows, with
        `git log --format=%P` and `git diff-tree ... | git hash-object --stdin`: equal keys
        mean the same parent and the same tree. Read-only: unlike `git write-tree` it neither
        writes the index nor takes its lock (which `git commit` holds while hooks run), and it
        reads the index git names in GIT_INDEX_FILE (commit -a, commit <paths>).
        """
        import hashlib

        head = self.head()
        if head is None:
            return None
        raw = self.run("diff-index", "--cached", "-r", "--raw", "-z", "--no-abbrev",
                       "--no-renames", "--ignore-submodules=none", head, "--")
        algorithm = hashlib.sha256 if len(head) == 64 else hashlib.sha1
        digest = algorithm(b"blob %d\0" % len(raw) + raw).hexdigest()
        return f"{head} {digest}"

    def commit_changes(self, sha: str, base: str) -> list[FileChange]:
        """What sha changed against base."""
        from exai_git import diff

        return diff.parse(self.run("diff", *_DIFF, base, sha, "--"))

    def changes_of(self, commit: Commit) -> list[FileChange]:
        """What a commit changed against its first parent (or the empty tree)."""
        return self.commit_changes(commit.sha,
                                   commit.parents[0] if commit.parents else self.empty_tree())

    def patch_ids(self, shas: Sequence[str]) -> dict[str, str]:
        """git patch-id --stable of each commit's first-parent diff (merges have none)."""
        return self.start_patch_ids(shas)()

    def start_patch_ids(self, shas: Sequence[str]) -> Callable[[], dict[str, str]]:
        """Start computing patch_ids(shas) in git, in the background (`git log -p` piped
        straight into `git patch-id`); the returned function waits for the answer."""
        if not shas:
            return dict
        import tempfile

        out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by result()
        show = self.popen("log", "--no-walk=unsorted", "--stdin", "-p", "--first-parent",
                          "--no-color", "--no-ext-diff", "--no-textconv", "--format=commit %H",
                          stdin=subprocess.PIPE)
        assert show.stdin is not None and show.stdout is not None
        try:
            pid = self.popen("patch-id", "--stable", stdin=show.stdout, stdout=out,
                             stderr=subprocess.DEVNULL)
        except GitError:
            show.kill()
            raise
        finally:
            show.stdout.close()  # patch-id holds the pipe now
        try:
            show.stdin.write("\n".join(shas).encode() + b"\n")  # read whole before any output
            show.stdin.close()
        except BrokenPipeError:
            pass

        def result() -> dict[str, str]:
            pid.wait()
            err = show.stderr.read() if show.stderr else b""
            if show.wait() != 0:
                raise _failed("log", err)
            out.seek(0)
            found = {}
            for line in out.read().decode().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    found[parts[1]] = parts[0]
            out.close()
            return found

        return result


class LogStream(Iterator[Commit]):
    """The commits of a running `git log -z --format=%H%x00%P%x00%ct%x00%B`, as they arrive.
    Read to the end, a failed git raises GitError; closed early, git is stopped."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc: subprocess.Popen[bytes] | None = proc
        self.commits = _parse_log_stream(proc.stdout)

    def __iter__(self) -> LogStream:
        return self

    def __next__(self) -> Commit:
        try:
            return next(self.commits)
        except StopIteration:
            self._end()
            raise

    def _end(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdout is not None
        proc.stdout.close()
        err = proc.stderr.read() if proc.stderr else b""
        if proc.stderr:
            proc.stderr.close()
        if proc.wait() != 0:
            raise _failed("log", err)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()

    def __del__(self) -> None:
        self.close()


def _widen_pipe(fd: int) -> None:
    """Let git write up to 1 MiB ahead of its reader (Linux; elsewhere, or refused: as is)."""
    try:
        import fcntl
    except ImportError:
        return
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setpipe, 1 << 20)


def _failed(command: str, stderr: bytes) -> GitError:
    """A failed git command, said with the last line of what it printed."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return GitError(f"git {command} failed: {lines[-1] if lines else 'no output'}")


def _env() -> dict[str, str]:
    return dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_TERMINAL_PROMPT="0")


def _parse_log_records(data: bytes) -> Iterator[Commit]:
    fields = data.split(b"\0")
    for i in range(0, len(fields) - 3, 4):
        yield _commit(fields[i : i + 4])


def _commit(fields: Sequence[bytes]) -> Commit:
    sha = fields[0].decode().strip()
    parents = tuple(fields[1].decode().split())
    message = fields[3]
    if len(message) > MAX_MESSAGE_BYTES:
        # w4: not read, so none of its markers apply (the commit-msg hook refuses such a
        # message when it names any); the other commits of a push or a range still do
        message = (f"(a message of {len(message)} bytes, over the {MAX_MESSAGE_BYTES}-byte "
                   "limit: not read)").encode()
    return Commit(sha, parents, int(fields[2] or b"0"), message.decode("utf-8", errors="replace"))


def _parse_log_stream(stream: object) -> Iterator[Commit]:
    """Commits from a `git log -z --format=%H%x00%P%x00%ct%x00%B` pipe, as they arrive."""
    buffer = b""
    fields: list[bytes] = []
    read = stream.read1 if hasattr(stream, "read1") else stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(1 << 16)
        if not chunk:
            break
        buffer += chunk
        parts = buffer.split(b"\0")
        buffer = parts.pop()
        for part in parts:
            fields.append(part)
            if len(fields) == 4:
                fields[0] = fields[0].lstrip(b"\n")
                yield _commit(fields)
                fields = []
    if buffer:
        fields.append(buffer)
    if len(fields) == 4:
        fields[0] = fields[0].lstrip(b"\n")
        yield _commit(fields)



# ======================================================================== landing (MARKERS.md v2)
# The git side of "When a commit counts": a ref snapshot, the walks that say what landed and
# what left, rewrite mappings, what equivalence compares, squash and merge ranges, identity.
# Decisions on these values are pure, in landing.py.


@dataclass(frozen=True)
class RefSnapshot:
    refs: dict[str, str]  # refs/heads/* and refs/remotes/* -> sha (symbolic ones left out)
    symrefs: dict[str, str]  # symbolic ref -> its target (refs/remotes/origin/HEAD)


def read_refs(repo: Repo) -> RefSnapshot:
    """Every local and remote-tracking branch in one `git for-each-ref` (the cheap path)."""
    out = repo.run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(symref)",
                   "refs/heads/", "refs/remotes/")
    refs: dict[str, str] = {}
    symrefs: dict[str, str] = {}
    for line in out.decode(errors="surrogateescape").splitlines():
        name, sha, target = (line.split("\0") + ["", ""])[:3]
        if target:
            symrefs[name] = target
        elif name and sha:
            refs[name] = sha
    return RefSnapshot(refs, symrefs)


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
    when a hook framework hides post-rewrite's stdin)."""
    out = repo.run("log", "-g", "-z", f"-n{limit}", "--format=%H%x00%gs", "HEAD", "--",
                   check=False)
    fields = out.decode(errors="replace").split("\0")
    return [(fields[i].strip(), fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


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


def note_squash(repo: Repo) -> list[str]:
    """Remember, for the checked-out branch, the commits a `merge --squash` has staged, so
    the next commit on it carries their markers (landing.take_squash in post-commit); forget
    a squash abandoned since (reset: no SQUASH_MSG any more). post-merge calls it with the
    squash flag; commit-msg on every commit (SQUASH_MSG is gone by post-commit), which also
    covers a conflicted squash, where post-merge never runs."""
    from exai_git import landing

    ref = head_ref(repo)
    branch = ref[len(landing.HEADS):] if ref else "HEAD"
    commits = squash_pending(repo)
    base = rev_parse_optional(repo, "HEAD") or landing.ZERO
    state = repo.common_dir / landing.STATE_DIR / "squash.json"
    if commits or state.exists():
        landing.record_squash(repo.common_dir, branch, base, commits)
    return commits


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
                 remote_only: bool = False, remote: str = "origin") -> Plan:
    """The reconciliation every hook, status, sync and apply starts with: one for-each-ref
    and the recorded heads; a git walk only when a tracked ref moved. before: the rev the
    checked-out branch was at before the event (HEAD^ in post-commit, ORIG_HEAD in
    post-merge), used only when the clone has recorded no heads yet. Nothing is recorded
    here: once the plan is applied, landing.save_heads(repo.common_dir, plan.heads)."""
    import dataclasses

    from exai_git import landing

    snap = read_refs(repo)
    default = landing.origin_head(snap.symrefs, remote)
    names = landing.tracked_names(branches, default)
    current = landing.tracked_refs(snap.refs, names, remote=remote, remote_only=remote_only)
    main = landing.main_line(snap.refs, names, remote=remote, remote_only=remote_only,
                             prefer=(default, *landing.DEFAULT_BRANCHES))
    recorded = landing.load_heads(repo.common_dir)
    started = recorded is None
    if recorded is None:
        start = None if before is None else (rev_parse_optional(repo, before) or landing.ZERO)
        recorded = landing.initial_heads(current, head_ref(repo) if start else None, start)
    result = landing.plan(recorded, current, lambda inc, exc: rev_list(repo, inc, exc))
    return dataclasses.replace(result, main_line=main, started=started)


# --------------------------------------------------------------------------- locations
# (v2 locations: locations.py maps issue lines from their anchor commit to another commit)


def missing_commits(repo: Repo, shas: Sequence[str]) -> set[str]:
    """Those of shas that are not commits this clone has (not fetched, or not a commit):
    one `git cat-file --batch-check` call."""
    wanted = sorted({s for s in shas if s})
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


# --------------------------------------------------------------------------- by hand (w5)


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
