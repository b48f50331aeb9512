"""The marker language (MARKERS.md): commit message text -> actions. Pure, no I/O.

`parse(text)` returns the actions a message asks for, the mentions it ignores (with the
reason), warnings for near misses (with a suggestion), errors for malformed markers and the
commits it reverts. The commit-msg check, `exai-git parse` and the apply engine all use this
one parser: it decides which lines count (comments, quotes, code fences, the scissors line,
revert subjects), reads trailers and reverts, and hands each other line naming the key to the
one-line grammar (grammar.py). Linear in the message's length on any input.

The lines most messages hold (a plain marker, a mention, a Conversation trailer) are read in
one match each, and a message whose one line of note is a good trailer is not walked at all;
_parse_whole reads every line the whole way, and must say exactly what parse() says.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from exai_git import nearmiss
from exai_git.grammar import Collected, parse_line, read_line
from exai_git.plain import read_quick
from exai_git.vocabulary import (
    ACTIONS,
    UUID_RE,
    VERBS,
    Action,
    Note,
    Patterns,
    new_tuple,
    patterns,
)

__all__ = ["ACTIONS", "SCISSORS", "UUID_RE", "VERBS", "Action", "MergeRevert", "Note",
           "Parsed", "describe", "parse"]

SCISSORS = " ------------------------ >8 ------------------------"
# git's revert messages, also as a squash message quotes them (a bullet before the subject):
# `Revert "<subject>"` (`Reapply "<subject>"` for a revert of a revert, git 2.43 and later),
# then `This reverts commit <sha>.`, or for a merge `This reverts commit <sha>, reversing
# changes made to <parent>.` (git breaks that line after "reversing").
_SHA = r"[0-9a-fA-F]{7,64}"
_REVERT_SUBJECT = re.compile(r'(?:[*-][ \t]+)?(?:Revert|Reapply) "')
_REVERT_BODY = re.compile(
    rf"(?:[*-][ \t]+)?This reverts commit ({_SHA})\b"
    rf"(?:,[ \t]*\n?[ \t]*reversing[ \t]*\n?[ \t]*changes made to[ \t]*\n?[ \t]*({_SHA})\b)?")
_FENCE = re.compile(r"\s{0,3}(```|~~~)")


class MergeRevert(NamedTuple):
    """`This reverts commit <merge>, reversing changes made to <mainline>.`: the revert of a
    merge, which undoes what the merge brought in beside its parent `mainline` (M^1..M when
    mainline is the first parent)."""

    merge: str
    mainline: str


class Parsed(NamedTuple):
    actions: tuple[Action, ...] = ()
    ignored: tuple[Note, ...] = ()
    warnings: tuple[Note, ...] = ()
    errors: tuple[Note, ...] = ()
    reverts: tuple[str, ...] = ()  # every sha named by "This reverts commit <sha>", merges too
    merge_reverts: tuple[MergeRevert, ...] = ()  # those of reverts that are merges

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "ignored": [n.to_json() for n in self.ignored],
            "warnings": [n.to_json() for n in self.warnings],
            "errors": [n.to_json() for n in self.errors],
        }


@functools.lru_cache(maxsize=16)
def _setup(prefix: str, comment_char: str | None) -> tuple[str, str | None, Patterns]:
    """The key (prefix in upper case), the scissors line and the grammar's patterns."""
    key = prefix.upper()
    return key, comment_char + SCISSORS if comment_char else None, patterns(key)


@functools.lru_cache(maxsize=16)
def _names(key: str) -> re.Pattern[str]:
    """What makes a line worth reading: the key, a revert or a trailer (as the grammar's
    case-insensitive patterns read them; an ASCII line is tested with lower())."""
    return re.compile(rf"{re.escape(key)}|reverts commit|conversation", re.IGNORECASE)


class _Message(Collected):
    """What a message holds beside its lines' markers: reverts and the trailer's conversation."""

    __slots__ = ("reverts", "trailer_conv")

    def __init__(self, actions: list[Action], ignored: list[Note]) -> None:
        self.actions = actions
        self.ignored = ignored
        self.warnings: list[Note] = []
        self.errors: list[Note] = []
        # every revert: the sha it names, and the mainline when it reverts a merge
        self.reverts: list[tuple[str, str | None]] = []
        self.trailer_conv: str | None = None  # the first good Conversation trailer


# Why a line is ignored, as found while walking the message.
_CODE, _SCISSORED = "code block", "below the scissors line"
_REVERT_NOTE = "revert: a revert undoes, it never re-applies"


def parse(
    text: str,
    *,
    prefix: str = "EXAI",
    comment_char: str | None = "#",
    env_conversation: str | None = None,
) -> Parsed:
    """The actions, ignored mentions, warnings, errors and reverts of a commit message."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not (text.isascii() and prefix.isascii()):
        return _finish(_walk(text, prefix.upper(), comment_char, None), env_conversation)
    # Most messages name no key, trailer or revert: nothing to read (a substring test;
    # beyond ASCII, case-insensitive matching is the regex's to decide).
    lowered = text.lower()
    k = prefix.lower()
    if k not in lowered and "reverts commit" not in lowered and (
            "conversation" not in lowered or _one_good_trailer(text, lowered, prefix,
                                                               comment_char)):
        return _NOTHING
    key, scissors, p = _setup(prefix, comment_char)
    if "```" in text or "~~~" in text or scissors and scissors in text:
        return _finish(_walk(text, key, comment_char, lowered.split("\n")), env_conversation)
    # No fence and no scissors line: every line is read on its own, and only the lines
    # naming the key, a trailer or a revert are looked at (_walk's reading, only cheaper:
    # the lines most keys and trailers are in are read in one match each, and a message of
    # plain markers and mentions alone is made without the walk's state).
    actions: list[Action] = []
    ignored: list[Note] = []
    out: _Message | None = None  # the walk's state, once a line needs it
    at = 0
    for number, low in enumerate(lowered.split("\n"), 1):
        end = at + len(low)
        if k in low:
            # read_quick reads no quote, revert or trailer: a line it reads is _visit's
            # but for the comment, and is read as _visit would read it. A line it does not
            # read is the whole grammar's (it is not tried twice).
            if comment_char and text.startswith(comment_char, at, end) or not read_quick(
                    text, at, number, actions, ignored, low, p):
                out = out or _Message(actions, ignored)
                _visit(out, text, at, number, text[at:end], key, comment_char, low, True)
        elif "conversation" in low:
            out = out or _Message(actions, ignored)
            trailer = p.conversation.match(low)
            if trailer is None or comment_char and text.startswith(comment_char, at, end):
                _visit(out, text, at, number, text[at:end], key, comment_char, low)
            else:
                _trailer(out, number, text[at:end], trailer.group(1))
        elif "reverts commit" in low:
            out = out or _Message(actions, ignored)
            _visit(out, text, at, number, text[at:end], key, comment_char, low)
        at = end + 1
    if out is not None or env_conversation or len(actions) > 1:
        return _finish(out or _Message(actions, ignored), env_conversation)
    # what _finish makes of plain markers and mentions alone: no warning, error, revert or
    # conversation to give an action, and no action written twice
    return new_tuple(Parsed, (tuple(actions), tuple(ignored), (), (), (), ()))


def _one_good_trailer(text: str, lowered: str, prefix: str, comment_char: str | None) -> bool:
    """Whether the one line of an ASCII message (lowered: in lower case) that says
    `conversation` is a good Conversation trailer. In a message naming no key and no revert,
    only a trailer can say something (that it is malformed, or a second one): then it says
    nothing, wherever the line is (a comment, in a code block or below the scissors line, it
    says nothing either)."""
    at = lowered.find("conversation")
    if lowered.find("conversation", at + 12) >= 0:
        return False
    start = lowered.rfind("\n", 0, at) + 1
    end = lowered.find("\n", at)
    if end < 0:
        end = len(lowered)
    return _setup(prefix, comment_char)[2].conversation.match(lowered, start, end) is not None


def _parse_whole(
    text: str,
    *,
    prefix: str = "EXAI",
    comment_char: str | None = "#",
    env_conversation: str | None = None,
) -> Parsed:
    """parse() by the whole walk alone: every line by _walk and the whole grammar
    (grammar.read_line), no line read in one match. parse() must say exactly what this says
    (tests/test_markers_quick.py holds it to that)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _finish(_walk(text, prefix.upper(), comment_char, None, whole=True),
                   env_conversation)


def _walk(text: str, key: str, comment_char: str | None, lows: list[str] | None,
          whole: bool = False) -> _Message:
    """Every line of a message, as git leaves it (comments, fences, the scissors line) and as
    a revert, a trailer or the grammar reads it. lows: the lines in lower case, when the
    message is ASCII. whole: every line by the whole grammar (read_line)."""
    out = _Message([], [])
    k = key.lower()
    scissors = comment_char + SCISSORS if comment_char else None
    fences = "```" in text or "~~~" in text
    in_fence = below_scissors = False
    names = _names(key)
    at = 0
    low: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        start, at = at, at + len(line) + 1
        if lows is not None:
            low = lows[number - 1]
            matters = k in low or "conversation" in low or "reverts commit" in low
        elif line.isascii():
            low = line.lower()
            matters = k in low or "conversation" in low or "reverts commit" in low
        else:
            low, matters = None, names.search(line) is not None
        if below_scissors:
            reason: str | None = _SCISSORED
        elif line == scissors:
            below_scissors, reason = True, None
        elif fences and _FENCE.match(line):
            in_fence, reason = not in_fence, _CODE
        else:
            reason = _CODE if in_fence else None
        if not matters:
            continue
        if reason is not None:
            _ignore(out, number, line, key, reason)
        elif not below_scissors:
            _visit(out, text, start, number, line, key, comment_char, low, whole)
    return out


def _ignore(out: Collected, number: int, line: str, key: str, reason: str) -> None:
    for m in patterns(key).issue.finditer(line):
        out.ignored.append(Note(number, m.group(0), reason, int(m.group(1))))


def _visit(out: _Message, text: str, at: int, number: int, line: str, key: str,
           comment_char: str | None, low: str | None, whole: bool = False) -> None:
    """One line that can matter (it starts at text[at]), outside fences and scissors. whole:
    by the whole grammar, not the one-match reading first."""
    if comment_char and line.startswith(comment_char):
        return _ignore(out, number, line, key, "comment")
    if line.lstrip().startswith(">"):
        return _ignore(out, number, line, key, "quoted")
    if '"' in line and _REVERT_SUBJECT.match(line):
        return _ignore(out, number, line, key, _REVERT_NOTE)
    revert = _REVERT_BODY.match(text, at) if "This reverts commit " in line else None
    if revert:
        mainline = revert.group(2)
        out.reverts.append((revert.group(1).lower(), mainline and mainline.lower()))
        return None
    trailer = patterns(key).trailer.match(line) if ":" in line and (
        "conversation" in low if low is not None else not line.isascii()
        or "conversation" in line.lower()) else None
    if trailer:
        value = trailer.group(1).rstrip(".")
        if not UUID_RE.match(value):
            reason, suggestion = nearmiss.trailer_error(value)
            out.errors.append(Note(number, line.strip(), reason, suggestion=suggestion))
        else:
            _trailer(out, number, line, value.lower())
        return None
    if whole:
        read_line(line, number, key, out, low, patterns(key))
    else:
        parse_line(line, number, key, out, low)
    return None


def _trailer(out: _Message, number: int, line: str, conversation: str) -> None:
    """A good Conversation trailer (conversation: its id in lower case): the first applies."""
    if out.trailer_conv is None:
        out.trailer_conv = conversation
    elif out.trailer_conv != conversation:
        out.warnings.append(Note(
            number, line.strip(), "a second Conversation trailer; the first one applies"))


def _finish(out: _Message, env_conversation: str | None) -> Parsed:
    actions = out.actions
    if actions:
        default_conv = out.trailer_conv
        if default_conv is None and env_conversation and any(
                not a.conversation_id for a in actions):  # said only where it would apply
            value = env_conversation.strip()
            if UUID_RE.match(value):
                default_conv = value.lower()
            else:
                out.warnings.append(Note(0, "EXAI_CONVERSATION_ID",
                                         f"EXAI_CONVERSATION_ID {value!r} is not a UUID; ignored"))
        if default_conv:
            actions = [a if a[3] else new_tuple(Action, (a[0], a[1], a[2], default_conv, a[4], a[5]))
                       for a in actions]
        if len(actions) == 1:
            found: tuple[Action, ...] = (actions[0],)
        else:
            # One marker written twice (a squash message quoting a commit whose subject is
            # also the title) asks for one thing: the first is kept (Actions are equal when
            # their first four fields are, whatever their text and line).
            firsts: dict[tuple[Any, ...], Action] = {}
            for a in actions:
                firsts.setdefault(a[:4], a)
            found = tuple(firsts.values())
    elif not (out.ignored or out.warnings or out.errors or out.reverts):
        return _NOTHING
    else:
        found = ()
    ignored, warnings, errors, reverts = out.ignored, out.warnings, out.errors, out.reverts
    return new_tuple(Parsed, (
        found, tuple(ignored) if ignored else (), tuple(warnings) if warnings else (),
        tuple(errors) if errors else (),
        tuple(dict.fromkeys(sha for sha, _ in reverts)) if reverts else (),
        tuple(dict.fromkeys(MergeRevert(sha, mainline) for sha, mainline in reverts if mainline))
        if reverts else ()))


_NOTHING = Parsed()


def describe(action: Action, prefix: str = "EXAI", status: str | None = None,
             was: str | None = None) -> str:
    """A one-line preview of what an action will do; status, when given, is the issue's once
    the action applied (a reopen leaves an issue in progress in progress: MARKERS.md), was
    the issue's before (work started on an issue in progress moves no status)."""
    key = f"{prefix}-{action.issue}"
    steps = ""
    if action.steps:
        noun = "step" if len(action.steps) == 1 else "steps"
        steps = f"{noun} {', '.join(map(str, action.steps))}"
    kind = action.action
    if kind == "fix":
        effect = f"{steps} -> complete" if steps else "-> fixed"
    elif kind == "progress" and was == "in_progress":
        effect = f"{steps + ' -> in_progress ' if steps else ''}(stays in_progress)"
    elif kind == "progress":
        effect = f"-> in_progress{'; ' + steps + ' -> in_progress' if steps else ''}"
    elif kind == "ref":
        effect = "reference (comment)"
    elif kind == "verify":
        effect = "-> verified"
    elif kind == "reopen" and status == "in_progress":
        effect = f"{steps + ' -> pending ' if steps else ''}(stays in_progress)"
    elif kind == "reopen":
        effect = f"-> open{'; ' + steps + ' -> pending' if steps else ''}"
    else:
        raise KeyError(kind)
    conv = ""
    if action.conversation_id:
        conv = f" (conversation {action.conversation_id[:8]}…)"
    return f"{key}: {effect}{conv}"
