"""The marker language: a table of cases with exact expected actions, and properties."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exai_git import markers
from exai_git.markers import Action, Parsed, _parse_reference, parse

U = "debb44af-15b9-456d-9b88-6a2519f81427"
V = "0f8fad5b-d9cb-469f-a165-70867728950e"


def A(issue: int, action: str, steps: tuple[int, ...] = (), conv: str | None = None) -> Action:
    return Action(issue, action, steps, conv)


CASES = [
    # MARKERS.md examples
    ("Fixes EXAI-1 step 3 conv:" + U, [A(1, "fix", (3,), U)]),
    ("Fix EXAI-1, EXAI-2 and EXAI-3", [A(1, "fix"), A(2, "fix"), A(3, "fix")]),
    ("Fixes EXAI-1 steps 1-3, 5", [A(1, "fix", (1, 2, 3, 5))]),
    ("Refs EXAI-2", [A(2, "ref")]),
    ("Partially fixes EXAI-1", [A(1, "ref")]),
    ("This doesn't fix EXAI-1 yet", []),
    ("Starts EXAI-3", [A(3, "progress")]),
    ("Verified EXAI-1", [A(1, "verify")]),
    (f"Subject\n\nFixes: EXAI-2\n\nConversation: {U}", [A(2, "fix", (), U)]),
    # every fix verb
    *[(f"{v} EXAI-7", [A(7, "fix")]) for v in (
        "fix", "fixes", "fixed", "close", "closes", "closed", "resolve", "resolves", "resolved",
        "complete", "completes", "completed")],
    # every progress verb
    *[(f"{v} EXAI-7", [A(7, "progress")]) for v in (
        "start", "starts", "started", "wip", "work on", "works on", "working on")],
    # every ref verb
    *[(f"{v} EXAI-7", [A(7, "ref")]) for v in (
        "ref", "refs", "references", "see", "re", "part of", "related to", "relates to",
        "contributes to", "toward", "towards", "addresses")],
    *[(f"{v} EXAI-7", [A(7, "verify")]) for v in ("verify", "verifies", "verified")],
    *[(f"{v} EXAI-7", [A(7, "reopen")]) for v in ("reopen", "reopens", "reopened")],
    # case, whole words, punctuation
    ("FIXES exai-1", [A(1, "fix")]),
    ("fIxEs Exai-12", [A(12, "fix")]),
    ("Fixes MYEXAI-1", []),
    ("Fixes EXAI-1.", [A(1, "fix")]),
    ("Fixes EXAI-1!", [A(1, "fix")]),
    ("(Fixes EXAI-1)", [A(1, "fix")]),
    ("Prefixes EXAI-1", []),
    ("Fixes: EXAI-4", [A(4, "fix")]),
    ("Work  on\tEXAI-2", [A(2, "progress")]),
    ("WIP: EXAI-5 step 2", [A(5, "progress", (2,))]),
    # lists and ranges
    ("Fixes EXAI-1 & EXAI-2", [A(1, "fix"), A(2, "fix")]),
    ("Fixes EXAI-1, and EXAI-2", [A(1, "fix"), A(2, "fix")]),
    ("Fixes EXAI-1 steps 1..3", [A(1, "fix", (1, 2, 3))]),
    ("Fixes EXAI-1 steps 1, 2 and 4", [A(1, "fix", (1, 2, 4))]),
    ("Fixes EXAI-1 steps 2 & 3", [A(1, "fix", (2, 3))]),
    ("Fixes EXAI-1 steps 1, 2, and 3", [A(1, "fix", (1, 2, 3))]),
    ("Fixes EXAI-1 step 4, 4", [A(1, "fix", (4,))]),
    ("Fixes EXAI-1 steps 3, 1", [A(1, "fix", (1, 3))]),
    ("Fixes EXAI-1 steps 1 - 2", [A(1, "fix", (1, 2))]),
    ("Fixes EXAI-1 steps 1, 2 and EXAI-2 step 4",
     [A(1, "fix", (1, 2)), A(2, "fix", (4,))]),
    ("Fixes EXAI-1 step 1 conv:" + U + " and EXAI-2 conv=" + V,
     [A(1, "fix", (1,), U), A(2, "fix", (), V)]),
    ("Fixes EXAI-1 conv:" + U.upper(), [A(1, "fix", (), U)]),
    ("Fixes EXAI-1 step 3 conv:" + U + ".", [A(1, "fix", (3,), U)]),
    # trailers and conversation defaults
    (f"Fix things\n\nFixes: EXAI-1 step 3\nRefs: EXAI-2\nEXAI-Conversation: {U}",
     [A(1, "fix", (3,), U), A(2, "ref", (), U)]),
    (f"Fixes EXAI-1 conv:{V}\n\nConversation: {U}", [A(1, "fix", (), V)]),
    (f"Fixes EXAI-1\n\nconversation: {U}", [A(1, "fix", (), U)]),
    # several markers on a line and over lines
    ("Don't fix EXAI-1, fix EXAI-2", [A(2, "fix")]),
    ("Starts EXAI-1; fixes EXAI-2", [A(1, "progress"), A(2, "fix")]),
    ("Subject\n\nFixes EXAI-1\nRefs EXAI-3", [A(1, "fix"), A(3, "ref")]),
    ("Fixes EXAI-1 step 1\nFixes EXAI-1 step 2", [A(1, "fix", (1,)), A(1, "fix", (2,))]),
    # negation
    ("This does not fix EXAI-1", []),
    ("Never fixes EXAI-1", []),
    ("No longer fixes EXAI-1", []),
    ("Won't fix EXAI-1", []),
    ("Didn't fix EXAI-1", []),
    ("Without fixing EXAI-1, refs EXAI-2", [A(2, "ref")]),
    ("Shouldn’t fix EXAI-1", []),
    ("Not yet. Fixes EXAI-1", [A(1, "fix")]),
    ("Fixes EXAI-1 (not EXAI-2)", [A(1, "fix")]),
    # qualified verbs
    ("Partly fixes EXAI-1", [A(1, "ref")]),
    ("half-fixes EXAI-1", [A(1, "ref")]),
    ("Part of the fix for EXAI-1", [A(1, "ref")]),
    # ignored lines
    ("# Fixes EXAI-1", []),
    ("> Fixes EXAI-1", []),
    ("Subject\n\n```\nFixes EXAI-1\n```\nRefs EXAI-2", [A(2, "ref")]),
    ("Subject\n\n~~~\nFixes EXAI-1\n~~~", []),
    ("Refs EXAI-2\n# ------------------------ >8 ------------------------\nFixes EXAI-1",
     [A(2, "ref")]),
    ('Revert "Fixes EXAI-1 step 3"\n\nThis reverts commit '
     "0123456789abcdef0123456789abcdef01234567.", []),
    # mentions
    ("see the EXAI-4 discussion", []),
    ("EXAI-4 is related", []),
    ("Update docs for EXAI-4", []),
    # near misses trigger nothing
    ("Fixes EXAI 1", []),
    ("Fixes EXAI1", []),
    ("Fixes EXAI-1 stpe 3", []),
    ("Fix for EXAI-1", []),
    # errors trigger nothing
    ("Fixes EXAI-1 conv:debb44af", []),
    ("Fixes EXAI-1 step 0", []),
    ("Fixes EXAI-1 steps 5-3", []),
    ("Fixes EXAI-0", []),
    # line endings and Unicode
    ("Subject\r\n\r\nFixes EXAI-1 step 2\r\n", [A(1, "fix", (2,))]),
    ("Subject\rFixes EXAI-3", [A(3, "fix")]),
    ("✅ Fixes EXAI-1 — done", [A(1, "fix")]),
    ("Fixes\u00a0EXAI-1", [A(1, "fix")]),
    ("修复 Fixes EXAI-2 步骤", [A(2, "fix")]),
    ("Fixes EXAI-１", []),
    ("naïve fix: Refs EXAI-9", [A(9, "ref")]),
]


@pytest.mark.parametrize("message, expected", CASES, ids=[c[0][:40] for c in CASES])
def test_table(message: str, expected: list[Action]) -> None:
    assert list(parse(message).actions) == expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 80


def reasons(message: str) -> list[str]:
    return [n.reason.split(":")[0] for n in parse(message).ignored]


@pytest.mark.parametrize("message, reason", [
    ("This doesn't fix EXAI-1", "negated"),
    ("# Fixes EXAI-1", "comment"),
    ("> Fixes EXAI-1", "quoted"),
    ("```\nFixes EXAI-1\n```", "code block"),
    ("x\n# ------------------------ >8 ------------------------\nFixes EXAI-1",
     "below the scissors line"),
    ('Revert "Fixes EXAI-1"\n\nThis reverts commit abcdef1.', "revert"),
    ("Partially fixes EXAI-1", "partial"),
    ("see the EXAI-4 discussion", "mention"),
])
def test_ignored_with_reason(message: str, reason: str) -> None:
    assert reason in reasons(message)


@pytest.mark.parametrize("message, suggestion", [
    ("Fixes EXAI 1", "EXAI-1"),
    ("Fixes EXAI1", "EXAI-1"),
    ("Fixes EXAI-1 stpe 3", "EXAI-1 step 3"),
    ("Fix for EXAI-2", "Fixes EXAI-2"),
])
def test_near_misses_warn_with_a_suggestion(message: str, suggestion: str) -> None:
    parsed = parse(message)
    assert parsed.actions == ()
    assert [w.suggestion for w in parsed.warnings] == [suggestion]
    assert parsed.errors == ()


@pytest.mark.parametrize("message, fragment", [
    ("Fixes EXAI-1 conv:debb44af", "conv:debb44af"),
    ("Fixes EXAI-1 step 0", "step 0"),
    ("Fixes EXAI-1 steps 5-3", "5-3"),
    ("Fixes EXAI-1 conv:", "conv:"),
    ("Fixes EXAI-1\n\nConversation: not-a-uuid", "not-a-uuid"),
    ("Fixes EXAI-1 steps 1-5000", "1-5000"),
])
def test_malformed_parts_are_errors(message: str, fragment: str) -> None:
    errors = parse(message).errors
    assert len(errors) == 1
    assert fragment in errors[0].text + errors[0].reason


def test_comment_char_and_prefix_are_configurable() -> None:
    assert parse("; Fixes EXAI-1\nFixes EXAI-2", comment_char=";").actions == (A(2, "fix"),)
    assert parse("# Fixes EXAI-1", comment_char=";").actions == (A(1, "fix"),)
    assert parse("Fixes BUG-3 and EXAI-4", prefix="BUG").actions == (A(3, "fix"),)


def test_environment_conversation_is_the_last_default() -> None:
    assert parse("Fixes EXAI-1", env_conversation=U).actions == (A(1, "fix", (), U),)
    assert parse(f"Fixes EXAI-1\n\nConversation: {V}", env_conversation=U).actions == (
        A(1, "fix", (), V),)
    bad = parse("Fixes EXAI-1", env_conversation="nope")
    assert bad.actions == (A(1, "fix"),) and bad.warnings


def test_reverts_are_reported() -> None:
    parsed = parse('Revert "x"\n\nThis reverts commit ABCDEF1234567.')
    assert parsed.reverts == ("abcdef1234567",)


def test_json_shape() -> None:
    data = parse(f"Fixes EXAI-1 step 3 conv:{U}\nsee EXAI 2").to_json()
    assert set(data) == {"actions", "ignored", "warnings", "errors"}
    assert data["actions"] == [{"issue": 1, "action": "fix", "steps": [3], "conversation_id": U}]


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses(text: str) -> None:
    assert everything(parse(text)) == everything(_parse_reference(text))


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_bytes_from_a_file_parse(data: bytes) -> None:
    parse(data.decode("utf-8", errors="replace"))


VERB = st.sampled_from(["Fixes", "fixed", "Refs", "Starts", "work on", "Verifies", "reopens",
                        "closes", "See", "Addresses"])
ACTION_OF = {"fixes": "fix", "fixed": "fix", "closes": "fix", "refs": "ref", "see": "ref",
             "addresses": "ref", "starts": "progress", "work on": "progress",
             "verifies": "verify", "reopens": "reopen"}


@st.composite
def marker_line(draw: st.DrawFn) -> tuple[str, list[Action]]:
    verb = draw(VERB)
    refs = draw(st.lists(st.tuples(
        st.integers(1, 10_000),
        st.lists(st.integers(1, 50), max_size=4),
        st.one_of(st.none(), st.uuids().map(str)),
    ), min_size=1, max_size=3))
    parts, actions = [], []
    for n, steps, conv in refs:
        text = f"EXAI-{n}"
        if steps:
            text += " steps " + ", ".join(map(str, steps))
        if conv:
            text += f" conv:{conv}"
        parts.append(text)
        actions.append(Action(n, ACTION_OF[verb.lower()], tuple(sorted(set(steps))), conv))
    sep = draw(st.sampled_from([", ", " and ", " & ", ", and "]))
    return f"{verb} {sep.join(parts)}", actions


@settings(max_examples=300, deadline=None)
@given(st.lists(marker_line(), min_size=1, max_size=5))
def test_generated_markers_parse_back(lines: list[tuple[str, list[Action]]]) -> None:
    message = "Subject line\n\n" + "\n".join(text for text, _ in lines)
    expected = [a for _, actions in lines for a in actions]
    parsed = parse(message)
    assert parsed.errors == ()
    assert list(parsed.actions) == expected


# --------------------------------------------------------------------------- shortcuts
# parse() answers the most common lines (canonical markers, plain mentions, messages with no
# key) without the full grammar; it must answer exactly as the full grammar does.

FRAG_LEAD = st.sampled_from(["", "", "", "not ", "Partially ", "This doesn't ", "  ", "# ",
                             "> ", "See the ", "half-", "x", "Fix for ", "part of the fix for ",
                             "İ ", "Revert \"", "and ", "ı", "partly ", "Half ", "half  ",
                             "partially-", "PARTIALLY ", "pre", "v2", "it's ", "EXAI-3 ",
                             "Refs: "])
FRAG_VERB = st.sampled_from(["Fixes", "fix", "FIXED", "Refs", "refs", "Starts", "work on",
                             "Work  on", "Verifies", "reopens", "closes", "See", "re", "Re",
                             "addresses", "Fixing", "", "contributes to", "part of"])
FRAG_SEP = st.sampled_from([" ", " ", ": ", ":", " : ", "", "  ", "\t", " for ", " :", " ::",
                            ": :"])
FRAG_KEY = st.sampled_from(["EXAI-1", "EXAI-2", "exai-12", "EXAI 3", "EXAI_4", "EXAI#5",
                            "EXAI- 6", "EXAI7", "EXAI-0", "EXAI-01", "EXAI-1234567890123",
                            "XEXAI-1", "EXAI-1a", "EXAI-999999999", "BUG-3", "EXAı-1",
                            "EXAI-1.5"])
FRAG_STEPS = st.sampled_from(["", "", " step 3", " steps 1-3, 5", " steps 3-1", " step 0",
                              " stpe 3", " steps 1-2000", " step:3", " step 3a", " steps 1..3",
                              " steps: 2, 4", " steps 1,2", " steps 1 and 2", " step 3.",
                              " steps 1 - 3", " setp 4"])
FRAG_CONV = st.sampled_from(["", "", f" conv:{U}", f" conv:{U.upper()}.", f" conversation={V}",
                             " conv:bad", " conv:", f" conv: {U}", f" conv:{U}x"])
FRAG_MORE = st.sampled_from(["", "", ", EXAI-2", " and EXAI-3", ", and EXAI-4", " & EXAI-5",
                             ",EXAI-6", ", EXAI-7 step 2", " and exai-8"])
FRAG_TAIL = st.sampled_from(["", "", ".", " ", " in the parser", " EXAI-9", "!", "..",
                             " see EXAI-3", " näive"])
OTHER_LINE = st.sampled_from([
    "", "Subject", f"Conversation: {U}", f"conversation: {V}", "Conversation: bad",
    "This reverts commit abc1234.", 'Revert "Fixes EXAI-1"', "```", "~~~",
    "# ------------------------ >8 ------------------------", "Signed-off-by: A <a@b.c>",
    "plain words", "näive İ text", "; comment EXAI-2"])


@st.composite
def any_line(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(OTHER_LINE)
    return "".join(draw(f) for f in (FRAG_LEAD, FRAG_VERB, FRAG_SEP, FRAG_KEY, FRAG_STEPS,
                                     FRAG_CONV, FRAG_MORE, FRAG_TAIL))


def everything(p: Parsed) -> tuple[object, ...]:
    return ([(a.issue, a.action, a.steps, a.conversation_id, a.text, a.line) for a in p.actions],
            p.ignored, p.warnings, p.errors, p.reverts)


# The shortcut fixture sets one switch for a whole test: safe to share between examples.
SHARED_FIXTURE = [HealthCheck.function_scoped_fixture]


@pytest.fixture(params=["c", "python"])
def shortcut(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each shortcut test runs twice: with the C accelerator answering what it can, and with
    the Python shortcut alone (as where the package was built without a C compiler)."""
    if request.param == "c":
        if markers._scan is None:
            if os.environ.get("CI"):
                pytest.fail("the C accelerator was not built (exai_git/_speedups.c)")
            pytest.skip("the C accelerator was not built here")
    else:
        monkeypatch.setattr(markers, "_scan", None)
        monkeypatch.setattr(markers, "parse", markers._parse_python)
        monkeypatch.setitem(globals(), "parse", markers._parse_python)
    return str(request.param)


def test_the_accelerator_answers_common_messages(shortcut: str) -> None:
    if shortcut == "python":
        assert parse is markers._parse_python
        return
    assert markers._scan is not None and parse is not markers._parse_python
    assert markers._scan(f"Fixes EXAI-1 step 3 conv:{U}", "EXAI", "#", None) == parse(
        f"Fixes EXAI-1 step 3 conv:{U}")
    assert markers._scan("Tidy imports", "EXAI", "#", None) is markers._NOTHING
    # what it leaves to the Python parser: comments, negations, errors, non-ASCII, reverts
    for message in ("# Fixes EXAI-1", "This doesn't fix EXAI-1", "Fixes EXAI-1 steps 3-1",
                    "Fixes EXAI-1 – done", "This reverts commit abc1234.", "Fixes EXAI-1\r\n"):
        assert markers._scan(message, "EXAI", "#", None) is None, message


@settings(max_examples=3000, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(st.lists(any_line(), min_size=1, max_size=6), st.sampled_from(["#", ";", None]),
       st.sampled_from(["EXAI", "BUG"]), st.sampled_from([None, U, "nonsense"]))
def test_shortcuts_answer_as_the_full_grammar(shortcut: str, lines: list[str], cc: str | None,
                                              prefix: str, env: str | None) -> None:
    message = "\n".join(lines)
    got = parse(message, prefix=prefix, comment_char=cc, env_conversation=env)
    want = _parse_reference(message, prefix=prefix, comment_char=cc, env_conversation=env)
    assert everything(got) == everything(want)


@pytest.mark.parametrize("line", [
    "Fixes EXAI-1 step 3 conv:" + U, "Fix EXAI-1, EXAI-2 and EXAI-3", "Refs EXAI-2",
    "Fixes EXAI-1 steps 1-3, 5", "See the EXAI-12 discussion for context.", "FixesEXAI-1",
    "Fixes:EXAI-1", "Fixes EXAI-1 conv:" + U + ".", "Fixes EXAI-1 steps 3-1", "exai-4 alone",
    "Work  on EXAI-5", "Fixes EXAI-1 step 3.", "Refs EXAI-2.", "Conversation: bad",
    f"Conversation: {U}", "# Conversation: bad", "A conversation about it",
])
def test_shortcut_examples(shortcut: str, line: str) -> None:
    for message in (line, f"Subject\n\n{line}\n", f"{line}\n\nConversation: {V}"):
        assert everything(parse(message)) == everything(_parse_reference(message))


# Pieces that sit at the edges of the shortcuts' rules: separators, qualifiers, odd
# whitespace, numbers too long or with a leading zero, keys of other prefixes, comment and
# quote starts, trailers, fences and line breaks anywhere.
TOKENS = ["Fixes", "fix", "Refs", "re", "see", "Partially", "partly", "half-", "half", "for",
          "not", "EXAI", "EXAI-", "exai-", "BUG-", "bug2-", "-", "1", "2", "12", "0", "01",
          "999999999", "1234567890", " ", " ", " ", "  ", "\t", "\x0b", "\x1c", ":", ",",
          ", and ", " and ", ".", "..", "step", "steps", "stpe", " conv:", " conversation=",
          "conv", U, U.upper(), U + "a", "Conversation:", "EXAI-conversation:", "\n", "\n",
          "\n", "#", ";", ">", 'Revert "', "This reverts commit abc1234", "```", "_", "x", "!",
          "work on", "part of the fix for", "-3", "1-3", "3-1", ", 5", ",5", "2000", "İ", "\r",
          "prefixes", "conversation"]


@settings(max_examples=3000, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.integers(1, 30),
       st.sampled_from(["#", ";", None, "", "İ", "##"]),
       st.sampled_from(["EXAI", "exai", "BUG", "bug2", "E"]),
       st.sampled_from([None, U, "nonsense", ""]))
def test_token_soup_answers_as_the_full_grammar(shortcut: str, tokens: list[str], times: int,
                                                cc: str | None, prefix: str,
                                                env: str | None) -> None:
    # repeated, a message outgrows the accelerator's stack buffer
    message = "".join(tokens) * (times if times > 25 else 1)
    got = parse(message, prefix=prefix, comment_char=cc, env_conversation=env)
    want = _parse_reference(message, prefix=prefix, comment_char=cc, env_conversation=env)
    assert everything(got) == everything(want)


@pytest.mark.parametrize("message, ignored", [
    # a line ending in "conversation" and the next starting with ":" are two lines
    ("see the conversation\n: EXAI-2 here", [(2, "EXAI-2")]),
    # an empty line before a fence is not part of the fence line
    ("Subject\n\n```\nFixes EXAI-1\n```\nsee the EXAI-2 notes", [(4, "EXAI-1"), (6, "EXAI-2")]),
])
def test_line_numbers_across_line_breaks(shortcut: str, message: str,
                                         ignored: list[tuple[int, str]]) -> None:
    for parser in (parse, _parse_reference):
        assert [(n.line, n.text) for n in parser(message).ignored] == ignored


# --------------------------------------------------------------------------- long lines
# Lines shaped to make a parser backtrack or rescan (bench B1 times them at 1 MB).


def test_a_line_of_many_markers(shortcut: str) -> None:
    parsed = parse("see EXAI-1 " * 3000)
    assert len(parsed.actions) == 3000 and {a.action for a in parsed.actions} == {"ref"}


def test_a_line_of_many_near_misses(shortcut: str) -> None:
    parsed = parse("fix for EXAI-1 " * 2000)
    assert parsed.actions == () and len(parsed.warnings) == 2000


def test_a_long_word_before_a_marker(shortcut: str) -> None:
    assert parse("e" * 200_000 + " Fixes EXAI-1").actions == (A(1, "fix"),)
    # the same word ending in n't negates the marker after it
    negated = parse("a" * 200_000 + "n't fix EXAI-1")
    assert negated.actions == () and [n.reason for n in negated.ignored] == ["negated"]


def test_many_qualifiers_before_a_marker(shortcut: str) -> None:
    parsed = parse("Partially " * 20_000 + "fixes EXAI-1")
    assert parsed.actions == (A(1, "ref"),)
    assert [n.reason for n in parsed.ignored] == ["partial: recorded as a reference, not a fix"]
