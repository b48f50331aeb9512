"""The git hook entry points and the commands behind them: thin glue over markers, repo,
scanner, engine and outbox.

A hook never loses work and never blocks a commit because the database is slow or down:
it says so in one line and queues the work; the next hook run or `exai-git sync` replays it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exai_git import markers
from exai_git.apply import apply_or_queue, work_for
from exai_git.errors import DatabaseUnreachable, ExaiError

if TYPE_CHECKING:

    from exai_git.config import Settings
    from exai_git.diff import FileChange
    from exai_git.model import Work
    from exai_git.outbox import Outbox
    from exai_git.repo import Commit, Repo
    from exai_git.scanner import Finding

Say = Callable[[str], None]
ZERO = "0" * 40


def say_err(line: str) -> None:
    print(line, file=sys.stderr)


def state_dir(repo: Repo) -> Path:
    return repo.common_dir / "exai-git"


def outbox(repo: Repo) -> Outbox:
    """The repository's queue of work the database could not take yet."""
    from exai_git.outbox import Outbox

    return Outbox(state_dir(repo) / "outbox.sqlite3")


def _read_state(path: Path) -> dict[str, Any] | None:
    """A JSON state file the hooks leave each other, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(path: Path, data: dict[str, Any]) -> None:
    """Replace a JSON state file atomically; a state file that cannot be written is skipped."""
    _replace_file(path, json.dumps(data))


def _replace_file(path: Path, text: str | None) -> None:
    """Replace (or, with None, remove) a state file atomically; one that cannot be written is
    skipped: the hooks then just do the work the file would have spared them."""
    try:
        if text is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        pass


def parse_message(text: str, settings: Settings, comment_char: str | None = "#"
                  ) -> markers.Parsed:
    return markers.parse(text, prefix=settings.prefix, comment_char=comment_char,
                         env_conversation=os.environ.get("EXAI_CONVERSATION_ID"))


def read_message_file(path: str) -> str:
    """A message file (or - for stdin) as text; bytes that are not UTF-8 are replaced."""
    from exai_git.repo import MAX_MESSAGE_BYTES

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_MESSAGE_BYTES * 8 + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_MESSAGE_BYTES * 8 + 1)
    except OSError as e:
        raise ExaiError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_MESSAGE_BYTES * 8:
        raise ExaiError(f"{path}: message larger than {MAX_MESSAGE_BYTES * 8} bytes; refused")
    return data.decode("utf-8", errors="replace")


def _auto_comment_char(text: str) -> str:
    """git's core.commentChar=auto: the first of #;@!$%^&|: that starts no line."""
    starts = {line[:1] for line in text.splitlines()}
    return next((c for c in "#;@!$%^&|:" if c not in starts), "#")


def parse_draft(text: str, settings: Settings, repo: Repo | None) -> markers.Parsed:
    """A message as git would see it before cleanup: its comment lines are the repository's
    core.commentChar (# outside a repository)."""
    cc = repo.comment_char() if repo is not None else "#"
    return parse_message(text, settings, cc if cc is not None else _auto_comment_char(text))


# --------------------------------------------------------------------------- check-msg


@dataclass
class MessageCheck:
    parsed: markers.Parsed
    db_errors: list[str] = field(default_factory=list)
    db_warnings: list[str] = field(default_factory=list)
    db_note: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.parsed.errors or self.db_errors)


def check_message(path: str, settings: Settings, *, repo: Repo | None = None) -> MessageCheck:
    parsed = parse_draft(read_message_file(path), settings, repo)
    result = MessageCheck(parsed)
    if parsed.errors or not parsed.actions:
        return result
    from exai_git import apply, engine, store

    if repo is not None and "psycopg" not in sys.modules:
        # Without the database driver loaded (no hook server), loading it costs more than
        # the rest of the hook: when the scan of this change read every issue the markers
        # name moments ago, check against that reading.
        read = _issues_read(repo, settings, {a.issue for a in parsed.actions})
        if read is not None:
            checked = engine.check_known(read, parsed.actions, settings.prefix)
            result.db_errors, result.db_warnings = checked.errors, checked.warnings
            return result

    try:
        conn = store.connect(settings)
    except DatabaseUnreachable as e:
        result.db_note = f"{e}; checked the markers' syntax only"
        return result
    try:
        with conn:
            checked = apply.check(conn, parsed.actions, settings)
        result.db_errors, result.db_warnings = checked.errors, checked.warnings
    except Exception as e:  # noqa: BLE001 - a slow or broken database never blocks a commit
        result.db_note = f"database check skipped ({_one_line(e)}); checked syntax only"
    return result


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------- scanning


@dataclass
class ScanResult:
    findings: list[Finding]
    paths: list[str]
    diff_key: str
    issues_on_paths: int = 0  # open issues on the changed files, touched or not
    # the issues the scan read: number -> (status, {step: status})
    read: dict[int, tuple[str, dict[int, str]]] = field(default_factory=dict)


def scan(repo: Repo, settings: Settings, target: str | None, *,
         use_path_cache: bool = False) -> ScanResult:
    """Findings for the staged change (target None) or a revision / A..B range."""
    from exai_git import scanner

    changes, key = _changes_for(repo, target)
    paths = scanner.paths_of(changes)
    if not paths:
        return ScanResult([], paths, key)
    cache = _IssuePaths(repo, settings) if target is None and use_path_cache else None
    known = cache.load() if cache is not None else None
    if known is not None and known.isdisjoint(paths):
        return ScanResult([], paths, key)  # no open issue on these files: no database
    from exai_git import locations, store

    with store.connect(settings) as conn:
        issues, any_on_paths, every = locations.open_issues_touched(
            conn, repo, settings, changes, target,
            with_all_paths=cache is not None and known is None)
    if cache is not None and every is not None:
        cache.save(every)
    read = {i.issue_number: (i.status, {int(n): str(s) for n, s in i.steps or ()})
            for i in issues}
    return ScanResult(scanner.findings(changes, issues), paths, key, int(any_on_paths), read)


class _IssuePaths:
    """The files open issues sit on, kept for settings.scan_cache_seconds in the state dir."""

    def __init__(self, repo: Repo, settings: Settings) -> None:
        self.path = state_dir(repo) / "issue-paths.json"
        self.ttl = settings.scan_cache_seconds
        self.source = _tracker_id(settings)

    def load(self) -> set[str] | None:
        if self.ttl <= 0:
            return None
        data = _read_state(self.path)
        if data is None or data.get("source") != self.source:
            return None
        if not 0 <= time.time() - float(data.get("at", 0)) <= self.ttl:
            return None
        return set(data.get("paths") or [])

    def save(self, paths: list[str]) -> None:
        if self.ttl > 0:
            _write_state(self.path, {"source": self.source, "at": time.time(), "paths": paths})


def forget_issue_paths(repo: Repo) -> None:
    """Issue locations changed (a rename moved one): the next scan asks the database."""
    try:
        (state_dir(repo) / "issue-paths.json").unlink()
    except OSError:
        pass


def _changes_for(repo: Repo, target: str | None) -> tuple[list[FileChange], str]:
    if target is None:
        changes = repo.staged_changes()
    elif "..." in target or ".." in target:
        a, b = target.replace("...", "..").split("..", 1)
        a_sha, b_sha = repo.resolve(a or "HEAD"), repo.resolve(b or "HEAD")
        base = repo.run("merge-base", a_sha, b_sha, check=False).decode().strip() or a_sha
        changes = repo.commit_changes(b_sha, base)
    else:
        commit = repo.commit(target)
        changes = repo.changes_of(commit)
    return changes, _changes_key(changes)


def _changes_key(changes: Sequence[FileChange]) -> str:
    digest = hashlib.sha256()
    for c in changes:
        digest.update(repr((c.status, c.old_path, c.new_path, c.hunks)).encode())
    return digest.hexdigest()


def remember_scan(repo: Repo, result: ScanResult, settings: Settings) -> None:
    """Leave what the pre-commit scan found for the prepare-commit-msg and post-commit hooks
    of the same change, so they need no database to know it."""
    from exai_git import scanner

    _write_state(state_dir(repo) / "scan-cache.json", {
        "key": result.diff_key, "issues": result.issues_on_paths,
        "findings": [scanner.finding_line(f, settings.prefix) for f in result.findings],
        "first": result.findings[0].issue if result.findings else None,
        "read": {"at": time.time(), "source": _tracker_id(settings),
                 "issues": {str(n): [status, sorted(steps.items())]
                            for n, (status, steps) in result.read.items()}}})


# How long the commit-msg check may take the scan's reading of an issue for the tracker's:
# the two hooks run within one `git commit`, the message's editor between them.
SCAN_READ_SECONDS = 120


def _tracker_id(settings: Settings) -> str:
    return hashlib.sha256(repr((settings.dsn, settings.prefix)).encode()).hexdigest()


def _issues_read(repo: Repo, settings: Settings, numbers: set[int]
                 ) -> dict[int, tuple[str, dict[int, str]]] | None:
    """What the pre-commit scan of the staged change read of these issues, when it read them
    all, from this tracker, in the last SCAN_READ_SECONDS; else None."""
    data = _read_state(state_dir(repo) / "scan-cache.json")
    read = data.get("read") if data else None
    if not isinstance(read, dict) or read.get("source") != _tracker_id(settings):
        return None
    age = time.time() - float(read.get("at", 0))
    issues = read.get("issues") or {}
    if not (0 <= age <= SCAN_READ_SECONDS) or not all(str(n) in issues for n in numbers):
        return None
    if data is None or data.get("key") != _changes_key(repo.staged_changes()):
        return None  # another change than the one scanned
    return {n: (issues[str(n)][0], {int(k): v for k, v in issues[str(n)][1]}) for n in numbers}


def _cached_scan(repo: Repo, key: str) -> dict[str, Any] | None:
    data = _read_state(state_dir(repo) / "scan-cache.json")
    return data if data is not None and data.get("key") == key else None


def _scan_said_nothing(repo: Repo, key: str) -> bool:
    data = _cached_scan(repo, key)
    return data is not None and data.get("issues") == 0


POST_COMMIT_QUIET = "post-commit-quiet"


def _mark_post_commit_quiet(repo: Repo, quiet: bool) -> None:
    """Tell the native post-commit hook, a shell script, that a commit of exactly this parent
    and tree has nothing to apply or move unless its message names an issue: the scan found no
    open issue on the changed files and nothing is queued. It then starts no Python at all.

    The file holds what `git log -1 --format='%P %T'` prints for such a commit; any other
    commit (amended, merged, --no-verify, a tree changed by another hook) does not match it.
    """
    key = None
    if quiet:
        head = repo.run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        tree = repo.run("write-tree", check=False)  # the tree `git commit` is about to write
        if head.strip() and tree.strip():
            key = f"{head.decode().strip()} {tree.decode().strip()}\n"
    _replace_file(state_dir(repo) / POST_COMMIT_QUIET, key)


# --------------------------------------------------------------------------- hooks


def commit_msg(repo: Repo | None, settings: Settings, path: str, say: Say = say_err) -> int:
    """The commit-msg hook: 1 (refuse) on a malformed marker or an unknown issue or step."""
    from exai_git.render import clean, note_line

    result = check_message(path, settings, repo=repo)
    for note in result.parsed.warnings:
        say("EXAI: " + note_line("warning", note))
    for note in result.parsed.errors:
        say(f"EXAI: {note_line('error', note)} [{clean(note.text)}]")
    for line in result.db_warnings:
        say(f"EXAI: warning: {clean(line)}")
    for line in result.db_errors:
        say(f"EXAI: error: {clean(line)}")
    if result.db_note:
        say(f"EXAI: warning: {clean(result.db_note)}")
    if not result.ok:
        say("EXAI: commit refused; fix the marker, or skip the check with --no-verify")
        return 1
    return 0


def pre_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """The pre-commit hook: warn about open issues the staged change touches."""
    from exai_git import scanner

    try:
        result = scan(repo, settings, None, use_path_cache=True)
    except ExaiError as e:
        _mark_post_commit_quiet(repo, False)
        if e.exit_code == 3:
            say(f"EXAI: {e}; scan skipped")
            return 0
        raise
    remember_scan(repo, result, settings)
    _mark_post_commit_quiet(repo, settings.apply_on != "commit" or (
        result.issues_on_paths == 0 and not result.findings and outbox(repo).count() == 0))
    for f in result.findings:
        say(scanner.finding_line(f, settings.prefix))
    if result.findings:
        say(scanner.hint(result.findings, settings.prefix))
    return 1 if scanner.fails(result.findings, settings.fail_on) else 0



def post_commit(repo: Repo, settings: Settings, say: Say = say_err) -> int:
    """Apply HEAD's markers and move issue locations through its hunks."""
    if settings.apply_on != "commit":
        return 0
    commit = repo.commit("HEAD")
    parsed = parse_message(commit.message, settings, None)
    changes = repo.changes_of(commit)
    if (not parsed.actions and not parsed.reverts
            and _scan_said_nothing(repo, _changes_key(changes))
            and outbox(repo).count() == 0):
        return 0  # nothing to apply and nothing to move: no database, no psycopg
    work = work_for(repo, commit, settings, parsed=parsed, changes=changes)
    apply_or_queue(repo, [work], settings, say)
    return 0


def pre_push(repo: Repo, settings: Settings, lines: Sequence[str], remote: str | None,
             say: Say = say_err) -> int:
    """With apply_on = "push": apply what is pushed to the configured branches."""
    if settings.apply_on != "push":
        return 0
    works: list[Work] = []
    seen: set[str] = set()
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, remote_ref, remote_sha = parts
        if set(local_sha) == {"0"}:
            continue  # a deletion pushes no commits
        branch = remote_ref.removeprefix("refs/heads/")
        if settings.branches and branch not in settings.branches:
            continue
        exclude = [remote_sha] if set(remote_sha) != {"0"} else []
        include = [local_sha]
        if not exclude and remote:
            # A branch new to the remote: what the remote already has on the branches we
            # apply for was applied then; commits that only sit on other branches were not.
            if settings.branches:
                exclude = [ref for b in settings.branches
                           if repo.run("rev-parse", "--verify", "--quiet",
                                       ref := f"refs/remotes/{remote}/{b}", check=False).strip()]
            else:
                exclude = [f"--remotes={remote}"]
        for commit in _log(repo, include, exclude):
            if commit.sha in seen:
                continue
            seen.add(commit.sha)
            works.append(work_for(repo, commit, settings))
    if not works:
        return 0
    apply_or_queue(repo, works, settings, say)
    return 0


def _log(repo: Repo, include: list[str], exclude: list[str]) -> Iterator[Commit]:
    plain = [e for e in exclude if not e.startswith("--")]
    flags = [e for e in exclude if e.startswith("--")]
    if flags:
        out = repo.run("rev-list", "--reverse", "--topo-order", *include, "--not", *flags)
        for sha in out.decode().split():
            yield repo.commit(sha)
        return
    yield from repo.iter_log(include, plain)


def pre_commit_framework_push_lines() -> list[str]:
    """The pre-push refs as the pre-commit framework passes them (environment)."""
    to_ref = os.environ.get("PRE_COMMIT_TO_REF")
    if not to_ref:
        return []
    from_ref = os.environ.get("PRE_COMMIT_FROM_REF") or ZERO
    remote_branch = os.environ.get("PRE_COMMIT_REMOTE_BRANCH") or "HEAD"
    local_branch = os.environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
    return [f"{local_branch} {to_ref} {remote_branch} {from_ref}"]


def post_rewrite(repo: Repo, settings: Settings, lines: Sequence[str], say: Say = say_err) -> int:
    """amend / rebase: rewritten commits are the same work; post-commit already saw them
    (patch-id), so only commits it could not see (no post-commit under this git) remain."""
    works = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2:
            try:
                works.append(work_for(repo, repo.commit(parts[1]), settings))
            except ExaiError:
                continue
    if settings.apply_on == "commit" and works:
        apply_or_queue(repo, [w for w in works if w.actions or w.reverts], settings, say)
    return 0


def prepare_commit_msg(repo: Repo, settings: Settings, path: str, source: str | None) -> int:
    """Add the findings of the staged change to the message template as comment lines
    (from the pre-commit scan of the same change when there was one)."""
    if source in ("merge", "squash", "commit", "message"):
        return 0  # the message is given or reused; leave it
    changes = repo.staged_changes()
    cached = _cached_scan(repo, _changes_key(changes))
    if cached is not None:
        found, first = list(cached.get("findings") or []), cached.get("first")
    else:
        from exai_git import scanner

        try:
            result = scan(repo, settings, None)
        except ExaiError:
            return 0
        found = [scanner.finding_line(f, settings.prefix) for f in result.findings]
        first = result.findings[0].issue if result.findings else None
    if not found:
        return 0
    cc = repo.comment_char() or "#"
    p = settings.prefix
    lines = [f"{cc} This change touches open issues (exai-git):"]
    lines += [f"{cc}   {line}" for line in found]
    lines.append(f"{cc} To record the work, add e.g. `Fixes {p}-{first}` or "
                 f"`Refs {p}-{first} step N conv:<uuid>`.")
    try:
        with open(path, "r+", encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
            f.seek(0)
            f.write(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" if text.strip()
                    else "\n\n" + "\n".join(lines) + "\n")
            f.truncate()
    except OSError:
        return 0
    return 0


# --------------------------------------------------------------------------- install

MARK = "# exai-git hook: installed by `exai-git install`; safe to remove with --uninstall"
NATIVE_HOOKS = ("commit-msg", "pre-commit", "prepare-commit-msg", "post-commit", "pre-push",
                "post-rewrite")


PREFIX_FILE = "prefix"  # .git/exai-git/prefix: the prefix the shell scripts test for
HOOK_COMMAND = "exai-git-hook"


def hook_script(name: str, hook_command: str) -> str:
    """A native hook: finds `exai-git-hook` on PATH at run time, else at hook_command (where
    it was at install time), so a moved or recreated virtualenv does not break commits; says
    so in one line when neither is there. The issue prefix is read at run time too (the
    prefix file, refreshed by the hook whenever the configuration files are newer)."""
    early = ""
    if name == "prepare-commit-msg":
        # a message given with -m/-F, a merge or a reused message has no template to fill
        early = 'case "$2" in message|merge|squash|commit) exit 0 ;; esac\n'
    elif name == "commit-msg":
        # a message naming no issue key, conversation or revert has nothing to check
        early = (_read_prefix()
                 + f'[ -n "$p" ] && ! {_grep_markers()} "$1" 2>/dev/null && exit 0\n')
    elif name == "post-commit":
        # nothing to apply or move: the pre-commit scan of this parent and tree found no open
        # issue on the changed files, nothing is queued, and the message names no issue
        early = (_read_prefix()
                 + f'q="$d/{POST_COMMIT_QUIET}"\n'
                 'if [ -n "$p" ] && [ -r "$q" ] && read -r want < "$q"; then\n'
                 "  git log -1 --format='%P %T%n%B' HEAD 2>/dev/null | {\n"
                 '    read -r have && [ "$have" = "$want" ] &&\n'
                 f'      ! {_grep_markers()}; }} && exit 0\n'
                 'fi\n')
    return (
        "#!/bin/sh\n"
        f"{MARK}\n"
        f"{early}"
        f"h=$(command -v {HOOK_COMMAND} 2>/dev/null) || h={_sh_quote(hook_command)}\n"
        'if [ ! -x "$h" ]; then\n'
        f'  echo "EXAI: {HOOK_COMMAND} is not on PATH (nor at $h); hook {name} skipped:'
        ' pip install exai-git, or exai-git install --uninstall" >&2\n'
        "  exit 0\n"
        "fi\n"
        f'exec "$h" {name} "$@"\n'
    )


def _read_prefix() -> str:
    """Shell: $d the state directory, $p the prefix the hook last read from the configuration
    (empty when there is none yet or a configuration file changed since: Python then runs,
    reads the configuration and writes it again); EXAI_GIT_PREFIX wins."""
    return ('d="$(git rev-parse --git-common-dir 2>/dev/null)/exai-git"; p=""\n'
            f'[ -r "$d/{PREFIX_FILE}" ] && read -r p < "$d/{PREFIX_FILE}"\n'
            't="$(git rev-parse --show-toplevel 2>/dev/null)"\n'
            'for f in "$t/.exai-git.toml" "$t/pyproject.toml"; do\n'
            f'  [ "$f" -nt "$d/{PREFIX_FILE}" ] && p=""\n'
            'done\n'
            'p="${EXAI_GIT_PREFIX:-$p}"\n')


def _grep_markers() -> str:
    """A grep that succeeds when its input may hold a marker, a trailer or a revert."""
    return 'grep -qiE -e "$p" -e "conversation" -e "reverts commit"'


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
    _replace_file(path, settings.prefix + "\n")  # unwritable: Python runs for every message


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def hooks_dir(repo: Repo) -> Path:
    out = repo.run("rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else repo.root / path


def install(repo: Repo, *, uninstall: bool = False, hook_command: str | None = None,
            settings: Settings | None = None) -> list[str]:
    """Write (or remove) the native hooks; never touch a hook that is not ours."""
    directory = hooks_dir(repo)
    hook_command = hook_command or _installed_hook_command()
    lines = []
    for name in NATIVE_HOOKS:
        path = directory / name
        ours = path.exists() and MARK in path.read_text(errors="replace")
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
    return lines


def _installed_hook_command() -> str:
    """exai-git-hook of this installation: next to the running interpreter (a virtualenv's
    bin/), else on PATH, else that place anyway (the hook then says it is missing)."""
    import shutil

    beside = Path(sys.executable).parent / HOOK_COMMAND
    if beside.exists():
        return str(beside)
    return shutil.which(HOOK_COMMAND) or str(beside)
