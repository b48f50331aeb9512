"""git I/O: staged and commit diffs, commit info, log streaming, patch-ids.

git is always asked for machine-readable output (NUL-separated, no quoting, no colour, no
external diff or textconv, fixed a/ b/ prefixes) and never takes the index lock.

Here: the Repo class. The log parsing lives in log.py, the landing block (MARKERS.md v2) in
landing.py and the locations' and write commands' calls in paths.py; all are re-exported.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from exai_git.errors import GitError

if TYPE_CHECKING:
    from exai_git.diff import FileChange

__all__ = [  # every repo.NAME; the blocks below "re-exported" live in submodules
    "MAX_MESSAGE_BYTES", "Commit", "LogStream", "RefSnapshot", "Repo", "changes_between",
    "equivalents", "head_ref", "head_reflog", "idents", "landing_plan", "lines_at_head",
    "merge_brought", "missing_commits", "off_branches", "origin_url",
    "path_in_repo", "read_refs", "rebase_in_progress", "repository", "require_full_history",
    "rev_list", "rev_parse_optional", "rewrites", "rewritten_list", "squash_pending",
]

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
        self._seen()

    @classmethod
    def from_hook_dirs(cls, text: str) -> Repo | None:
        """The repository a native hook's shell asked git about (hookmain.HOOK_DIRS_ENV:
        the shell's process id, which exec leaves to this process, its working directory,
        then the git dir, the common dir, the top level and HEAD's commit, as `git rev-parse`
        printed them there), without asking again; None when that was not this process's
        shell, not here, or not a work tree (then Repo() asks)."""
        lines = text.split("\n")
        if len(lines) != 6 or lines[0] != str(os.getpid()) or not all(lines[1:5]):
            return None
        where, git_dir, common, top = (Path(line) for line in lines[1:5])
        try:
            if not os.path.samefile(where, os.getcwd()):
                return None
        except OSError:
            return None
        repo = cls.__new__(cls)
        repo.git_dir = (where / git_dir).resolve()  # canonical, as --absolute-git-dir
        repo.common_dir = common if common.is_absolute() else (where / common).resolve()
        repo.root = top
        repo._seen()
        repo.hook_head = lines[5] or None
        return repo

    def _seen(self) -> None:
        # what this process has read already: commits by sha (a sha names one commit for
        # good), shas git has shown to be commits here, the last snapshot of the branches
        self._commits: dict[str, Commit] = {}
        self.present: set[str] = set()
        self.last_refs: RefSnapshot | None = None
        # the commit HEAD named when the native hook started, as its shell read it (HEAD
        # does not move under a pre-commit hook); None: not known
        self.hook_head: str | None = None

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

    def comment_char(self) -> str | None:
        """core.commentChar, else core.commentString, else # (git's "auto" picks one per
        message: None lets the caller look); both asked of one git process."""
        out = self.run("config", "-z", "--get-regexp", r"^core\.comment(char|string)$",
                       check=False)
        found: dict[str, str] = {}
        for entry in out.decode(errors="replace").split("\0"):
            key, _, value = entry.partition("\n")
            if key:
                found[key] = value.strip()  # the last one set wins, as for `config --get`
        value = found.get("core.commentchar") or found.get("core.commentstring") or "#"
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
        """The commit rev names: one `git log` (a commit read before in this process: none;
        a rev that names no commit: resolve says why)."""
        if rev in self._commits:
            return self._commits[rev]
        if not rev.startswith("-"):
            out = self.run("log", "-1", "--no-walk", "-z", "--format=%H%x00%P%x00%ct%x00%B",
                           "--end-of-options", f"{rev}^{{commit}}", "--", check=False)
            for commit in _parse_log_records(out):
                return self.remember(commit)
        sha = self.resolve(rev)
        out = self.run("log", "-1", "--no-walk", "-z", "--format=%H%x00%P%x00%ct%x00%B", sha)
        commits = list(_parse_log_records(out))
        if not commits:
            raise GitError(f"no such commit: {rev!r}")
        return self.remember(commits[0])

    def remember(self, commit: Commit) -> Commit:
        """Keep a commit read from git for this process (a sha names one commit for good)."""
        self._commits[commit.sha] = commit
        return commit

    def known_commit(self, sha: str) -> Commit | None:
        """The commit sha names, if this process has read it already."""
        return self._commits.get(sha)

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

    def tracked_files(self) -> list[str]:
        """The paths of the files in the index, relative to the root (undecodable bytes kept
        as surrogate escapes)."""
        names = self.run("ls-files", "-z").split(b"\0")
        return [raw.decode(errors="surrogateescape") for raw in names if raw]

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

        # no revision: against HEAD, or everything staged before the first commit
        return diff.parse(self.run("diff", "--cached", *_DIFF, "--"))

    def staged_commit_key(self, head: str | None = None) -> str | None:
        """A key for the commit `git commit` is about to write from the index: HEAD and the
        git blob hash of the index's raw diff against it (None before the first commit).

        The native post-commit hook computes the same for the commit it follows, with
        `git log --format=%P` and `git diff-tree ... | git hash-object --stdin`: equal keys
        mean the same parent and the same tree. Read-only: unlike `git write-tree` it neither
        writes the index nor takes its lock (which `git commit` holds while hooks run), and it
        reads the index git names in GIT_INDEX_FILE (commit -a, commit <paths>). head: the
        commit HEAD names, when the caller (or the hook's shell: hook_head) asked git already.
        """
        import hashlib

        head = head or self.hook_head or self.head()
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


def _failed(command: str, stderr: bytes) -> GitError:
    """A failed git command, said with the last line of what it printed."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return GitError(f"git {command} failed: {lines[-1] if lines else 'no output'}")


def _env() -> dict[str, str]:
    return dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_TERMINAL_PROMPT="0")


# --------------------------------------------------------------------------- re-exported
# The blocks that live in submodules. Imported last: they use Repo and the constants above.

from exai_git.repo.landing import (
    RefSnapshot,
    equivalents,
    head_ref,
    head_reflog,
    idents,
    landing_plan,
    merge_brought,
    off_branches,
    origin_url,
    read_refs,
    rebase_in_progress,
    repository,
    require_full_history,
    rev_list,
    rev_parse_optional,
    rewrites,
    rewritten_list,
    squash_pending,
)
from exai_git.repo.log import LogStream, _parse_log_records, _widen_pipe
from exai_git.repo.paths import changes_between, lines_at_head, missing_commits, path_in_repo
