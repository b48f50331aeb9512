"""The quick readings say exactly what the whole walk says.

markers.parse reads the lines most keys are in in one match (plain.read_quick: a plain
marker, a mention), a good Conversation trailer in one match, and a message whose only line
of note is one good trailer not at all. markers._parse_whole reads every message line by
line through the whole grammar (grammar.read_line) alone. Every result (actions with their
text and line, ignored mentions, warnings, errors, reverts) must be the same, whatever the
message: these properties feed them the shapes of bench B1's corpus, MARKERS.md's near
misses, and the text around them (case, spacing, colons, Unicode, CRLF, comments, quotes,
fences, reverts, other prefixes)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exai_git import markers
from exai_git.grammar import Collected, parse_line, read_line
from exai_git.markers import Parsed, parse
from exai_git.plain import read_quick
from exai_git.vocabulary import LAST_WORDS, VERB_ACTION, patterns
from tests.test_markers import CASES, TOKENS, U, V


def shape(parsed: Parsed) -> tuple[Any, ...]:
    """Everything parse says, the text and line of each action too (Actions compare without)."""
    return (tuple(tuple(a) for a in parsed.actions), parsed.ignored, parsed.warnings,
            parsed.errors, parsed.reverts, parsed.merge_reverts)


def same(message: str, **kw: Any) -> None:
    quick = parse(message, **kw)
    assert shape(quick) == shape(markers._parse_whole(message, **kw)), message
    assert shape(quick) == shape(parse(message, **kw))  # no state kept between messages


# --------------------------------------------------------------------------- one line
# grammar.parse_line reads a plain marker or a mention in one match (plain.read_quick); every
# line must read exactly as the whole grammar (grammar.read_line) reads it, and the lines near
# those shapes (other spacing, case, colons, a second key, numbers out of range, the words
# that end a verb or misspell one) must too.

_VERB_WORDS = sorted(VERB_ACTION)
_spaces = st.sampled_from(["", " ", "  ", "\t", " \t "])


def _spelt(verb: str, draw: st.DrawFn) -> str:
    word_gap = draw(st.sampled_from([" ", "  ", "\t"]))
    spelt = word_gap.join(verb.split())
    return "".join(c.upper() if draw(st.booleans()) else c for c in spelt)


@st.composite
def _plain_marker_lines(draw: st.DrawFn) -> tuple[str, str]:
    prefix = draw(st.sampled_from(["EXAI", "FIX", "E", "ABC", "X-Y", "AND"]))
    verb = _spelt(draw(st.sampled_from(_VERB_WORDS + ["fix for"])), draw)
    qualifier = draw(st.sampled_from(["", "", "Partially ", "partly  ", "Half ", "half-",
                                      "half -", "partially-", "Partially\t", "not "]))
    gap = draw(st.sampled_from([" ", ": ", " : ", ":", "", "  ", " :", "\t"]))
    numbers = st.sampled_from(["1", "7", "0", "007", "2147483647", "2147483648",
                               "999999999999", "1234567890123"])
    keys = st.sampled_from([prefix, prefix.lower(), prefix.title()])
    line = draw(_spaces) + qualifier + verb + gap + f"{draw(keys)}-{draw(numbers)}"
    for _ in range(draw(st.integers(0, 3))):
        sep = draw(st.sampled_from([", ", ",", " and ", ", and ", " & ", "and", " , ", " or "]))
        line += sep + f"{draw(keys)}-{draw(numbers)}"
    if draw(st.booleans()):
        line += draw(st.sampled_from([" step ", " steps ", " Step: ", "  step", " step 0"])) + (
            draw(st.sampled_from(["3", "0", "12", "1-3", "1-3, 5", "1,2", "3-1", "1 - 2", "1..3",
                                  "4,", "2147483648", "1-2000", "2, 2", "1 and 2", "5-5"])))
    if draw(st.booleans()):
        uuid = draw(st.sampled_from([U, U.upper(), U[:-1], U + "."]))
        line += draw(st.sampled_from([" conv:", " conversation=", " Conv: ", "conv:"])) + uuid
    line += draw(st.sampled_from(["", " ", "\t", " and more", f" {draw(keys)}-2", ", EXAI-3"]))
    return line, prefix


# The words before a key: every last word of a verb, misspelt verbs, words that start as a
# verb does, and words no verb ends with or starts as.
_WORDS_BEFORE = sorted(LAST_WORDS) + [
    "the", "in", "about", "per", "issue", "Update docs for", "Discussed in", "see the", "x",
    "Fxes", "Fixess", "Closs", "Strat", "Verfy", "Reopn", "Rsolved", "completee", "fixing",
    "s", "re-", "half-", "half", "Partially", "not", "don't", "wasn't", "ſee", "wıp",
    "Prefixes", "a" * 14, "fixesfixesfixes", "toward", "twoards", "on", "of", "to", "for",
    "fix for", "work on", "part of the fix for", "addresses", "wip", "dress"]


@st.composite
def _mention_lines(draw: st.DrawFn) -> tuple[str, str]:
    prefix = draw(st.sampled_from(["EXAI", "FIX", "E", "ABC", "RE", "AND"]))
    keys = st.sampled_from([prefix, prefix.lower(), prefix.title()])
    lead = draw(st.sampled_from(["", "", "See the ", "(", "x", "1", "_", "-", "> ", "* ",
                                 "# ", "Revert \"", "This reverts commit abc1234 ", "Done. ",
                                 "Not now, ", "é ", "K ", "conversation ", "Conversation: ",
                                 f"{prefix}-Conversation: "]))
    word = draw(st.sampled_from(_WORDS_BEFORE + [""]))
    word = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    gap = draw(st.sampled_from(["", " ", "  ", ":", ": ", " : ", "\t", "::", " :: ", "\x0b",
                                "\x1c", " (", "(", "-", "_", "\u00a0", "#"]))
    number = draw(st.sampled_from(["1", "12", "0", "007", "2147483648", "1234567890123", "x",
                                   ""]))
    sep = draw(st.sampled_from(["-", "-", "-", " ", "", "_", "- "]))
    after = draw(st.sampled_from(["", "", " discussion for context.", ".", ")", "x", "_2", "-3",
                                  ", EXAI-2", " and EXAI-3", f" {prefix}-4", " step 3",
                                  " steps 1-3", " (step 4)", ": step 2", " stpe 3",
                                  f" (conv:{U})", f" conv:{U}", " is related", ": done",
                                  f" {prefix}", " é", " for fix"]))
    return lead + word + gap + draw(keys) + sep + number + after, prefix


def _read(line: str, prefix: str, whole: bool) -> tuple[list[Any], ...]:
    out = Collected()
    low = line.lower() if line.isascii() else None
    if whole:
        read_line(line, 4, prefix, out, low, patterns(prefix))
    else:
        parse_line(line, 4, prefix, out)
    return ([tuple(a) for a in out.actions], out.ignored, out.warnings, out.errors)


@settings(max_examples=3000, deadline=None)
@given(_plain_marker_lines())
def test_a_plain_marker_line_reads_as_the_whole_grammar_reads_it(case: tuple[str, str]) -> None:
    line, prefix = case
    assert _read(line, prefix, whole=False) == _read(line, prefix, whole=True), line


@settings(max_examples=3000, deadline=None)
@given(_mention_lines())
def test_a_mention_line_reads_as_the_whole_grammar_reads_it(case: tuple[str, str]) -> None:
    line, prefix = case
    assert _read(line, prefix, whole=False) == _read(line, prefix, whole=True), line


def test_lines_at_the_edges_of_the_one_match_reading() -> None:
    for line in (f"Fixes EXAI-1, EXAI-2 conv:{U}", "Fixes EXAI-1 and EXAI-2 steps 1-3",
                 f"Fixes EXAI-1 & EXAI-2 step 3 conv:{U}", "Fixes EXAI-1, EXAI-2, EXAI-1",
                 f"Partially fixes EXAI-1, EXAI-2 conv:{U}", "part of the fix for EXAI-3, EXAI-4",
                 "Part  of the  fix for EXAI-3", "half-fixes EXAI-1 steps 1-3, 5",
                 "half - fixes EXAI-1", "partially-fixes EXAI-1", "Partially not fixes EXAI-1",
                 "Fixes EXAI-1 steps 1-3, 2147483648", "Fixes EXAI-1 steps 1-1001",
                 "Fixes EXAI-1 steps 1-1000", "Fixes EXAI-1 step 2147483647",
                 "Fixes EXAI-1 step 2147483648", "Fixes EXAI-2147483647, EXAI-2147483648",
                 "Fixes EXAI-0, EXAI-1", "Fixes EXAI-1 step 1 step 2", f"Fixes EXAI-1 conv:{U}.",
                 "Fixes: EXAI-1 Fixes: EXAI-2", "fixes exai-1 steps 3 , 4 ,5", "Fixes EXAI-1  "):
        for prefix in ("EXAI", "FIX", "E"):
            assert _read(line, prefix, whole=False) == _read(line, prefix, whole=True), line


def test_the_one_match_reading_reads_the_lines_most_keys_are_in() -> None:
    """The properties above would hold with no one-match reading at all: this says it reads."""
    p = patterns("EXAI")
    for line in ("Fixes EXAI-12 step 5 conv:debb44af-15b9-456d-9b88-6a2519f81427", "Refs EXAI-1",
                 "  work  on: exai-3 ", "Closes EXAI-2 Step: 4", "Fix EXAI-1, EXAI-2 and EXAI-3",
                 "Fixes EXAI-1 steps 1-3, 5", "Partially fixes EXAI-1", "half-fixes EXAI-2",
                 "See the EXAI-12 discussion for context.", "EXAI-4 is related", "(EXAI-5)",
                 "Docs about EXAI-4", "Discussed in: EXAI-6"):
        out = Collected()
        assert read_quick(line, 0, 1, out.actions, out.ignored, line.lower(), p), line
        assert out.actions or out.ignored
    for line in ("Fixes EXAI-1, EXAI-2 step 3", "Fixes EXAI-0", "Fixes EXAI-1 step 1..3",
                 "Fix for EXAI-1", "Don't fix EXAI-1", "Fxes EXAI-1", "See EXAI-1, then EXAI-2",
                 "> see the EXAI-1 notes", "EXAI-Conversation: EXAI-1", "EXAI 1", "I fix EXAI-1 here"):
        assert not read_quick(line, 0, 1, [], [], line.lower(), p), line


# --------------------------------------------------------------------------- whole messages

# bench B1's corpus: its subjects and bodies, and the table of test_markers.py
_SUBJECTS = ["Refactor provider setup", "Fix typo in README", "Merge branch 'main' into x",
             "Fixes EXAI-12 step 5 conv:debb44af-15b9-456d-9b88-6a2519f81427", "Refs EXAI-3",
             "Partially fixes EXAI-7", "Starts EXAI-9", "Fix EXAI-1, EXAI-22 and EXAI-333",
             "Fixes EXAI-4 steps 1-3, 6"]
_BODIES = ["", "Longer explanation of the change.\n\nIt touches several modules.",
           "Signed-off-by: A Dev <a@example.com>", "See the EXAI-12 discussion for context.",
           f"Co-authored-by: B Dev <b@example.com>\nConversation: {V}"]
# MARKERS.md's near misses, errors and ignored lines, trailers and reverts
_LINES = [
    "Fixes EXAI 1", "Fixes EXAI1", "Fixes EXAI-1 stpe 3", "Fix for EXAI-1", "Fxes EXAI-9 step 2",
    "Fixes EXAI-2 (step 4)", "Fixes EXAI-1: step 2", f"Fixes EXAI-1 (conv:{U})",
    "Fixes EXAI-1 conv:debb44af", "Fixes EXAI-1 step 0", "Fixes EXAI-1 steps 5-3",
    "This does not fix EXAI-1", "Don't fix EXAI-1, fix EXAI-2", "Partially fixes EXAI-1",
    "part of the fix for EXAI-2", "see the EXAI-4 discussion", "EXAI-4 is related",
    "# Fixes EXAI-1", "; Refs EXAI-2", "> Fixes EXAI-1", "```", "~~~", "Fixes EXAI-1.",
    "# ------------------------ >8 ------------------------",
    "; ------------------------ >8 ------------------------",
    f"Conversation: {U}", f"Conversation: {V}", f"conversation:{U}.", f"EXAI-Conversation: {U}",
    "Conversation: debb44af", "Conversation:", "  Conversation :  " + U.upper() + "  ",
    "# Conversation: nonsense", "the conversation about EXAI-3", "conversation with the team",
    'Revert "Fixes EXAI-1 step 3"', "This reverts commit 0123456789abcdef.",
    "This reverts commit 0123456, reversing", "changes made to abcdef1.",
    '* Reapply "Refs EXAI-2"', "- This reverts commit abcdef0.", "Fixes: EXAI-2",
    "✅ Fixes EXAI-1 — done", "naïve fix: Refs EXAI-9", "ſee EXAI-1", "Fixes EXAI-１", "",
    "Fixes MYEXAI-1", "Prefixes EXAI-1", "Refs exai-1, Exai-2", "Fixes BUG-3", "fix bug-4",
    # what is read before the grammar, on a line the quick reading would read as a mention
    "# see the EXAI-4 discussion", "; EXAI-4 is related", "* (EXAI-4)", "conversation EXAI-5",
    "closes the EXAI-6 thread", "This reverts commit 0123456 (the EXAI-5 fix).",
    "- This reverts commit abcdef0 (EXAI-6)", 'Revert "Docs about EXAI-3"',
    'Reapply "Docs about EXAI-3"', '* Revert "(EXAI-3)"', '- Reapply "the EXAI-3 docs"',
    "> the EXAI-7 notes", "   > (EXAI-7)", f"EXAI-Conversation: {U} EXAI-1",
    "EXAI-Conversation: EXAI-8", "Conversation: (EXAI-2)", "EXAI-Conversation: (BUG-1)",
    "bug-conversation: (BUG-3)", "E-Conversation: [E-4]",
]
_CASED = [str, str.upper, str.lower, str.title, str.swapcase]


@st.composite
def _messages(draw: st.DrawFn) -> str:
    line = st.one_of(st.sampled_from(_BODIES + _LINES + _SUBJECTS),
                     _mention_lines().map(lambda case: case[0]),
                     _plain_marker_lines().map(lambda case: case[0]))
    lines = [draw(st.sampled_from(_SUBJECTS + _LINES)), ""]
    lines += draw(st.lists(line, max_size=6))
    lines = [draw(st.sampled_from(_CASED))(line) if draw(st.integers(0, 3)) == 0 else line
             for line in lines]
    return draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])).join(lines)


_PREFIX = st.sampled_from(["EXAI", "exai", "BUG", "E", "FIX", "X-Y", "AND"])
_COMMENT = st.sampled_from(["#", ";", None, "c", "C", "*"])
_ENV = st.sampled_from([None, U, "nonsense"])


@settings(max_examples=3000, deadline=None)
@given(_messages(), _PREFIX, _COMMENT, _ENV)
def test_a_message_reads_as_the_whole_walk_reads_it(message: str, prefix: str,
                                                    cc: str | None, env: str | None) -> None:
    same(message, prefix=prefix, comment_char=cc, env_conversation=env)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), _PREFIX, _COMMENT, _ENV)
def test_token_soup_reads_as_the_whole_walk_reads_it(tokens: list[str], prefix: str,
                                                     cc: str | None, env: str | None) -> None:
    same("".join(tokens), prefix=prefix, comment_char=cc, env_conversation=env)


@settings(max_examples=300, deadline=None)
@given(st.text(), _PREFIX, _COMMENT, _ENV)
def test_any_text_reads_as_the_whole_walk_reads_it(text: str, prefix: str, cc: str | None,
                                                   env: str | None) -> None:
    same(text, prefix=prefix, comment_char=cc, env_conversation=env)


def test_the_tables_read_as_the_whole_walk_reads_them() -> None:
    for message, _ in CASES:
        same(message)
        same(message, comment_char=None, env_conversation=U)


def test_the_corpus_reads_as_the_whole_walk_reads_it() -> None:
    for subject in _SUBJECTS:
        for body in _BODIES:
            same(subject + "\n\n" + body)
            same((subject + "\n\n" + body).replace("\n", "\r\n"), env_conversation=U)


def test_hostile_lines_read_as_the_whole_walk_reads_them() -> None:
    for message in ("e" * 5000 + " Fixes EXAI-1", ("a" * 200 + "n't fix EXAI-1 ") * 25,
                    "see EXAI-1 " * 500, "".join(f"see EXAI-{k} " for k in range(1, 400)),
                    "fix refs work on " * 300 + "EXAI-1", "fix for EXAI-1 " * 300,
                    "Partially " * 500 + "fixes EXAI-1", "Fixes EXAI-1 steps " + "1, " * 2000,
                    "Fixes EXAI-1" + "," * 5000, " " * 5000 + "EXAI-1", "fix" + " " * 5000 + "EXAI-2",
                    ": " * 3000 + "EXAI-3", "the" + " :" * 3000 + " EXAI-4"):
        same(message)


def test_one_good_trailer_is_read_without_walking() -> None:
    message = f"Tidy imports\n\nCo-authored-by: B Dev <b@example.com>\nConversation: {V}"
    assert markers._one_good_trailer(message, message.lower(), "EXAI", "#")
    assert parse(message) == Parsed()
    for other in (message + "\nConversation: " + U, message.replace(V, "debb44af"),
                  message.replace("Conversation", "# Conversation")):
        assert not markers._one_good_trailer(other, other.lower(), "EXAI", "#"), other
        same(other)
