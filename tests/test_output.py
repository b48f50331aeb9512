"""Every output format escapes what came from the database or git for that format
(DESIGN.md, "Input and output rules"): tables of cases, then the real commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exai_git.render import clean, code, sarif_region, sarif_uri, to_json
from tests.conftest import Database, exai, git, write

HOSTILE = "evil\u202etxt.exe\u009b31m\x1b[2J\r\nsecond line"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("plain", "plain", id="plain"),
    pytest.param("\x1b[31mred", "\\x1b[31mred", id="esc"),
    pytest.param("a\u009bb", "a\\x9bb", id="csi-c1"),
    pytest.param("abc\u202edef", "abc\\u202edef", id="rlo"),
    pytest.param("x\u2066y\u2069", "x\\u2066y\\u2069", id="isolates"),
    pytest.param("zero\u200bwidth", "zero\\u200bwidth", id="zero-width"),
    pytest.param("bom\ufeff", "bom\\ufeff", id="bom"),
    pytest.param("line\nnext", "line\\nnext", id="newline"),
    pytest.param("cr\rover", "cr\\rover", id="carriage-return"),
    pytest.param("bad\udcff.py", "bad\\xff.py", id="not-utf8-byte"),
    pytest.param("naïve ü", "naïve ü", id="letters-kept"),
])
def test_terminal_escapes(text: str, expected: str) -> None:
    assert clean(text) == expected


def test_terminal_multiline_keeps_newlines_only() -> None:
    assert clean("a\nb\u202e", multiline=True) == "a\nb\\u202e"


@pytest.mark.parametrize(("text", "escaped"), [
    pytest.param("\u202e", "\\u202e", id="rlo"),
    pytest.param("\u009b", "\\u009b", id="c1"),
    pytest.param("\x1b", "\\u001b", id="esc"),
    pytest.param("\x7f", "\\u007f", id="del"),
    pytest.param("\u2028", "\\u2028", id="line-separator"),
    pytest.param("\udcff", "\\udcff", id="lone-surrogate"),
    pytest.param("é", "é", id="letters-kept"),
])
def test_json_escapes(text: str, escaped: str) -> None:
    out = to_json({"t": "a" + text + "b"})
    assert f'"a{escaped}b"' in out
    assert json.loads(out) == {"t": "a" + text + "b"}  # exact for a parser
    out.encode("utf-8")  # printable: no lone surrogate left raw


@pytest.mark.parametrize(("path", "uri"), [
    pytest.param("src/My Files/naïve#1 %20.py", "src/My%20Files/na%C3%AFve%231%20%2520.py",
                 id="issue-example"),
    pytest.param("a/b-c_d.e~f.py", "a/b-c_d.e~f.py", id="unreserved-kept"),
    pytest.param("c:/x?y.py", "c%3A/x%3Fy.py", id="no-scheme-no-query"),
    pytest.param("bad\udcff.py", "bad%FF.py", id="not-utf8-byte"),
    pytest.param("a\\b[1].py", "a%5Cb%5B1%5D.py", id="backslash-brackets"),
])
def test_sarif_uri(path: str, uri: str) -> None:
    assert sarif_uri(path) == uri


@pytest.mark.parametrize(("start", "end", "region"), [
    pytest.param(58, 60, {"startLine": 58, "endLine": 60}, id="range"),
    pytest.param(60, 58, {"startLine": 58, "endLine": 60}, id="reversed"),
    pytest.param(10, None, {"startLine": 10, "endLine": 10}, id="one-line"),
    pytest.param(None, None, {}, id="whole-file"),
    pytest.param(0, 5, {}, id="no-line-zero"),
])
def test_sarif_region(start: int | None, end: int | None, region: dict[str, int]) -> None:
    assert sarif_region(start, end) == region


@pytest.mark.parametrize(("text", "span"), [
    pytest.param("a.py", "`a.py`", id="plain"),
    pytest.param("a`b.py", "`` a`b.py ``", id="backtick"),
])
def test_markdown_code_span(text: str, span: str) -> None:
    assert code(text) == span


# --------------------------------------------------------------------------- real commands


@pytest.fixture
def hostile(seeded: Database, repo: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """An issue whose title, path and lines are hostile, inserted by SQL."""
    monkeypatch.setenv("EXAI_GIT_DSN", seeded.dsn)
    path = "src/My Files/naïve#1 %20.py"
    write(repo / path, "".join(f"l{i}\n" for i in range(1, 80)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    seeded.query("INSERT INTO exai_issues (title, severity, file_path, line_start, line_end)"
                 " VALUES (%s, 'critical', %s, 60, 58)", (HOSTILE, path))
    return int(seeded.scalar("SELECT max(issue_number) FROM exai_issues"))


def _raw_free(text: str) -> None:
    for ch in ("\u202e", "\u009b", "\x1b", "\r"):
        assert ch not in text, repr(ch)


def test_show_text_and_json(hostile: int, repo: Path) -> None:
    text = exai("show", str(hostile), cwd=repo)
    assert text.returncode == 0, text.stderr
    _raw_free(text.stdout)
    assert "evil\\u202etxt.exe\\x9b31m\\x1b[2J\\r\\nsecond line" in text.stdout
    out = exai("show", str(hostile), "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    _raw_free(out.stdout)
    assert "\\u202e" in out.stdout and "\\u009b" in out.stdout
    assert json.loads(out.stdout)["issue"]["title"] == HOSTILE


def test_scan_sarif(hostile: int, repo: Path) -> None:
    lines = (repo / "src/My Files/naïve#1 %20.py").read_text().splitlines(keepends=True)
    lines[58] = "changed\n"
    (repo / "src/My Files/naïve#1 %20.py").write_text("".join(lines))
    git(repo, "add", "-A")
    out = exai("scan", "--staged", "--sarif", cwd=repo)
    assert out.returncode == 0, out.stderr
    _raw_free(out.stdout)
    result = json.loads(out.stdout)["runs"][0]["results"][0]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/My%20Files/na%C3%AFve%231%20%2520.py"
    assert location["region"] == {"startLine": 58, "endLine": 60}


def test_context_brief_has_no_injected_lines(hostile: int, repo: Path) -> None:
    out = exai("context", str(hostile), cwd=repo)
    assert out.returncode == 0, out.stderr
    _raw_free(out.stdout)
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"# EXAI-{hostile}: evil") and first.endswith("second line")
    assert not any(line.startswith("second line") for line in out.stdout.splitlines())
    assert "- Location: `src/My Files/naïve#1 %20.py:58-60`" in out.stdout


def test_location_move_lines_escape_the_stored_path(seeded: Database, repo: Path) -> None:
    """An issue's file_path comes from the database: `apply --branch` says its move with the
    path escaped, as every terminal line is (render.clean)."""
    path = "src/\x1b[2Jevil\u202e.py"
    write(repo / path, "".join(f"l{i}\n" for i in range(1, 101)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "branch", "-M", "main")
    env = {"EXAI_GIT_DSN": seeded.dsn}
    assert exai("apply", "--branch", "main", cwd=repo, env=env).returncode == 0
    seeded.query("INSERT INTO exai_issues (title, severity, file_path, line_start, line_end)"
                 " VALUES ('t', 'high', %s, 58, 60)", (path,))
    (repo / path).write_text("top\n" + (repo / path).read_text())
    git(repo, "commit", "-qam", "a line on top")
    out = exai("apply", "--branch", "main", cwd=repo, env=env)
    assert out.returncode == 0, out.stderr
    _raw_free(out.stdout)
    assert "location moved: src/\\x1b[2Jevil\\u202e.py:58-60 -> src/\\x1b[2Jevil\\u202e.py:59-61" \
        in out.stdout, out.stdout
