"""Hunk arithmetic (table + difflib oracle), diff parsing and scans of real repositories."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exai_git import diff
from exai_git.ranges import Hunk, hunks_from_opcodes, remap, touched
from tests.conftest import Database, exai, git, write

H = Hunk

TOUCH_CASES = [
    pytest.param(10, 20, [H(1, 2, 1, 2)], [], id="before"),
    pytest.param(10, 20, [H(30, 2, 30, 2)], [], id="after"),
    pytest.param(10, 20, [H(8, 4, 8, 4)], [(10, 11)], id="overlap-start"),
    pytest.param(10, 20, [H(19, 4, 19, 1)], [(19, 20)], id="overlap-end"),
    pytest.param(10, 20, [H(12, 3, 12, 3)], [(12, 14)], id="inside"),
    pytest.param(10, 20, [H(5, 30, 5, 1)], [(10, 20)], id="covers"),
    pytest.param(10, 20, [H(9, 0, 10, 2)], [], id="insert-before-first-line"),
    pytest.param(10, 20, [H(10, 0, 11, 2)], [(10, 11)], id="insert-after-first-line"),
    pytest.param(10, 20, [H(19, 0, 20, 1)], [(19, 20)], id="insert-before-last-line"),
    pytest.param(10, 20, [H(20, 0, 21, 1)], [], id="insert-after-last-line"),
    pytest.param(10, 20, [H(15, 0, 16, 3)], [(15, 16)], id="insert-inside"),
    pytest.param(10, 20, [H(10, 1, 9, 0)], [(10, 10)], id="delete-first-line"),
    pytest.param(10, 20, [H(20, 1, 19, 0)], [(20, 20)], id="delete-last-line"),
    pytest.param(10, 20, [H(9, 1, 8, 0)], [], id="delete-line-before"),
    pytest.param(10, 20, [H(21, 1, 20, 0)], [], id="delete-line-after"),
    pytest.param(5, 5, [H(5, 0, 6, 1)], [], id="single-line-insert-after"),
    pytest.param(5, 5, [H(5, 1, 5, 1)], [(5, 5)], id="single-line-changed"),
    pytest.param(10, 20, [H(11, 1, 11, 1), H(12, 1, 12, 1)], [(11, 12)], id="adjacent-merged"),
]


@pytest.mark.parametrize("start, end, hunks, expected", TOUCH_CASES)
def test_touched(start: int, end: int, hunks: list[Hunk], expected: list[tuple[int, int]]) -> None:
    assert touched(start, end, hunks) == expected


REMAP_CASES = [
    pytest.param(10, 20, [], (10, 20), id="no-change"),
    pytest.param(10, 20, [H(2, 0, 3, 3)], (13, 23), id="insert-above"),
    pytest.param(10, 20, [H(2, 3, 1, 0)], (7, 17), id="delete-above"),
    pytest.param(10, 20, [H(30, 3, 30, 0)], (10, 20), id="change-below"),
    pytest.param(10, 20, [H(9, 0, 10, 2)], (12, 22), id="insert-just-before"),
    pytest.param(10, 20, [H(20, 0, 21, 2)], (10, 20), id="insert-just-after"),
    pytest.param(10, 20, [H(15, 0, 16, 2)], (10, 22), id="insert-inside"),
    pytest.param(10, 20, [H(10, 11, 9, 0)], None, id="all-deleted"),
    pytest.param(10, 20, [H(8, 15, 8, 2)], (8, 9), id="replaced-wholly"),
    pytest.param(10, 20, [H(10, 2, 9, 0)], (10, 18), id="delete-first-two"),
    pytest.param(10, 20, [H(19, 2, 18, 0)], (10, 18), id="delete-last-two"),
    pytest.param(10, 20, [H(5, 10, 5, 3)], (5, 13), id="replace-across-start"),
]


@pytest.mark.parametrize("start, end, hunks, expected", REMAP_CASES)
def test_remap(start: int, end: int, hunks: list[Hunk], expected: tuple[int, int] | None
               ) -> None:
    assert remap(start, end, hunks) == expected


def oracle(old: list[str], new: list[str], start: int, end: int) -> tuple[int, int] | None:
    """Per line: which new lines descend from old lines start..end (difflib's alignment)."""
    included: list[int] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                if start <= i1 + k + 1 <= end:
                    included.append(j1 + k + 1)
        elif tag in ("replace", "delete"):
            if i1 + 1 <= end and i2 >= start:
                included.extend(range(j1 + 1, j2 + 1))
        elif tag == "insert":
            if start <= i1 < end:
                included.extend(range(j1 + 1, j2 + 1))
    if not included:
        return None
    return min(included), max(included)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=30),
       st.lists(st.sampled_from("abcdefgh"), max_size=30), st.data())
def test_remap_agrees_with_difflib(old: list[str], new: list[str], data: st.DataObject) -> None:
    start = data.draw(st.integers(1, len(old)))
    end = data.draw(st.integers(start, len(old)))
    opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    assert remap(start, end, hunks_from_opcodes(opcodes)) == oracle(old, new, start, end)


# --------------------------------------------------------------------------- diff parsing


def staged(repo: Path) -> list[diff.FileChange]:
    from exai_git.repo import Repo

    return Repo(repo).staged_changes()


def lines(n: int, tag: str = "l") -> str:
    return "".join(f"{tag}{i}\n" for i in range(1, n + 1))


def test_first_commit_has_added_files(repo: Path) -> None:
    write(repo / "a b.txt", lines(3))
    git(repo, "add", "-A")
    [change] = staged(repo)
    assert (change.status, change.old_path, change.new_path) == ("added", None, "a b.txt")


def test_statuses_and_paths(repo: Path) -> None:
    write(repo / "mod.txt", lines(10))
    write(repo / "gone.txt", lines(3))
    write(repo / "old name.txt", lines(20))
    write(repo / "ünï.txt", lines(5))
    write(repo / "bin.dat", "")
    (repo / "bin.dat").write_bytes(b"\0\1\2")
    write(repo / "crlf.txt", "a\nb\n")
    write(repo / "mode.sh", "x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    write(repo / "mod.txt", lines(10).replace("l5\n", "five\n"))
    (repo / "gone.txt").unlink()
    (repo / "old name.txt").rename(repo / "new name.txt")
    write(repo / "ünï.txt", lines(6))
    (repo / "bin.dat").write_bytes(b"\0\1\3")
    write(repo / "crlf.txt", "a\r\nb\r\n")
    (repo / "mode.sh").chmod(0o755)
    git(repo, "add", "-A")
    changes = {c.new_path or c.old_path: c for c in staged(repo)}
    assert changes["mod.txt"].hunks == (H(5, 1, 5, 1),)
    assert changes["gone.txt"].status == "deleted"
    renamed = changes["new name.txt"]
    assert (renamed.status, renamed.old_path, renamed.hunks) == ("renamed", "old name.txt", ())
    assert changes["ünï.txt"].hunks == (H(5, 0, 6, 1),)
    assert changes["bin.dat"].binary and changes["bin.dat"].hunks == ()
    assert changes["crlf.txt"].hunks == (H(1, 2, 1, 2),)
    assert changes["mode.sh"].mode_changed and changes["mode.sh"].hunks == ()


def test_rename_with_edits(repo: Path) -> None:
    write(repo / "a.py", lines(30))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "mv", "a.py", "b.py")
    write(repo / "b.py", "new\n" + lines(30))
    git(repo, "add", "-A")
    [change] = staged(repo)
    assert (change.status, change.old_path, change.new_path) == ("renamed", "a.py", "b.py")
    assert change.hunks == (H(0, 0, 1, 1),)


# --------------------------------------------------------------------------- real repositories


@pytest.fixture
def tracked(repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    for name in ("async_glm", "async_kimi", "async_base"):
        write(repo / "src" / "providers" / f"{name}.py", lines(100, name[6]))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def scan_json(repo: Path, *args: str, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    out = exai("scan", *args, "--json", cwd=repo, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["findings"]


def edit_line(path: Path, n: int, text: str) -> None:
    content = path.read_text().splitlines(keepends=True)
    content[n - 1] = text + "\n"
    path.write_text("".join(content))


def test_scan_staged_finds_the_touched_issue(tracked: Path) -> None:
    kimi = tracked / "src/providers/async_kimi.py"
    edit_line(kimi, 58, "changed 58")
    edit_line(kimi, 59, "changed 59")
    git(tracked, "add", "-A")
    assert scan_json(tracked) == [{
        "issue": 2, "severity": "high", "status": "open",
        "title": "AsyncKimi Provider 300s Default", "file_path": "src/providers/async_kimi.py",
        "line_start": 58, "line_end": 60, "touched": [[58, 59]]}]
    text = exai("scan", "--staged", cwd=tracked)
    assert ("src/providers/async_kimi.py:58-60 EXAI-2 [high, open] AsyncKimi Provider 300s "
            "Default (touched 58-59)") in text.stdout
    down = exai("scan", "--staged", cwd=tracked, env={"EXAI_GIT_DSN": "postgresql://127.0.0.1:1/x"})
    # run by hand (or CI), a scan the tracker cannot answer fails, printing no findings: the
    # pre-commit hook (exai-git-hook) is the one that lets the commit go on
    assert down.returncode == 3 and down.stdout == "", down.stdout + down.stderr
    assert "cannot reach the database" in down.stderr and "Traceback" not in down.stderr
    for fmt in ("--json", "--sarif"):
        out = exai("scan", "--staged", fmt, cwd=tracked,
                   env={"EXAI_GIT_DSN": "postgresql://127.0.0.1:1/x"})
        assert out.returncode == 3 and out.stdout == "", out.stdout + out.stderr
    assert exai("scan", "--fail-on", "high", cwd=tracked).returncode == 1
    assert exai("scan", "--fail-on", "critical", cwd=tracked).returncode == 0
    sarif = json.loads(exai("scan", "--sarif", cwd=tracked).stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"][0]["ruleId"] == "EXAI-2"


def test_partial_staging_only_counts_the_index(tracked: Path) -> None:
    glm = tracked / "src/providers/async_glm.py"
    kimi = tracked / "src/providers/async_kimi.py"
    edit_line(glm, 49, "staged")
    git(tracked, "add", str(glm))
    edit_line(kimi, 59, "not staged")
    assert [f["issue"] for f in scan_json(tracked)] == [1]


def test_add_p_partial_hunks(tracked: Path) -> None:
    glm = tracked / "src/providers/async_glm.py"
    edit_line(glm, 5, "early")
    edit_line(glm, 50, "inside the issue")
    # stage only the first hunk, as `git add -p` does with y then n
    git(tracked, "add", "-p", str(glm), input="y\nn\n")
    assert scan_json(tracked) == []
    git(tracked, "add", str(glm))
    assert [f["issue"] for f in scan_json(tracked)] == [1]


def test_commit_a_and_commit_paths_scan_what_is_committed(tracked: Path) -> None:
    assert exai("install", cwd=tracked).returncode == 0
    edit_line(tracked / "src/providers/async_base.py", 20, "x")
    out = git(tracked, "commit", "-a", "-m", "commit -a")
    assert "EXAI-3 [medium, open]" in out.stderr
    edit_line(tracked / "src/providers/async_glm.py", 48, "y")
    edit_line(tracked / "src/providers/async_kimi.py", 60, "z")
    git(tracked, "add", "src/providers/async_kimi.py")
    out = git(tracked, "commit", "-m", "only glm", "src/providers/async_glm.py")
    assert "EXAI-1 [critical" in out.stderr and "EXAI-2" not in out.stderr


def test_scan_revision_and_range(tracked: Path) -> None:
    base = git(tracked, "rev-parse", "HEAD").stdout.strip()
    edit_line(tracked / "src/providers/async_base.py", 19, "x")
    git(tracked, "commit", "-qam", "one")
    edit_line(tracked / "src/providers/async_glm.py", 51, "x")
    git(tracked, "commit", "-qam", "two")
    assert [f["issue"] for f in scan_json(tracked, "HEAD")] == [1]
    assert [f["issue"] for f in scan_json(tracked, f"{base}..HEAD")] == [1, 3]


def test_a_scan_that_finds_nothing_says_so_on_the_terminal_only(tracked: Path) -> None:
    base = git(tracked, "rev-parse", "HEAD").stdout.strip()
    edit_line(tracked / "src/providers/async_kimi.py", 5, "x")  # issue 2 is on 58-60
    write(tracked / "notes.txt", "no issue here\n")
    git(tracked, "add", "-A")
    staged = exai("scan", "--staged", cwd=tracked)
    assert (staged.returncode, staged.stdout) == (0, "the staged change touches no open issue\n")
    assert exai("scan", cwd=tracked).stdout == staged.stdout
    git(tracked, "commit", "-qm", "elsewhere")
    for target in ("HEAD", f"{base}..HEAD"):
        said = exai("scan", target, cwd=tracked)
        assert (said.returncode, said.stdout) == (0, f"{target} touches no open issue\n")
        assert scan_json(tracked, target) == []  # machine output: no such line
        sarif = json.loads(exai("scan", target, "--sarif", cwd=tracked).stdout)
        assert sarif["runs"][0]["results"] == []


def test_rename_and_delete_touch_every_issue_on_the_file(tracked: Path) -> None:
    git(tracked, "mv", "src/providers/async_kimi.py", "src/providers/kimi.py")
    git(tracked, "rm", "-q", "src/providers/async_base.py")
    found = {f["issue"]: f["touched"] for f in scan_json(tracked)}
    assert found == {2: [[58, 60]], 3: [[19, 22]]}


def test_issue_paths_are_normalised(tracked: Path, seeded: Database) -> None:
    seeded.query("UPDATE exai_issues SET file_path = '.\\src\\providers\\async_kimi.py'"
                 " WHERE issue_number = 2")
    seeded.query("UPDATE exai_issues SET file_path = './src//providers/async_base.py',"
                 " line_start = NULL, line_end = NULL WHERE issue_number = 3")
    edit_line(tracked / "src/providers/async_kimi.py", 60, "x")
    edit_line(tracked / "src/providers/async_base.py", 1, "x")
    git(tracked, "add", "-A")
    assert [f["issue"] for f in scan_json(tracked)] == [2, 3]


def test_scan_during_a_merge_and_in_a_worktree(tracked: Path, tmp_path: Path) -> None:
    git(tracked, "checkout", "-q", "-b", "other")
    edit_line(tracked / "src/providers/async_glm.py", 50, "other")
    git(tracked, "commit", "-qam", "other")
    git(tracked, "checkout", "-q", "main")
    edit_line(tracked / "src/providers/async_base.py", 21, "main")
    git(tracked, "commit", "-qam", "main")
    git(tracked, "merge", "--no-commit", "--no-ff", "other")
    assert [f["issue"] for f in scan_json(tracked)] == [1]
    git(tracked, "merge", "--abort")
    wt = tmp_path / "wt"
    git(tracked, "worktree", "add", "-q", str(wt), "other")
    edit_line(wt / "src/providers/async_kimi.py", 58, "wt")
    git(wt, "add", "-A")
    assert [f["issue"] for f in scan_json(wt)] == [2]


def test_scan_before_the_first_commit(repo: Path, seeded: Database,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "src/providers/async_kimi.py", lines(100))
    git(repo, "add", "-A")
    assert scan_json(repo) == []


def test_locations_move_with_the_code(tracked: Path, seeded: Database) -> None:
    assert exai("install", cwd=tracked).returncode == 0
    kimi = tracked / "src/providers/async_kimi.py"
    kimi.write_text("new1\nnew2\nnew3\n" + kimi.read_text())
    git(tracked, "commit", "-qam", "three lines on top")
    assert seeded.query("SELECT line_start, line_end FROM exai_issues WHERE issue_number = 2") \
        == [(61, 63)]
    git(tracked, "mv", "src/providers/async_kimi.py", "src/providers/kimi.py")
    git(tracked, "commit", "-qm", "rename")
    assert seeded.query("SELECT file_path, line_start FROM exai_issues WHERE issue_number = 2") \
        == [("src/providers/kimi.py", 61)]
    base = tracked / "src/providers/async_base.py"
    content = base.read_text().splitlines(keepends=True)
    base.write_text("".join(content[:18] + content[22:]))
    out = git(tracked, "commit", "-qam", "delete lines 19-22")
    assert "were all deleted" in out.stderr
    assert seeded.query("SELECT line_start, line_end FROM exai_issues WHERE issue_number = 3") \
        == [(19, 22)]
    moves = seeded.scalar("SELECT count(*) FROM exai_issue_updates WHERE content LIKE %s",
                          ("%location moved%",))
    assert moves == 2


def test_database_prefilter_agrees_with_the_scanner(db: Database) -> None:
    """The SQL that narrows issues by line range never drops a finding the scanner makes."""
    import random

    from exai_git import scanner, store

    rng = random.Random(3)
    paths = [f"src/m{k}.py" for k in range(5)]
    rows = []
    for _ in range(300):
        start = rng.randint(1, 80)
        lines_ = rng.choice([None, (start, start), (start, start + rng.randint(0, 15))])
        rows.append((rng.choice(paths), lines_[0] if lines_ else None,
                     lines_[1] if lines_ else None))
    with db.connect() as conn:
        conn.cursor().executemany(
            "INSERT INTO exai_issues (title, severity, file_path, line_start, line_end)"
            " VALUES ('t', 'low', %s, %s, %s)", rows)
        settings = db.settings()
        every = store.open_issues_touched_at(
            conn, settings, scanner.Probe(paths, paths, [], [], [], []), None)[0]
        for _trial in range(40):
            changes = []
            for path in rng.sample(paths, rng.randint(1, 3)):
                status = rng.choice(["modified"] * 6 + ["deleted", "renamed"])
                hunks = []
                pos = 0
                for _ in range(rng.randint(0, 4)):
                    pos += rng.randint(0, 20)
                    count = rng.choice([0, 1, 2, 5])
                    hunks.append(Hunk(pos if count == 0 else max(pos, 1), count, 1, 1))
                    pos += count
                changes.append(diff.FileChange(status, path, path, "100644", "100644",
                                               tuple(hunks)))
            narrowed = store.open_issues_touched_at(conn, settings, scanner.probe(changes),
                                                    None)[0]
            assert scanner.findings(changes, narrowed) == scanner.findings(changes, every)


# --------------------------------------------------------------------------- ranges (issue 16.3)


@pytest.mark.parametrize(("start", "end", "edited", "touched"), [
    pytest.param(10, None, 10, [[10, 10]], id="start-only-is-one-line"),
    pytest.param(10, None, 11, None, id="start-only-not-the-next-line"),
    pytest.param(None, None, 97, [[97, 97]], id="no-lines-is-the-whole-file"),
    pytest.param(60, 58, 59, [[59, 59]], id="reversed-range"),
    pytest.param(60, 58, 61, None, id="reversed-range-outside"),
])
def test_scan_ranges_end_to_end(tracked: Path, seeded: Database, start: int | None,
                                end: int | None, edited: int, touched: list[list[int]] | None
                                ) -> None:
    seeded.query("INSERT INTO exai_issues (title, severity, file_path, line_start, line_end)"
                 " VALUES ('ranged', 'critical', 'src/providers/async_glm.py', %s, %s)",
                 (start, end))
    number = seeded.scalar("SELECT max(issue_number) FROM exai_issues")
    edit_line(tracked / "src/providers/async_glm.py", edited, "changed")
    git(tracked, "add", "-A")
    found = [f for f in scan_json(tracked, "--staged") if f["issue"] == number]
    failing = exai("scan", "--staged", "--fail-on", "critical", cwd=tracked)
    if touched is None:
        assert found == []
        assert failing.returncode == 0, failing.stdout + failing.stderr
        return
    assert len(found) == 1 and found[0]["line_start"] == start
    if start is not None:
        assert found[0]["touched"] == touched
    assert failing.returncode == 1 and f"EXAI-{number}" in failing.stdout
    sarif = json.loads(exai("scan", "--staged", "--sarif", cwd=tracked).stdout)
    for result in sarif["runs"][0]["results"]:
        region = result["locations"][0]["physicalLocation"].get("region")
        if region:
            assert region["startLine"] <= region["endLine"]


def test_line_range_function_in_sql(db: Database) -> None:
    assert db.query("SELECT exai_line_range(10, NULL) = int4range(10, 10, '[]'),"
                    " exai_line_range(60, 58) = int4range(58, 60, '[]'),"
                    " exai_line_range(NULL, NULL) @> 123456") == [(True, True, True)]


def test_the_scan_reads_what_it_finds_not_the_tracker(db: Database) -> None:
    """20,000 open issues on the changed file, anchored at the commit compared against, none
    on the changed lines: no part of the scanner's query reads them one by one (sql/004,
    sql/008). Every node of the plan that reads exai_issues reads (rows kept + rows filtered
    out) a handful, so the scan's cost follows the change, not the tracker's size."""
    from exai_git import scanner
    from exai_git.store.locations import _TOUCHED_AT_SQL

    base = "ab" * 20
    probe = scanner.Probe(["src/a.py"], [], ["src/a.py"], [500], [502], [0])
    params = {"paths": probe.paths, "whole": probe.whole, "hp": probe.hunk_path,
              "hlo": probe.hunk_lo, "hhi": probe.hunk_hi, "hk": probe.hunk_kind, "base": base}
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO exai_issues (title, severity, file_path, line_start, line_end)"
            " SELECT 'issue ' || g, 'low', 'src/a.py', 1 + g % 400, 3 + g % 400"
            " FROM generate_series(1, 20000) g")
        conn.execute("ALTER TABLE exai_issues DISABLE TRIGGER USER")
        conn.execute("UPDATE exai_issues SET anchor_sha = %s", (base,))
        conn.execute("ALTER TABLE exai_issues ENABLE TRIGGER USER")
        conn.execute("ANALYZE exai_issues")
        (plan,), = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {_TOUCHED_AT_SQL}", params)
        assert conn.execute(_TOUCHED_AT_SQL, params).fetchall() == []

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    read = [(n["Node Type"], n.get("Index Name"),
             (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)
              + n.get("Rows Removed by Index Recheck", 0)) * n["Actual Loops"])
            for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "exai_issues"]
    assert read and max(rows for *_, rows in read) < 100, read
