"""The marker language: tables of cases with exact expected results, and properties."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exai_git import render
from exai_git.markers import Action, MergeRevert, Parsed, parse

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
    ("Fixes EXAI-2 (step 4)", []),  # read as a whole-issue fix, it would close the issue
    ("Fixes EXAI-1: step 2", []),
    ("Fixes EXAI-1 [steps 1-3]", []),
    ("Fixes EXAI-1 (see notes)", [A(1, "fix")]),
    ("Fxes EXAI-9 step 2", []),
    (f"Fixes EXAI-1 (conv:{U})", []),  # applied, it would lose the conversation
    (f"Fixes EXAI-1 step 2 [conversation={U}]", []),
    ("Fixes EXAI-1: done", [A(1, "fix")]),
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
    ("Fixes EXAI-2 (step 4)", "EXAI-2 step 4"),
    ("Fixes EXAI-1: step 2", "EXAI-1 step 2"),
    ("Fixes EXAI-1 [steps 1-3]", "EXAI-1 steps 1-3"),
    (f"Fixes EXAI-1 (conv:{U})", f"EXAI-1 conv:{U}"),
    (f"Fixes EXAI-1 step 2 (conv:{U})", f"EXAI-1 step 2 conv:{U}"),
    ("Fxes EXAI-9 step 2", "Fixes EXAI-9"),
    ("Fixess EXAI-1", "Fixes EXAI-1"),
    ("Closs: EXAI-2", "Closes EXAI-2"),
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


# --------------------------------------------------------------------------- conversation ids
# A malformed id is an error that names the expected form, never an example id: a user who
# copied one would record another conversation than theirs.

@pytest.mark.parametrize("message", [
    pytest.param("Fixes EXAI-1 conv:debb44af", id="prefix-of-a-uuid"),
    pytest.param("Fixes EXAI-1 conv:", id="empty"),
    pytest.param("Fixes EXAI-1 conv:44444444", id="eight-digits"),
    pytest.param(f"Fixes EXAI-1 conv:{U}x", id="uuid-and-more"),
    pytest.param("Fixes EXAI-1 conv:" + "z" * 5000, id="very-long"),
    pytest.param("Fixes EXAI-1\n\nConversation: not-a-uuid", id="trailer"),
    pytest.param("Fixes EXAI-1\n\nConversation: debb44af", id="trailer-prefix"),
])
def test_a_malformed_conversation_names_the_form_not_an_example(message: str) -> None:
    (error,) = parse(message).errors
    assert error.suggestion is not None and " takes a UUID (8-4-4-4-12 hex digits)" in \
        error.suggestion  # the expected form, not a placeholder to paste
    line = render.note_line("error", error)
    assert "did you mean" not in line and line.endswith(error.suggestion), line
    said = error.text + error.reason + error.suggestion
    written = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", message))
    assert set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", said)) <= written  # none invented
    assert len(error.reason) < 200


# --------------------------------------------------------------------------- reverts

SHA1 = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("message, actions, reverts, merges", [
    pytest.param(f'Revert "Fixes EXAI-1 step 3"\n\nThis reverts commit {SHA1}.', [], (SHA1,), (),
                 id="revert"),
    pytest.param(f'Reapply "Fixes EXAI-1 step 3"\n\nThis reverts commit {SHA1}.', [], (SHA1,), (),
                 id="reapply"),
    pytest.param(f'Revert "Revert "Fixes EXAI-1""\n\nThis reverts commit {SHA1}.', [], (SHA1,),
                 (), id="revert-of-a-revert-old-git"),
    pytest.param(f'Revert "Merge branch \'x\'"\n\nThis reverts commit {SHA1}, reversing\n'
                 f"changes made to {SHA2}.", [], (SHA1,), (MergeRevert(SHA1, SHA2),),
                 id="merge-as-git-writes-it"),
    pytest.param(f"Revert a merge\n\nThis reverts commit {SHA1}, reversing changes made to "
                 f"{SHA2}.", [], (SHA1,), (MergeRevert(SHA1, SHA2),), id="merge-on-one-line"),
    pytest.param(f"Revert\n\nThis reverts commit {SHA1.upper()}, reversing\nchanges made to "
                 f"{SHA2[:7]}.", [], (SHA1,), (MergeRevert(SHA1, SHA2[:7]),),
                 id="merge-short-parent"),
    pytest.param(f'Revert "Fixes EXAI-1"\n\nThis reverts commit {SHA1}.\n\nRefs EXAI-2',
                 [A(2, "ref")], (SHA1,), (), id="revert-with-its-own-marker"),
    pytest.param(f'Squash (#3)\n\n* Revert "Fixes EXAI-1 step 3"\n\nThis reverts commit {SHA1}.',
                 [], (SHA1,), (), id="revert-quoted-in-a-squash"),
    pytest.param(f'Squash (#4)\n\n* Reapply "Refs EXAI-2"\n\nThis reverts commit {SHA1}.', [],
                 (SHA1,), (), id="reapply-quoted-in-a-squash"),
    pytest.param('Revert the parser change for EXAI-1', [], (), (), id="not-a-git-revert"),
    pytest.param(f"Text: this reverts commit {SHA1}.", [], (), (), id="not-at-a-line-start"),
])
def test_reverts(message: str, actions: list[Action], reverts: tuple[str, ...],
                 merges: tuple[MergeRevert, ...]) -> None:
    parsed = parse(message)
    assert list(parsed.actions) == actions
    assert parsed.reverts == reverts
    assert parsed.merge_reverts == merges


def test_a_quoted_revert_subject_is_reported_as_ignored() -> None:
    for word in ("Revert", "Reapply", "* Revert", "- Reapply"):
        parsed = parse(f'{word} "Fixes EXAI-1 step 3"\n\nThis reverts commit {SHA1}.')
        assert [(n.issue, n.reason.split(":")[0]) for n in parsed.ignored] == [(1, "revert")]


# --------------------------------------------------------------------------- squash merges
# A server-side squash quotes each squashed commit as a bullet: its markers count, once.

@pytest.mark.parametrize("message, actions", [
    pytest.param("Add retries (#12)\n\n* Fixes EXAI-1 step 3\n\n* Refs EXAI-2\n",
                 [A(1, "fix", (3,)), A(2, "ref")], id="github-bullets"),
    pytest.param("Fixes EXAI-1 step 3 (#12)\n\n* Fixes EXAI-1 step 3\n",
                 [A(1, "fix", (3,))], id="title-repeats-the-only-commit"),
    pytest.param("Squash (#12)\n\n* Fixes EXAI-1 step 3\n\n* wip\n\n* Fixes EXAI-1 step 3\n",
                 [A(1, "fix", (3,))], id="same-marker-in-two-commits"),
    pytest.param("Squash (#12)\n\n* Fixes EXAI-1 step 3\n* Fixes EXAI-1 step 4\n",
                 [A(1, "fix", (3,)), A(1, "fix", (4,))], id="different-steps-both-count"),
    pytest.param(f"Squash (#12)\n\n* Fixes EXAI-1 step 3\n\nConversation: {U}\n\n"
                 "* Fixes EXAI-1 step 3\n", [A(1, "fix", (3,), U)], id="with-a-trailer"),
    pytest.param(f"Squash (#12)\n\n* Fixes EXAI-1 conv:{U}\n\n* Fixes EXAI-1 conv:{V}\n",
                 [A(1, "fix", (), U), A(1, "fix", (), V)], id="two-conversations-both-count"),
    pytest.param("Squash (#12)\n\n- Fixes EXAI-1\n- Starts EXAI-3 step 2\n",
                 [A(1, "fix"), A(3, "progress", (2,))], id="dash-bullets"),
    pytest.param("Squash (#12)\n\n* This does not fix EXAI-1\n", [], id="negated-in-a-bullet"),
])
def test_squash_messages(message: str, actions: list[Action]) -> None:
    parsed = parse(message)
    assert list(parsed.actions) == actions
    assert parsed.errors == ()


# --------------------------------------------------------------------------- properties


def check_well_formed(text: str, parsed: Parsed) -> None:
    """What holds for any message: every action and note points at a line of it and at text
    written there, every action's issue was named by a key, and the result is JSON."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for a in parsed.actions:
        assert 1 <= a.line <= len(lines) and a.text in lines[a.line - 1]
        assert re.search(rf"(?i)exai-0*{a.issue}(?!\d)", a.text)
        assert a.action in ("fix", "progress", "ref", "verify", "reopen")
        assert list(a.steps) == sorted(set(a.steps)) and all(s >= 1 for s in a.steps)
    for n in parsed.ignored + parsed.warnings + parsed.errors:
        assert 0 <= n.line <= len(lines) and n.reason
    json.dumps(parsed.to_json())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses(text: str) -> None:
    check_well_formed(text, parse(text))


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_bytes_from_a_file_parse(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    check_well_formed(text, parse(text))


# Pieces that sit at the edges of the grammar's rules: separators, qualifiers, odd whitespace,
# numbers too long or with a leading zero, other keys, comment and quote starts, trailers,
# fences, reverts, letters re reads case-insensitively as ASCII ones (ſ, ı), line breaks.
TOKENS = ["Fixes", "fix", "Refs", "re", "see", "Partially", "partly", "half-", "half", "for",
          "not", "n't", "EXAI", "EXAI-", "exai-", "EXAı-", "BUG-", "-", "1", "2", "12", "0", "01",
          "999999999", "1234567890", " ", " ", "  ", "\t", "\x0b", "\x1c", ":", ",", ", and ",
          " and ", ".", "..", "step", "steps", "stpe", " conv:", " conversation=", U,
          U.upper(), U + "a", "Conversation:", "EXAI-conversation:", "\n", "\n", "\n", "#",
          ";", ">", 'Revert "', 'Reapply "', "* ", "This reverts commit abc1234",
          ", reversing\nchanges made to def5678", "```", "_", "x", "!", "work on", "ſee", "wıp",
          "part of the fix for", "-3", "1-3", "3-1", ", 5", "2000", "İ", "\r", "prefixes",
          "conversation", "behalf-fixes", "’"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from(["#", ";", None]),
       st.sampled_from(["EXAI", "exai", "BUG", "E"]), st.sampled_from([None, U, "nonsense"]))
def test_token_soup_parses(tokens: list[str], cc: str | None, prefix: str,
                           env: str | None) -> None:
    message = "".join(tokens)
    parsed = parse(message, prefix=prefix, comment_char=cc, env_conversation=env)
    if prefix.upper() == "EXAI":
        check_well_formed(message, parsed)
    else:
        json.dumps(parsed.to_json())


def test_verbs_spelt_with_letters_re_folds() -> None:
    # re reads ſ as s and ı as i: such a verb is read as the verb it spells (it used to crash)
    assert parse("ſee EXAI-1").actions == (A(1, "ref"),)
    assert parse("wıp EXAI-2").actions == (A(2, "progress"),)


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
    # the same request written twice is one action (Actions compare without text and line)
    expected = list(dict.fromkeys(a for _, actions in lines for a in actions))
    parsed = parse(message)
    assert parsed.errors == ()
    assert list(parsed.actions) == expected


# --------------------------------------------------------------------------- long lines
# Lines shaped to make a parser backtrack or rescan (bench B1 times them at 1 MB).


def test_a_line_of_many_markers() -> None:
    parsed = parse("".join(f"see EXAI-{n} " for n in range(1, 3001)))
    assert [a.issue for a in parsed.actions] == list(range(1, 3001))
    assert {a.action for a in parsed.actions} == {"ref"}
    assert parse("see EXAI-1 " * 3000).actions == (A(1, "ref"),)  # one request, written often


def test_a_line_of_many_near_misses() -> None:
    parsed = parse("fix for EXAI-1 " * 2000)
    assert parsed.actions == () and len(parsed.warnings) == 2000


def test_a_long_word_before_a_marker() -> None:
    assert parse("e" * 200_000 + " Fixes EXAI-1").actions == (A(1, "fix"),)
    # the same word ending in n't negates the marker after it
    negated = parse("a" * 200_000 + "n't fix EXAI-1")
    assert negated.actions == () and [n.reason for n in negated.ignored] == ["negated"]


def test_many_qualifiers_before_a_marker() -> None:
    parsed = parse("Partially " * 20_000 + "fixes EXAI-1")
    assert parsed.actions == (A(1, "ref"),)
    assert [n.reason for n in parsed.ignored] == ["partial: recorded as a reference, not a fix"]


@pytest.mark.parametrize(("text", "issues"), [
    pytest.param("x" + " " * 200_000 + "EXAI-1 EXAI-2", set(), id="spaces-before-two-keys"),
    pytest.param("Fixes EXAI-1 step" + " " * 200_000 + "x", {1}, id="step-then-spaces"),
    pytest.param("Fixes EXAI-1 conv" + " " * 200_000 + "x", {1}, id="conv-then-spaces"),
    pytest.param("fix" + " " * 200_000 + "x EXAI-2", set(), id="verb-then-spaces"),
    pytest.param("Fixes EXAI-1" + "\t" * 200_000 + "and x", {1}, id="tabs-then-and"),
    pytest.param("Fixes EXAI-1 (" + " " * 200_000 + "x", {1}, id="bracket-then-spaces"),
    pytest.param("Fixes EXAI-2\n" + " " * 200_000 + "Conversation:" + " " * 200_000 + "x",
                 {2}, id="trailer-spaces"),
])
def test_a_run_of_whitespace_is_read_once(text: str, issues: set[int]) -> None:
    """A run of spaces where a marker's parts may be is read once, not again from each of its
    characters (the whitespace in the patterns is possessive): at 200,000 spaces the quadratic
    reading took hours; these parse as the rest of the suite does."""
    parsed = parse(text)
    assert {a.issue for a in parsed.actions} == issues, parsed.actions


def test_a_key_spelt_like_and_is_read_alike_in_a_list() -> None:
    """With prefix AND, `, AND-2` is the list's next key, not `, and` followed by -2."""
    for text in ("Fixes AND-1, AND-2", "Fixes AND-1, AND-2.", "Fixes AND-1, AND-2 step 3"):
        parsed = parse(text, prefix="AND")
        assert {a.issue for a in parsed.actions} == {1, 2}, (text, parsed)
