"""The write commands (new, step, note, mark): the pure rules of a hand change as a table of
cases, then each command and each refusal through the real command line, on a real
PostgreSQL and a real git repository."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from exai_git import edits
from exai_git.errors import ExaiError
from exai_git.model import Issue, Step
from tests.conftest import Database, exai, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"
V = "11111111-2222-4333-8444-555555555555"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
EARLIER = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NAMES = {"p": "pending", "i": "in_progress", "c": "complete", "s": "skipped"}


def issue(status: str = "open", steps: str = "", **fields: Any) -> Issue:
    """Issue 1; steps: one letter per step, p(ending) i(n progress) c(omplete) s(kipped)."""
    return Issue("i1", 1, status, steps={n: Step(NAMES[c], None, EARLIER if c == "c" else None)
                                         for n, c in enumerate(steps, 1)}, **fields)


def rows(edit: edits.Edit) -> list[tuple[str, str, str | None]]:
    return [(u.kind, u.content, u.conversation_id) for u in edit.effects.updates]


# --------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(("state", "steps", "k", "status", "conv", "want_status", "want_rows"), [
    pytest.param("open", "pp", 1, "complete", U, "in_progress",
                 [("fix_applied", "by hand: step 1 pending -> complete", U),
                  ("status_change", "by hand: open -> in_progress", U)], id="first-complete"),
    pytest.param("in_progress", "cp", 2, "complete", U, "fixed",
                 [("fix_applied", "by hand: step 2 pending -> complete", U),
                  ("status_change", "by hand: in_progress -> fixed: every step is done", U)],
                 id="last-complete-fixes"),
    pytest.param("open", "sp", 2, "skipped", None, "fixed",
                 [("comment", "by hand: step 2 pending -> skipped", None),
                  ("status_change", "by hand: open -> fixed: every step is done", None)],
                 id="last-skipped-fixes"),
    pytest.param("open", "pp", 1, "in_progress", None, "in_progress",
                 [("comment", "by hand: step 1 pending -> in_progress", None),
                  ("status_change", "by hand: open -> in_progress", None)], id="started"),
    pytest.param("in_progress", "cp", 1, "pending", None, "in_progress",
                 [("comment", "by hand: step 1 complete -> pending", None)], id="undone"),
    pytest.param("fixed", "cc", 2, "pending", None, "fixed",
                 [("comment", "by hand: step 2 complete -> pending", None)],
                 id="never-backwards"),
    pytest.param("verified", "cp", 2, "complete", None, "verified",
                 [("fix_applied", "by hand: step 2 pending -> complete", None)],
                 id="frozen-stays"),
])
def test_set_step(state: str, steps: str, k: int, status: str, conv: str | None,
                  want_status: str, want_rows: list[Any]) -> None:
    before = issue(state, steps)
    edit = edits.set_step(before, k, status, conv, NOW)
    assert rows(edit) == want_rows
    assert edit.changed.get("status", state) == want_status
    (_, n, step), = edit.effects.steps
    assert (n, step.status) == (k, status)
    assert step.completed_at == (NOW if status == "complete" else None)
    assert step.conversation_id == conv
    assert before.steps[k].status == NAMES[steps[k - 1]]  # the input is left as it was
    if want_status == "fixed" and state != "fixed":
        assert edit.changed["fix_date"] == NOW
        assert edit.effects.issues[0].fix_conversation_id == conv
        assert edit.said[-1] == "EXAI-1 -> fixed"


def test_set_step_on_a_fixed_issue_says_how_to_reopen_it() -> None:
    edit = edits.set_step(issue("fixed", "cc"), 1, "in_progress", None, NOW)
    assert edit.warnings == ["EXAI-1 is still fixed; `exai-git mark 1 in_progress` reopens it"]


def test_set_step_that_does_not_exist() -> None:
    with pytest.raises(ExaiError, match=r"EXAI-1: no step 3 \(steps: 1-2\)") as e:
        edits.set_step(issue("open", "pp"), 3, "complete", None, NOW)
    assert e.value.exit_code == 1


@pytest.mark.parametrize(("state", "fix", "new", "conv", "want", "kind", "content"), [
    pytest.param("open", (None, None), "fixed", U, (U, NOW), "status_change",
                 "by hand: open -> fixed", id="fixed-sets-fix-fields"),
    pytest.param("fixed", (U, EARLIER), "open", V, (None, None), "status_change",
                 f"by hand: fixed -> open (was fixed in conversation {U} on "
                 f"{EARLIER.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC)",
                 id="reopen-clears-keeps-history"),
    pytest.param("fixed", (None, EARLIER), "open", None, (None, None), "status_change",
                 f"by hand: fixed -> open (was fixed on "
                 f"{EARLIER.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC)",
                 id="reopen-without-a-conversation-says-none"),
    pytest.param("fixed", (U, EARLIER), "verified", None, (U, EARLIER), "verification",
                 "by hand: fixed -> verified", id="verified"),
    pytest.param("in_progress", (None, None), "wont_fix", None, (None, None), "status_change",
                 "by hand: in_progress -> wont_fix", id="wont-fix"),
])
def test_mark(state: str, fix: tuple[Any, Any], new: str, conv: str | None,
              want: tuple[Any, Any], kind: str, content: str) -> None:
    edit = edits.mark(issue(state, fix_conversation_id=fix[0], fix_date=fix[1]), new, conv,
                      None, NOW)
    assert rows(edit) == [(kind, content, conv)]
    (changed,) = edit.effects.issues
    assert (changed.status, changed.fix_conversation_id, changed.fix_date) == (new, *want)


def test_mark_the_same_status_writes_only_the_note() -> None:
    edit = edits.mark(issue("open"), "open", U, "still open", NOW)
    assert rows(edit) == [("comment", "by hand: still open", U)]
    assert edit.effects.issues == [] and edit.said == ["EXAI-1 is already open"]


def test_mark_fixed_with_pending_steps_warns() -> None:
    edit = edits.mark(issue("open", "cps"), "fixed", None, None, NOW)
    assert edit.warnings == ["EXAI-1 fixed with step(s) 2 still pending"]


@pytest.mark.parametrize(("conv", "kind"), [(None, "comment"), (U, "conversation_link")])
def test_note(conv: str | None, kind: str) -> None:
    assert rows(edits.note(issue(), "hello", conv, NOW)) == [(kind, "by hand: hello", conv)]


def test_add_step_takes_the_next_number() -> None:
    n, edit = edits.add_step(issue("open", "pcp"), "more", None, NOW)
    assert n == 4 and rows(edit) == [("comment", "by hand: step 4 added: more", None)]
    assert edits.add_step(issue("open"), "first", None, NOW)[0] == 1


@pytest.mark.parametrize(("spec", "want"), [
    ("a.py", ("a.py", None, None)),
    ("a.py:3", ("a.py", 3, 3)),
    ("src/a.py:3-9", ("src/a.py", 3, 9)),
    ("a:b.py", ("a:b.py", None, None)),
])
def test_location(spec: str, want: tuple[Any, ...]) -> None:
    assert edits.location(spec) == want


@pytest.mark.parametrize("spec", ["a.py:0", "a.py:5-3", "a.py:3-", "a.py:0-2", ":3"])
def test_location_refused(spec: str) -> None:
    with pytest.raises(ExaiError) as e:
        edits.location(spec)
    assert e.value.exit_code == 2


# --------------------------------------------------------------------------- command line


@pytest.fixture
def code(repo: Path, seeded: Database, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    write(repo / "src/app.py", "".join(f"line {i}\n" for i in range(1, 11)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def ok(*args: str, cwd: Path) -> str:
    out = exai(*args, cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def updates(db: Database, n: int) -> list[tuple[Any, ...]]:
    return db.query("SELECT u.update_type, u.content, u.conversation_id FROM exai_issue_updates u"
                    " JOIN exai_issues i ON i.id = u.issue_id WHERE i.issue_number = %s"
                    " ORDER BY u.created_at, u.id", (n,))


def test_new_files_an_issue_from_a_code_location(code: Path, seeded: Database) -> None:
    out = ok("new", "fetch retries forever", "--severity", "high", "--category", "timeout",
             "--at", "app.py:2-4", "--step", "Cap the retries", "--step", "Test the cap",
             "--conv", U.upper(), "--description", "No bound.", cwd=code / "src")
    assert out == "EXAI-4\n"
    row = seeded.query("SELECT title, severity, category, status, file_path, line_start,"
                       " line_end, conversation_id, description FROM exai_issues"
                       " WHERE issue_number = 4")
    assert row == [("fetch retries forever", "high", "timeout", "open", "src/app.py", 2, 4,
                    U, "No bound.")]
    assert seeded.query("SELECT step_number, c.description, c.status, completed_at"
                        " FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
                        " WHERE i.issue_number = 4 ORDER BY 1") == [
        (1, "Cap the retries", "pending", None), (2, "Test the cap", "pending", None)]
    assert updates(seeded, 4) == [("comment", "by hand: filed at src/app.py:2-4", U)]
    shown = ok("show", "4", cwd=code)
    assert "location: src/app.py:2-4" in shown and "[ ] 2. Test the cap" in shown


def test_new_json_and_whole_file_and_one_line(code: Path, seeded: Database) -> None:
    data = json.loads(ok("new", "t", "--at", "src/app.py", "--json", cwd=code))
    assert data["key"] == "EXAI-4" and data["file_path"] == "src/app.py"
    assert data["severity"] == "medium" and "line_start" not in data
    assert data["anchor_sha"] == git(code, "rev-parse", "HEAD").stdout.strip()
    ok("new", "u", "--at", "src/app.py:10", cwd=code)
    assert seeded.query("SELECT line_start, line_end FROM exai_issues WHERE issue_number = 5"
                        ) == [(10, 10)]


@pytest.mark.parametrize(("args", "code_", "said"), [
    (["new", "t", "--at", "src/nope.py:1"], 2, "src/nope.py does not exist at HEAD"),
    (["new", "t", "--at", "src/app.py:9-11"], 2, "src/app.py has 10 lines at HEAD; 9-11"),
    (["new", "t", "--at", "src/app.py:0"], 2, "not a line range: '0'"),
    (["new", "t", "--at", "src/app.py:4-2"], 2, "not a line range: '4-2'"),
    (["new", "t", "--at", "src/app.py:abc"], 2, "not a line range: 'abc'"),
    (["new", "t", "--at", "src/app.py:"], 2, "not a line range: ''"),
    (["new", "t", "--at", "src/app.py:-1"], 2, "not a line range: '-1'"),
    (["new", "t", "--at", "../elsewhere.py"], 2, "is outside the repository"),
    (["new", "t", "--severity", "huge"], 2,
     "not a severity: 'huge' (one of critical, high, medium, low)"),
    (["new", "t", "--category", "misc"], 2, "not a category: 'misc' (one of timeout,"),
    (["new", "t", "--conv", "debb44af"], 2,
     "not a conversation id: 'debb44af' (expected a UUID, 8-4-4-4-12 hex digits)"),
    (["new", "  "], 2, "the title is empty"),
    (["new", "t", "--step", ""], 2, "the step text is empty"),
    (["step", "9", "1", "complete"], 1, "no issue numbered 9"),
    (["step", "1", "8", "complete"], 1, "EXAI-1: no step 8 (steps: 1-7)"),
    (["step", "1", "x", "complete"], 2, "not a step number: 'x'"),
    (["step", "1", "1", "done"], 2,
     "not a step status: 'done' (one of pending, in_progress, complete, skipped)"),
    (["step", "1", "1", "complete", "--conv", "nope"], 2, "not a conversation id: 'nope'"),
    (["step", "1", "add", " "], 2, "the step text is empty"),
    (["note", "1", ""], 2, "the note is empty"),
    (["note", "9", "hi"], 1, "no issue numbered 9"),
    (["mark", "1", "done"], 2,
     "not a status: 'done' (one of open, in_progress, fixed, verified, closed, wont_fix)"),
    (["mark", "EXAI-9", "fixed"], 1, "no issue numbered 9"),
    (["mark", "1", "fixed", "--conv", f"{U}x"], 2, "not a conversation id"),
])
def test_refusals(code: Path, seeded: Database, args: list[str], code_: int,
                  said: str) -> None:
    before = seeded.query("SELECT count(*) FROM exai_issue_updates")
    out = exai(*args, cwd=code)
    assert out.returncode == code_, out.stdout + out.stderr
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and said in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and U not in out.stderr.replace(args[-1], "")
    assert seeded.query("SELECT count(*) FROM exai_issue_updates") == before
    assert seeded.scalar("SELECT count(*) FROM exai_issues") == 3


def test_step_walks_an_issue_to_fixed_and_mark_reopens_it(code: Path,
                                                          seeded: Database) -> None:
    ok("new", "two steps", "--step", "a", "--step", "b", cwd=code)
    assert ok("step", "4", "1", "complete", "--conv", U, cwd=code) == \
        "EXAI-4 step 1 -> complete; EXAI-4 -> in_progress\n"
    data = json.loads(ok("step", "EXAI-4", "2", "complete", "--conv", V, "--json", cwd=code))
    assert data["said"] == ["EXAI-4 step 2 -> complete", "EXAI-4 -> fixed"]
    assert data["changed"]["status"] == "fixed"
    assert data["changed"]["fix_conversation_id"] == V
    assert seeded.query("SELECT status, fix_conversation_id, fix_date IS NOT NULL"
                        " FROM exai_issues WHERE issue_number = 4") == [("fixed", V, True)]
    assert seeded.query("SELECT step_number, c.status, c.conversation_id, completed_at IS NOT NULL"
                        " FROM exai_issue_checklist c JOIN exai_issues i ON i.id = c.issue_id"
                        " WHERE i.issue_number = 4 ORDER BY 1") == [
        (1, "complete", U, True), (2, "complete", V, True)]
    assert ok("mark", "4", "in_progress", "--note", "not quite", cwd=code) == \
        "EXAI-4 -> in_progress\n"
    assert seeded.query("SELECT status, fix_conversation_id, fix_date FROM exai_issues"
                        " WHERE issue_number = 4") == [("in_progress", None, None)]
    kinds = [(k, c.split(" (was")[0], v) for k, c, v in updates(seeded, 4)]
    assert kinds == [
        ("comment", "by hand: filed", None),
        ("fix_applied", "by hand: step 1 pending -> complete", U),
        ("status_change", "by hand: open -> in_progress", U),
        ("fix_applied", "by hand: step 2 pending -> complete", V),
        ("status_change", "by hand: in_progress -> fixed: every step is done", V),
        ("status_change", "by hand: fixed -> in_progress", None),
        ("comment", "by hand: not quite", None),
    ]
    assert f"(was fixed in conversation {V} on " in updates(seeded, 4)[5][1]
    out = ok("step", "4", "2", "pending", cwd=code)
    assert out == "EXAI-4 step 2 -> pending\n"
    assert seeded.query("SELECT c.status, completed_at FROM exai_issue_checklist c JOIN"
                        " exai_issues i ON i.id = c.issue_id WHERE i.issue_number = 4"
                        " AND step_number = 2") == [("pending", None)]


def test_step_add_note_and_mark_fixed(code: Path, seeded: Database) -> None:
    assert ok("step", "2", "add", "Read the timeout from settings", cwd=code) == \
        "EXAI-2 step 1 added\n"
    assert ok("step", "2", "add", "Test it", cwd=code) == "EXAI-2 step 2 added\n"
    assert seeded.query("SELECT step_number, c.description, c.status FROM exai_issue_checklist c"
                        " JOIN exai_issues i ON i.id = c.issue_id WHERE i.issue_number = 2"
                        " ORDER BY 1") == [(1, "Read the timeout from settings", "pending"),
                                           (2, "Test it", "pending")]
    assert ok("note", "2", "looked at it", cwd=code) == "EXAI-2: comment added\n"
    assert ok("note", "2", "discussed", "--conv", U, cwd=code) == \
        "EXAI-2: conversation_link added\n"
    out = exai("mark", "2", "fixed", "--conv", U, cwd=code)
    assert out.stdout == "EXAI-2 -> fixed\n"
    assert out.stderr == "warning: EXAI-2 fixed with step(s) 1, 2 still pending\n"
    assert seeded.query("SELECT status, fix_conversation_id, fix_date IS NOT NULL"
                        " FROM exai_issues WHERE issue_number = 2") == [("fixed", U, True)]
    assert updates(seeded, 2)[-3:] == [
        ("comment", "by hand: looked at it", None),
        ("conversation_link", "by hand: discussed", U),
        ("status_change", "by hand: open -> fixed", U)]
    assert ok("mark", "2", "fixed", cwd=code) == "EXAI-2 is already fixed\n"
    assert len(updates(seeded, 2)) == 5


def test_output_is_escaped(code: Path, seeded: Database) -> None:
    out = ok("new", "evil\x1b[31m\u202etitle", "--json", cwd=code)
    assert "\\u001b" in out and "\\u202e" in out and "\x1b" not in out
    assert ok("note", "4", "x\x1b[2Jy", "--json", cwd=code).count("\x1b") == 0


# --------------------------------------------------------------------------- the seed's SQL


def test_the_seeds_sql_and_the_commands_leave_the_same_rows(code: Path,
                                                             seeded: Database) -> None:
    """The seed's 'Mark Checklist Step Complete', 'Add Issue Update/Comment' and 'Marking
    Issue Fixed' on one issue, the commands on another: the same fields."""
    ok("new", "by sql", "--step", "s", cwd=code)  # 4
    ok("new", "by hand", "--step", "s", cwd=code)  # 5
    with seeded.connect() as conn:
        conn.execute("UPDATE exai_issue_checklist SET status = 'complete', completed_at = NOW(),"
                     " conversation_id = %s WHERE issue_id = (SELECT id FROM exai_issues"
                     " WHERE issue_number = 4) AND step_number = 1", (U,))
        conn.execute("INSERT INTO exai_issue_updates (issue_id, update_type, content,"
                     " conversation_id) VALUES ((SELECT id FROM exai_issues WHERE"
                     " issue_number = 4), 'comment', 'Started', %s)", (U,))
        conn.execute("UPDATE exai_issues SET status = 'fixed', fix_conversation_id = %s,"
                     " fix_date = NOW() WHERE issue_number = 4", (U,))
    ok("step", "5", "1", "complete", "--conv", U, cwd=code)
    ok("note", "5", "Started", cwd=code)
    ok("mark", "5", "fixed", "--conv", U, cwd=code)  # already fixed by the last step

    def state(n: int) -> list[tuple[Any, ...]]:
        return seeded.query(
            "SELECT i.status, i.fix_conversation_id, i.fix_date IS NOT NULL, c.status,"
            " c.conversation_id, c.completed_at IS NOT NULL FROM exai_issues i"
            " JOIN exai_issue_checklist c ON c.issue_id = i.id WHERE i.issue_number = %s", (n,))

    assert state(4) == state(5) == [("fixed", U, True, "complete", U, True)]
    assert ("comment", "by hand: Started", None) in updates(seeded, 5)


# --------------------------------------------------------------------------- misleading output
# (issue 17: each failed before)


def test_the_last_step_applied_says_the_issue_became_fixed(code: Path,
                                                           seeded: Database) -> None:
    ok("new", "two", "--step", "a", "--step", "b", cwd=code)
    git(code, "commit", "--allow-empty", "-qm", "First", "-m", "Fixes EXAI-4 step 1")
    assert "EXAI-4: step 1 -> complete\n" in ok("apply", cwd=code)  # no more than that
    git(code, "commit", "--allow-empty", "-qm", "Second", "-m", "Fixes EXAI-4 step 2")
    out = ok("apply", cwd=code)
    assert "EXAI-4: step 2 -> complete; EXAI-4 -> fixed\n" in out, out


def test_parse_checks_the_tracker_when_it_can(code: Path, seeded: Database) -> None:
    out = exai("parse", "-", cwd=code, input="Fixes EXAI-7\n")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "-> fixed" not in out.stdout
    assert "error: EXAI-7: no such issue" in out.stdout
    out = exai("parse", "-", cwd=code, input="Fixes EXAI-1 step 9\n")
    assert out.returncode == 1 and "error: EXAI-1: no step 9 (steps: 1-7)" in out.stdout
    data = json.loads(exai("parse", "--json", "-", cwd=code, input="Fixes EXAI-7\n").stdout)
    assert data["checked"] == "tracker"
    assert data["errors"] == [{"reason": "EXAI-7: no such issue"}]
    out = exai("parse", "-", cwd=code, input="Fixes EXAI-2\n")
    assert out.returncode == 0 and out.stdout == "EXAI-2: -> fixed\n"


def test_parse_says_it_checked_syntax_only_without_a_tracker(code: Path,
                                                             seeded: Database) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/none"
    out = exai("parse", "--dsn", unreachable, "-", cwd=code, input="Fixes EXAI-7\n")
    assert out.returncode == 0
    assert out.stdout.startswith("EXAI-7: -> fixed\nnote: cannot reach the database")
    assert out.stdout.endswith("; checked the markers' syntax only\n")
    out = exai("parse", "-", cwd=code, input="Fixes EXAI-7\n", env={"EXAI_GIT_DSN": ""})
    assert out.stdout == ("EXAI-7: -> fixed\nnote: no tracker configured (--dsn, EXAI_GIT_DSN "
                          "or DATABASE_URL); checked the markers' syntax only\n"), out.stdout


def test_scan_hint_only_when_the_message_does_not_say_it(hooked_repo: Path,
                                                         seeded: Database) -> None:
    kimi = hooked_repo / "src/providers/async_kimi.py"
    kimi.write_text(kimi.read_text().replace("l59\n", "L59\n"))
    git(hooked_repo, "add", "-A")
    said = git(hooked_repo, "commit", "-qm", "Shorter timeout", "-m", "Refs EXAI-2").stderr
    assert "EXAI-2 [high, open]" in said and "hint:" not in said, said
    kimi.write_text(kimi.read_text().replace("l58\n", "L58\n"))
    git(hooked_repo, "add", "-A")
    said = git(hooked_repo, "commit", "-qm", "Tidy").stderr
    assert "hint: this change touches EXAI-2; if it fixes it," in said, said
    # over past commits the messages are written: no hint
    out = ok("scan", "HEAD~2..HEAD", cwd=hooked_repo)
    assert "EXAI-2" in out and "hint:" not in out
    assert "hint:" not in ok("scan", "HEAD", cwd=hooked_repo)


def test_new_anchors_the_location_at_head(code: Path, seeded: Database) -> None:
    ok("new", "anchored", "--at", "src/app.py:1-2", cwd=code)
    head = git(code, "rev-parse", "HEAD").stdout.strip()
    assert seeded.scalar("SELECT anchor_sha FROM exai_issues WHERE issue_number = 4") == head
