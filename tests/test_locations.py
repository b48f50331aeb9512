"""Locations anchored at a commit (MARKERS.md v2, "Locations"): moved only when the main line
moves, mapped by the scanner to the commit it compares against. Real git, real PostgreSQL;
no hooks are installed, so nothing but these calls moves a location."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exai_git import locations, store
from exai_git.diff import FileChange, follow
from exai_git.ranges import Hunk
from exai_git.repo import Repo, changes_between
from tests.conftest import Database, exai, git, write

KIMI = "src/providers/async_kimi.py"  # issue 2: lines 58-60
BASE = "src/providers/async_base.py"  # issue 3: lines 19-22


def lines(n: int, tag: str) -> str:
    return "".join(f"{tag}{i}\n" for i in range(1, n + 1))


def head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev).stdout.strip()


@pytest.fixture
def main(repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed's issues on a repository whose main line has their files; issues anchored
    at main's head, as the first reconciliation leaves them."""
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    for name in ("async_glm", "async_kimi", "async_base"):
        write(repo / "src" / "providers" / f"{name}.py", lines(100, name[6]))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    with psycopg.connect(seeded.dsn, autocommit=True) as conn:
        assert locations.anchor_new_issues(conn, head(repo)) == 3
    return repo


def move(db: Database, repo: Path, old: str | None, new: str) -> list[str]:
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        return locations.move_locations(conn, Repo(repo), old, new, "EXAI")


def where(db: Database, number: int) -> tuple[str, int | None, int | None, str | None]:
    rows = db.query("SELECT file_path, line_start, line_end, anchor_sha FROM exai_issues"
                    " WHERE issue_number = %s", (number,))
    return rows[0]


def prepend(path: Path, text: str) -> None:
    path.write_text(text + path.read_text())


def edit_line(path: Path, n: int, text: str) -> None:
    content = path.read_text().splitlines(keepends=True)
    content[n - 1] = text + "\n"
    path.write_text("".join(content))


def scan_json(repo: Path, *args: str) -> list[dict[str, object]]:
    out = exai("scan", *args, "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["findings"]  # type: ignore[no-any-return]


def comments(db: Database, number: int) -> list[str]:
    return [r[0] for r in db.query(
        "SELECT u.content FROM exai_issue_updates u JOIN exai_issues i ON i.id = u.issue_id"
        " WHERE i.issue_number = %s AND u.update_type = 'comment' ORDER BY u.created_at",
        (number,))]


# --------------------------------------------------------------------------- moving


def test_a_fast_forward_moves_the_lines_once(main: Path, seeded: Database) -> None:
    a = head(main)
    git(main, "checkout", "-qb", "feature")
    prepend(main / KIMI, "new1\nnew2\nnew3\n")
    git(main, "commit", "-qam", "three lines on top")
    b = head(main)
    # a commit on a feature branch moves nothing: the reconciliation never calls for it
    assert where(seeded, 2) == (KIMI, 58, 60, a)
    git(main, "checkout", "-q", "main")
    git(main, "merge", "-q", "--ff-only", "feature")
    touched = "SELECT updated_at FROM exai_issues WHERE issue_number = %s"
    before = {n: seeded.scalar(touched, (n,)) for n in (2, 3)}
    report = move(seeded, main, a, b)
    # re-anchoring an issue whose file did not change is not an update of it
    assert seeded.scalar(touched, (3,)) == before[3]
    assert seeded.scalar(touched, (2,)) > before[2]
    assert report == [f"EXAI-2: location moved: {KIMI}:58-60 -> {KIMI}:61-63 "
                      f"(main moved {a[:7]}..{b[:7]})"]
    assert where(seeded, 2) == (KIMI, 61, 63, b)
    assert where(seeded, 3) == (BASE, 19, 22, b)  # untouched: only re-anchored
    assert comments(seeded, 2) == [report[0].removeprefix("EXAI-2: ")]
    assert move(seeded, main, a, b) == []  # the same move again: nothing
    assert where(seeded, 2) == (KIMI, 61, 63, b)
    assert (main / KIMI).read_text().splitlines()[60:63] == ["k58", "k59", "k60"]


def test_a_no_ff_merge_and_a_foxtrot_move_the_lines_once(main: Path, seeded: Database) -> None:
    a = head(main)
    git(main, "checkout", "-qb", "feature")
    prepend(main / KIMI, "f1\nf2\nf3\n")
    git(main, "commit", "-qam", "feature: three lines on top")
    git(main, "checkout", "-q", "main")
    content = (main / KIMI).read_text().splitlines(keepends=True)
    (main / KIMI).write_text("".join(content[:80] + ["m1\n", "m2\n"] + content[80:]))
    git(main, "commit", "-qam", "main: two lines below the issue")
    c = head(main)
    assert move(seeded, main, a, c) == []  # below the issue: re-anchored, not moved
    assert where(seeded, 2) == (KIMI, 58, 60, c)
    git(main, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    m = head(main)
    assert len(move(seeded, main, c, m)) == 1
    assert where(seeded, 2) == (KIMI, 61, 63, m)
    # a foxtrot: the feature branch merges main in and main fast-forwards to that merge,
    # so main's first parent is now the feature's line
    git(main, "checkout", "-q", "feature")
    prepend(main / KIMI, "g1\n")
    git(main, "commit", "-qam", "feature: one more line on top")
    git(main, "merge", "-q", "--no-ff", "-m", "merge main into feature", "main")
    git(main, "checkout", "-q", "main")
    git(main, "merge", "-q", "--ff-only", "feature")
    fox = head(main)
    report = move(seeded, main, m, fox)
    assert len(report) == 1 and "-> src/providers/async_kimi.py:62-64" in report[0]
    assert where(seeded, 2) == (KIMI, 62, 64, fox)
    assert (main / KIMI).read_text().splitlines()[61:64] == ["k58", "k59", "k60"]
    assert len([c for c in comments(seeded, 2) if c.startswith("location moved")]) == 2


def test_a_rename_is_followed(main: Path, seeded: Database) -> None:
    a = head(main)
    git(main, "mv", KIMI, "src/providers/kimi.py")
    prepend(main / "src/providers/kimi.py", "top\n")
    git(main, "commit", "-qam", "rename, and a line on top")
    b = head(main)
    report = move(seeded, main, a, b)
    assert report == [f"EXAI-2: location moved: {KIMI}:58-60 -> src/providers/kimi.py:59-61 "
                      f"(main moved {a[:7]}..{b[:7]})"]
    assert where(seeded, 2) == ("src/providers/kimi.py", 59, 61, b)


def test_a_deleted_file_keeps_the_location_with_a_warning(main: Path, seeded: Database) -> None:
    a = head(main)
    git(main, "rm", "-q", KIMI)
    base = main / BASE
    content = base.read_text().splitlines(keepends=True)
    base.write_text("".join(content[:18] + content[22:]))
    git(main, "commit", "-qam", "drop kimi, and issue 3's lines")
    b = head(main)
    report = move(seeded, main, a, b)
    span = f"main moved {a[:7]}..{b[:7]}"
    assert report == [
        f"EXAI-2: warning: {KIMI} was deleted ({span}); location left as it was",
        f"EXAI-3: warning: lines 19-22 of {BASE} were all deleted ({span}); location left as "
        "it was"]
    assert where(seeded, 2) == (KIMI, 58, 60, b)
    assert where(seeded, 3) == (BASE, 19, 22, b)
    assert comments(seeded, 2) == [report[0].removeprefix("EXAI-2: warning: ")]


def test_a_whole_file_issue_follows_a_rename(main: Path, seeded: Database) -> None:
    a = head(main)
    seeded.query("INSERT INTO exai_issues (title, severity, category, status, file_path)"
                 " VALUES ('whole file', 'low', 'other', 'open', %s)", (BASE,))
    number = seeded.scalar("SELECT max(issue_number) FROM exai_issues")
    git(main, "mv", BASE, "src/providers/base.py")
    prepend(main / "src/providers/base.py", "top\n")
    git(main, "commit", "-qam", "rename base")
    b = head(main)
    report = move(seeded, main, a, b)  # filed by SQL: anchored at the old head
    assert f"EXAI-{number}: location moved: {BASE} -> src/providers/base.py " \
           f"(main moved {a[:7]}..{b[:7]})" in report
    assert where(seeded, number) == ("src/providers/base.py", None, None, b)
    assert where(seeded, 3) == ("src/providers/base.py", 20, 23, b)
    seeded.query("INSERT INTO exai_issues (title, severity, category, status, file_path)"
                 " VALUES ('later', 'low', 'other', 'open', 'x.py')")
    assert move(seeded, main, "0" * 40, b) == []  # no main line before: anchored where it is
    assert where(seeded, number + 1) == ("x.py", None, None, b)


def test_an_anchor_this_clone_lacks_is_skipped(main: Path, seeded: Database) -> None:
    a = head(main)
    ghost = uuid.uuid4().hex + "00000000"
    seeded.query("UPDATE exai_issues SET anchor_sha = %s WHERE issue_number = 2", (ghost,))
    prepend(main / KIMI, "top\n")
    git(main, "commit", "-qam", "a line on top")
    report = move(seeded, main, a, head(main))
    assert report == ["EXAI-2: its location is at a commit this clone does not have; not moved"
                      " (an issue of another repository, or a commit not fetched)"]
    assert where(seeded, 2) == (KIMI, 58, 60, ghost)
    # the scanner compares with the stored lines then
    edit_line(main / KIMI, 59, "edited")
    git(main, "add", "-A")
    assert [f["issue"] for f in scan_json(main)] == [2]


def test_anchors_this_clone_lacks_are_said_once_per_change(main: Path, seeded: Database) -> None:
    """One tracker serves many repositories: the issues anchored at commits this clone does not
    have are said in one line, and again only when that set changes."""
    ghosts = [uuid.uuid4().hex + "00000000" for _ in range(2)]
    seeded.query("UPDATE exai_issues SET anchor_sha = %s WHERE issue_number = 2", (ghosts[0],))
    seeded.query("INSERT INTO exai_issues (title, severity, status, file_path, line_start,"
                 " line_end, anchor_sha) VALUES ('other repo', 'low', 'open', 'x.py', 1, 2, %s)",
                 (ghosts[1],))
    said = "EXAI: 2 open issues' locations are at commits this clone does not have; not moved" \
           " (issues of another repository, or commits not fetched)"

    def commit_and_move(n: int) -> list[str]:
        a = head(main)
        prepend(main / BASE, f"top {n}\n")
        git(main, "commit", "-qam", f"line {n}")
        return [f"EXAI: {line}" for line in move(seeded, main, a, head(main))]

    first = commit_and_move(1)
    assert said in first and len(first) == 2, first  # and issue 3's move
    assert not any("EXAI-2" in line for line in first)
    assert commit_and_move(2) == ["EXAI: EXAI-3: location moved: "
                                  f"{BASE}:20-23 -> {BASE}:21-24 "
                                  f"(main moved {head(main, 'HEAD~1')[:7]}..{head(main)[:7]})"]
    seeded.query("UPDATE exai_issues SET anchor_sha = NULL WHERE issue_number = 2")
    seeded.query("UPDATE exai_issues SET anchor_sha = %s WHERE issue_number = 2",
                 (head(main),))
    third = commit_and_move(3)
    assert "EXAI: EXAI-4: its location is at a commit this clone does not have; not moved" \
        " (an issue of another repository, or a commit not fetched)" in third, third
    assert commit_and_move(4)[-1].startswith("EXAI: EXAI-3: location moved")


def test_the_hook_role_may_move_locations(main: Path, seeded: Database) -> None:
    with psycopg.connect(seeded.dsn, autocommit=True) as conn:
        conn.execute("SET ROLE exai_git_hook")
        prepend(main / KIMI, "top\n")
        a = head(main)
        git(main, "commit", "-qam", "a line on top")
        assert len(locations.move_locations(conn, Repo(main), a, head(main), "EXAI")) == 1
    with psycopg.connect(seeded.dsn, autocommit=True) as conn:  # migrating twice is harmless
        assert store.migrate(conn) == []
        conn.execute(next(m.sql for m in store.migrations() if m.version == 7))


# --------------------------------------------------------------------------- through reconcile

GLM = "src/providers/async_glm.py"  # issue 1: lines 48-51


def reconciled(db: Database, repo: Path, dsn: str | None = None) -> list[str]:
    import dataclasses

    from exai_git.reconcile import reconcile

    said: list[str] = []
    settings_ = db.settings(connect_timeout=1)
    if dsn is not None:
        settings_ = dataclasses.replace(settings_, dsn=dsn)
    reconcile(Repo(repo), settings_, hook=None, say=said.append)
    return said


def test_a_feature_commit_moves_nothing_and_its_fast_forward_moves_once(
        main: Path, seeded: Database) -> None:
    """Through the real hooks: a commit on a feature branch leaves EXAI-1's lines where main
    has them, so editing its real line back on main warns; the fast-forward of main moves
    them once, in the post-merge hook's reconciliation."""
    a = head(main)
    assert exai("install", cwd=main).returncode == 0
    reconciled(seeded, main)  # the clone follows main from here
    git(main, "checkout", "-qb", "feature")
    prepend(main / GLM, "f1\nf2\nf3\n")
    git(main, "commit", "-qam", "feature: three lines on top")
    b = head(main)
    assert where(seeded, 1) == (GLM, 48, 51, a)
    git(main, "checkout", "-q", "main")
    edit_line(main / GLM, 48, "the issue's real line")
    out = git(main, "commit", "-qam", "edit EXAI-1's line on main")
    assert f"{GLM}:48-51 EXAI-1" in out.stderr
    assert where(seeded, 1)[1:3] == (48, 51)  # main moved: re-anchored, the lines unchanged
    git(main, "reset", "-q", "--hard", a)
    reconciled(seeded, main)  # main back where it was (reset runs no hook)
    assert where(seeded, 1) == (GLM, 48, 51, a)
    out = git(main, "merge", "-q", "--ff-only", "feature")
    moved = f"location moved: {GLM}:48-51 -> {GLM}:51-54 (main moved {a[:7]}..{b[:7]})"
    assert f"EXAI: EXAI-1: {moved}" in out.stderr
    assert where(seeded, 1) == (GLM, 51, 54, b)
    assert reconciled(seeded, main) == []  # nothing moved since: nothing moves again
    assert where(seeded, 1) == (GLM, 51, 54, b)
    assert comments(seeded, 1) == [moved]


def test_an_unreachable_tracker_moves_them_later_from_the_first_head_not_applied(
        main: Path, seeded: Database) -> None:
    """Nothing is queued for locations: anchored issues carry their start, and an issue filed
    without an anchor meanwhile is mapped from main's head before the first move the tracker
    did not take, not from the head the clone recorded since."""
    a = head(main)
    reconciled(seeded, main)
    down = "postgresql://postgres@127.0.0.1:1/none"
    seeded.query("UPDATE exai_issues SET anchor_sha = NULL WHERE issue_number = 3")
    prepend(main / KIMI, "n1\n")
    prepend(main / BASE, "n1\n")
    git(main, "commit", "-qam", "one line on top")
    said = reconciled(seeded, main, down)
    assert any("locations not moved yet" in line for line in said), said
    prepend(main / KIMI, "n2\n")
    prepend(main / BASE, "n2\n")
    git(main, "commit", "-qam", "another line on top")
    reconciled(seeded, main, down)
    c = head(main)
    assert where(seeded, 2) == (KIMI, 58, 60, a)
    assert reconciled(seeded, main) != []  # reachable again, nothing moved: it catches up
    assert where(seeded, 2) == (KIMI, 60, 62, c)
    assert where(seeded, 3) == (BASE, 21, 24, c)  # from a, not from the head recorded since
    assert reconciled(seeded, main) == []  # caught up: nothing pending, no database


# --------------------------------------------------------------------------- scanning


def test_the_scanner_maps_lines_on_a_feature_branch(main: Path, seeded: Database) -> None:
    git(main, "checkout", "-qb", "feature")
    prepend(main / KIMI, "f1\nf2\nf3\n")
    git(main, "commit", "-qam", "feature: three lines on top")
    edit_line(main / KIMI, 58, "not the issue's line here")
    git(main, "add", "-A")
    assert scan_json(main) == []  # line 58 on this branch is k55
    git(main, "reset", "-q", "--hard")
    edit_line(main / KIMI, 62, "the issue's second line")
    git(main, "add", "-A")
    found = scan_json(main)
    assert [(f["issue"], f["line_start"], f["line_end"], f["touched"]) for f in found] \
        == [(2, 61, 63, [[62, 62]])]
    git(main, "commit", "-qm", "edit the issue's line")
    found = scan_json(main, "HEAD")  # a revision: its parent's lines
    assert [(f["issue"], f["line_start"], f["touched"]) for f in found] == [(2, 61, [[62, 62]])]
    found = scan_json(main, "main..feature")  # a range: the merge base's lines
    assert [(f["issue"], f["line_start"], f["line_end"]) for f in found] == [(2, 58, 60)]


def test_the_scanner_on_main_after_a_feature_branch_moved_the_lines(
        main: Path, seeded: Database) -> None:
    """The old model moved EXAI-2 to 61-63 for a feature commit; back on main, editing its
    real line 58 said nothing. Now the lines say which commit they are at."""
    git(main, "checkout", "-qb", "feature")
    prepend(main / KIMI, "f1\nf2\nf3\n")
    git(main, "commit", "-qam", "feature: three lines on top")
    seeded.query("UPDATE exai_issues SET line_start = 61, line_end = 63, anchor_sha = %s"
                 " WHERE issue_number = 2", (head(main),))
    git(main, "checkout", "-q", "main")
    edit_line(main / KIMI, 58, "the issue's real line")
    git(main, "add", "-A")
    found = scan_json(main)
    assert [(f["issue"], f["line_start"], f["line_end"], f["touched"]) for f in found] \
        == [(2, 58, 60, [[58, 58]])]
    git(main, "reset", "-q", "--hard")
    edit_line(main / KIMI, 61, "where the feature branch has it")
    git(main, "add", "-A")
    assert scan_json(main) == []


# --------------------------------------------------------------------------- properties


_EDITS = st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]),
                            st.integers(0, 39), st.integers(1, 4)), max_size=5)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(1, 40), size=st.integers(0, 4), edits=_EDITS)
def test_untouched_lines_keep_their_text_through_real_diffs(
        repo: Path, start: int, size: int, edits: list[tuple[str, int, int]]) -> None:
    """Random edits that leave the issue's lines alone: mapped to the new commit, those lines
    hold the text they held; and mapped back, they are where they started."""
    end = start + size
    old = [f"line {i}\n" for i in range(1, 45)]
    new = list(old)
    fresh = iter(range(10_000))
    for kind, at, count in edits:
        keep = {new.index(f"line {i}\n") for i in range(start, end + 1)}
        if kind == "insert":
            at = min(at, len(new))
            if min(keep) < at <= max(keep):
                continue
            new[at:at] = [f"new {next(fresh)}\n" for _ in range(count)]
        else:
            block = range(at, min(at + count, len(new)))
            if not block or keep & set(block):
                continue
            new[block.start:block.stop] = [] if kind == "delete" else \
                [f"new {next(fresh)}\n" for _ in block]
    path = repo / "f.txt"
    path.write_text("".join(old))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old", "--allow-empty")
    a = head(repo)
    path.write_text("".join(new))
    git(repo, "commit", "-qam", "new", "--allow-empty")
    b = head(repo)
    r = Repo(repo)
    there = follow(changes_between(r, a, b), "f.txt", start, end)
    assert there.lost is None and there.line_start and there.line_end
    assert new[there.line_start - 1:there.line_end] == old[start - 1:end]
    back = follow(changes_between(r, b, a), "f.txt", there.line_start, there.line_end)
    assert (back.line_start, back.line_end) == (start, end)


def test_an_older_anchor_is_mapped_from_where_it_is(main: Path, seeded: Database) -> None:
    a = head(main)
    prepend(main / BASE, "b1\n")
    git(main, "commit", "-qam", "a line on top of base")
    b = head(main)
    prepend(main / BASE, "b2\n")
    prepend(main / KIMI, "k\n")
    git(main, "commit", "-qam", "one more on each")
    c = head(main)
    seeded.query("UPDATE exai_issues SET anchor_sha = %s WHERE issue_number = 2", (b,))
    report = move(seeded, main, b, c)  # issue 3 is still at a: both of b's lines count
    assert report == [
        f"EXAI-2: location moved: {KIMI}:58-60 -> {KIMI}:59-61 (main moved {b[:7]}..{c[:7]})",
        f"EXAI-3: location moved: {BASE}:19-22 -> {BASE}:21-24 (main moved {a[:7]}..{c[:7]})"]
    assert {where(seeded, n)[3] for n in (1, 2, 3)} == {c}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=30),
       st.lists(st.sampled_from("abcdefgh"), max_size=30), st.data())
def test_a_range_through_a_diff_and_back_is_where_it_started(
        old: list[str], new: list[str], data: st.DataObject) -> None:
    """Pure: lines no hunk touches, mapped through a diff and through its reverse."""
    import difflib

    from exai_git.ranges import Hunk, hunks_from_opcodes, remap, touched

    start = data.draw(st.integers(1, len(old)))
    end = data.draw(st.integers(start, len(old)))
    hunks = hunks_from_opcodes(
        difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes())
    if touched(start, end, hunks):
        return
    there = remap(start, end, hunks)
    assert there is not None
    assert new[there[0] - 1:there[1]] == old[start - 1:end]
    back = [Hunk(h.new_start, h.new_count, h.old_start, h.old_count) for h in hunks]
    assert remap(*there, back) == (start, end)


def test_inside_a_callers_pipelined_transaction(main: Path, seeded: Database) -> None:
    """As apply --branch would call it: in its pipeline and transaction, rolled back with it."""
    a = head(main)
    prepend(main / KIMI, "top\n")
    git(main, "commit", "-qam", "a line on top")
    b = head(main)
    settings_ = seeded.settings()
    with store.connect(settings_) as conn:
        try:
            with store.pipeline(conn), store.transaction(conn, settings_):
                assert len(locations.move_locations(conn, Repo(main), a, b, "EXAI")) == 1
                assert locations.anchor_new_issues(conn, b) == 0
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
    assert where(seeded, 2) == (KIMI, 58, 60, a)
    with store.connect(settings_) as conn:
        with store.pipeline(conn), store.transaction(conn, settings_):
            assert len(locations.move_locations(conn, Repo(main), a, b, "EXAI")) == 1
    assert where(seeded, 2) == (KIMI, 59, 61, b)
    with store.connect(settings_) as conn:  # a plain connection, no transaction of its own
        assert locations.move_locations(conn, Repo(main), a, b, "EXAI") == []


def _fc(status: str, old: str | None, new: str | None, hunks: tuple[tuple[int, int, int, int], ...]
        = (), binary: bool = False) -> FileChange:
    return FileChange(status, old, new, "100644", "100644", tuple(Hunk(*h) for h in hunks),
                      binary)


@pytest.mark.parametrize("change, where_, expected", [
    (_fc("modified", "a.py", "a.py", ((1, 0, 1, 2),)), ("./a.py", 5, 6), ("./a.py", 7, 8, None)),
    (_fc("modified", "a.py", "a.py", ((1, 0, 1, 2),)), ("a.py", 5, None), ("a.py", 7, None, None)),
    (_fc("modified", "a.py", "a.py", ((5, 2, 4, 0),)), ("a.py", 5, 6), ("a.py", 5, 6, "lines deleted")),
    (_fc("renamed", "a.py", "b.py"), ("a.py", 5, 6), ("b.py", 5, 6, None)),
    (_fc("renamed", "a.py", "b.py"), ("a.py", None, None), ("b.py", None, None, None)),
    (_fc("deleted", "a.py", None), ("a.py", 5, 6), ("a.py", 5, 6, "file deleted")),
    (_fc("modified", "a.py", "a.py", ((1, 3, 1, 3),), binary=True), ("a.py", 2, 2),
     ("a.py", 2, 2, None)),
    (_fc("modified", "b.py", "b.py", ((1, 0, 1, 2),)), ("a.py", 5, 6), ("a.py", 5, 6, None)),
])
def test_follow(change: FileChange, where_: tuple[str, int | None, int | None],
                expected: tuple[str, int | None, int | None, str | None]) -> None:
    moved = follow([change], *where_)
    assert (moved.path, moved.line_start, moved.line_end, moved.lost) == expected
