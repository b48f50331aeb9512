"""The marker language (MARKERS.md): commit message text -> actions. Pure, no I/O.

`parse(text)` returns the actions a message asks for, the mentions it ignores (with the
reason), warnings for near misses (with a suggestion) and errors for malformed markers.
The commit-msg check, `exai-git parse` and the apply engine all use this one parser.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

ACTIONS = ("fix", "progress", "ref", "verify", "reopen")

VERBS: dict[str, tuple[str, ...]] = {
    "fix": ("fix", "fixes", "fixed", "close", "closes", "closed", "resolve", "resolves",
            "resolved", "complete", "completes", "completed"),
    "progress": ("start", "starts", "started", "wip", "work on", "works on", "working on"),
    "ref": ("ref", "refs", "references", "see", "re", "part of the fix for", "part of",
            "related to", "relates to", "contributes to", "toward", "towards", "addresses"),
    "verify": ("verify", "verifies", "verified"),
    "reopen": ("reopen", "reopens", "reopened"),
}
_VERB_ACTION = {v: action for action, verbs in VERBS.items() for v in verbs}
# A verb phrase that is itself a partial qualifier ("part of the fix for EXAI-1").
_PARTIAL_PHRASES = {"part of the fix for"}

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
SCISSORS = " ------------------------ >8 ------------------------"
MAX_STEPS = 1000  # a step range wider than this is a typo, not a checklist
MAX_NUMBER = 2_147_483_647  # PostgreSQL integer

# A negation in a marker's clause. `\w+n't` is tried from the start of a word only (the same
# matches as from anywhere in it, but a long word is not walked again from each of its letters).
_NEGATION = re.compile(
    r"(?<![\w'’])(?:not|no|never|without|cannot)(?![\w'’])|(?<!\w)\w+n['’]t(?![\w'’])",
    re.IGNORECASE,
)
# A qualifier ending a clause (before the spaces and hyphens that lead to the verb).
_QUALIFIER = re.compile(r"(?<![\w'’])(?:partially|partly|half)\Z", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.!?;,]")
_REVERT_SHA = re.compile(r"^This reverts commit ([0-9a-fA-F]{7,64})\b")
_REVERT_SUBJECT = re.compile(r'^(?:Revert|Reapply) ".*"?\s*$')
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")

_SEP = r"\s*(?:,\s*and(?!\w)|,|&|(?<!\w)and(?!\w))\s*"
_SEP_RE = re.compile(_SEP, re.IGNORECASE)
_COLON_RE = re.compile(r"\s*:?\s*")
_STEP_KW_RE = re.compile(r"\s+steps?\s*:?\s*(?=[0-9])", re.IGNORECASE)
_STEP_ITEM_RE = re.compile(r"([0-9]{1,12})(?:\s*(?:-|\.\.|–)\s*([0-9]{1,12}))?(?![\w.]*[0-9A-Za-z_])")
_CONV_RE = re.compile(r"\s+conv(?:ersation)?\s*[:=]\s*([^\s,;&()\[\]<>]*)", re.IGNORECASE)
_WORD_NUM_RE = re.compile(r"\s+([A-Za-z]{2,7})\s*:?\s*([0-9]+)")
_FOR_RE = re.compile(r"\s+for\s+", re.IGNORECASE)


# The results are named tuples: immutable like a frozen dataclass, and four times cheaper
# to make, which counts when every commit of a long history is parsed.


class Action(NamedTuple):
    """One thing a marker asks for. Equal when issue, action, steps and conversation are
    (where in the message it was written does not count)."""

    issue: int
    action: str  # one of ACTIONS
    steps: tuple[int, ...] = ()
    conversation_id: str | None = None
    text: str = ""
    line: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self[:4] == other[:4]

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self[:4] != other[:4]

    def __hash__(self) -> int:
        return hash(self[:4])

    def to_json(self) -> dict[str, Any]:
        return {"issue": self.issue, "action": self.action, "steps": list(self.steps),
                "conversation_id": self.conversation_id}


class Note(NamedTuple):
    """An ignored mention, a warning or an error, at a line of the message."""

    line: int
    text: str
    reason: str
    issue: int | None = None
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "text": self.text}
        if self.issue is not None:
            out["issue"] = self.issue
        out["reason"] = self.reason
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out


class Parsed(NamedTuple):
    actions: tuple[Action, ...] = ()
    ignored: tuple[Note, ...] = ()
    warnings: tuple[Note, ...] = ()
    errors: tuple[Note, ...] = ()
    reverts: tuple[str, ...] = ()  # shas named by "This reverts commit <sha>."

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "ignored": [n.to_json() for n in self.ignored],
            "warnings": [n.to_json() for n in self.warnings],
            "errors": [n.to_json() for n in self.errors],
        }

    @property
    def issues(self) -> tuple[int, ...]:
        return tuple(sorted({a.issue for a in self.actions}))


@functools.lru_cache(maxsize=16)
def _interesting(prefix: str, cc: str) -> re.Pattern[str]:
    key = re.escape(prefix)
    return re.compile(
        rf"^[^\n]*(?:{key}|reverts commit|conversation[^\S\n]*:)[^\n]*$"
        rf"|^[^\S\n]{{0,3}}(?:```|~~~)[^\n]*$|^{re.escape(cc + SCISSORS)}$",
        re.IGNORECASE | re.MULTILINE,
    )


@functools.lru_cache(maxsize=16)
def _patterns(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str],
                                    re.Pattern[str]]:
    key = re.escape(prefix)
    verbs = sorted(_VERB_ACTION, key=len, reverse=True)
    verb_alts = "|".join(r"\s+".join(map(re.escape, v.split())) for v in verbs)
    verb_re = re.compile(rf"(?:(?<![\w-])|(?<=half-))(?:{verb_alts})(?![\w-])", re.IGNORECASE)
    issue_re = re.compile(rf"(?<![\w-]){key}-([0-9]{{1,12}})(?!\w)", re.IGNORECASE)
    near_re = re.compile(
        rf"(?<![\w-]){key}(?:[ \t]{{1,2}}|_|#|-[ \t]+|)([0-9]{{1,12}})(?!\w)", re.IGNORECASE
    )
    trailer_re = re.compile(rf"^\s*(?:{key}-|EXAI-)?conversation\s*:\s*(\S*)\s*$", re.IGNORECASE)
    return verb_re, issue_re, near_re, trailer_re


def _edit_distance_le(a: str, b: str, limit: int) -> bool:
    """True when the Levenshtein distance of a and b is at most limit (short words only)."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= limit


def _looks_like_step(word: str) -> bool:
    w = word.lower()
    if w in ("step", "steps"):
        return False
    if sorted(w) in (sorted("step"), sorted("steps")):
        return True  # transpositions: stpe, setp, spets
    return _edit_distance_le(w, "step", 1) or _edit_distance_le(w, "steps", 1)


class _Line:
    """Parses the markers of one line."""

    def __init__(self, text: str, number: int, prefix: str, out: _Collector) -> None:
        self.text = text
        self.number = number
        self.out = out
        self.verb_re, self.issue_re, self.near_re, _ = _patterns(prefix)
        self.prefix = prefix

    def key(self, n: int | str) -> str:
        return f"{self.prefix}-{n}"

    def parse(self) -> None:
        """Each verb in turn, left to right. Everything a verb's clause needs is kept as the
        scan moves on (where the clause starts, the negations found once for the whole line),
        so a long line costs time in proportion to its length."""
        text = self.text
        consumed: list[tuple[int, int]] = []
        self.negations = [(n.start(), n.end()) for n in _NEGATION.finditer(text)]
        self.negation_starts = [a for a, _ in self.negations]
        clause_start, last_comma, scanned = 0, -1, 0
        pos = 0
        while True:
            m = self.verb_re.search(text, pos)
            if m is None:
                break
            for c in _CLAUSE_END.finditer(text, scanned, m.start()):
                clause_start = c.end()
            comma = text.rfind(",", scanned, m.start())
            if comma >= 0:
                last_comma = comma
            scanned = m.start()
            after = _COLON_RE.match(text, m.end())
            assert after is not None
            if not self.issue_re.match(text, after.end()):
                self._verb_for(m, last_comma + 1)
                pos = m.end()
                continue
            verb = re.sub(r"\s+", " ", m.group(0).lower())
            refs, end = self._issue_list(after.end())
            marker_text = text[m.start() : end].strip()
            consumed.append((m.start(), end))
            pos = end
            if self._negated(clause_start, m.start()):
                for ref in refs:
                    self.out.ignored.append(Note(self.number, marker_text, "negated", ref.issue))
                continue
            action = _VERB_ACTION[verb]
            partial = verb in _PARTIAL_PHRASES or self._qualified(clause_start, m.start())
            if partial:
                action = "ref"
            for ref in refs:
                if partial:
                    self.out.ignored.append(
                        Note(self.number, marker_text, "partial: recorded as a reference, not a fix",
                             ref.issue))
                if ref.error or ref.near_miss:
                    continue
                self.out.actions.append(Action(ref.issue, action, ref.steps, ref.conversation,
                                               marker_text, self.number))
        self._leftovers(consumed)

    def _negated(self, start: int, end: int) -> bool:
        """Whether the clause text[start:end] holds a negation. The line's negations were
        found once: none crosses a clause's punctuation or ends where a verb starts, so the
        first one starting in the clause is in it if any is."""
        i = bisect.bisect_left(self.negation_starts, start)
        return i < len(self.negations) and self.negations[i][1] <= end

    def _qualified(self, start: int, end: int) -> bool:
        """Whether the clause text[start:end] ends with a qualifier (and spaces or hyphens)."""
        text = self.text
        while end > start and (text[end - 1].isspace() or text[end - 1] == "-"):
            end -= 1
        return _QUALIFIER.search(text, max(start, end - 9), end) is not None

    def _verb_for(self, m: re.Match[str], scope: int) -> None:
        """`Fix for EXAI-1`: a near miss of `Fixes EXAI-1` (unless negated since scope, the
        last comma before the verb)."""
        f = _FOR_RE.match(self.text, m.end())
        if f is None:
            return
        ref = self.issue_re.match(self.text, f.end())
        if ref is None or _VERB_ACTION[re.sub(r"\s+", " ", m.group(0).lower())] != "fix":
            return
        if self._negated(scope, m.start()):
            return
        n = int(ref.group(1))
        self.out.warnings.append(Note(
            self.number, self.text[m.start() : ref.end()].strip(),
            f"{m.group(0)} for {self.key(n)} is not a marker", n,
            suggestion=f"Fixes {self.key(n)}"))

    def _issue_list(self, pos: int) -> tuple[list[_Ref], int]:
        refs = []
        while True:
            ref, pos = self._issue_ref(pos)
            refs.append(ref)
            sep = _SEP_RE.match(self.text, pos)
            if sep and self.issue_re.match(self.text, sep.end()):
                pos = sep.end()
                continue
            return refs, pos

    def _issue_ref(self, pos: int) -> tuple[_Ref, int]:
        text = self.text
        m = self.issue_re.match(text, pos)
        assert m is not None
        ref = _Ref(int(m.group(1)))
        ref_text = m.group(0)
        pos = m.end()
        if ref.issue < 1 or ref.issue > MAX_NUMBER:
            self._error(ref, ref_text, f"{ref_text} is not an issue number (they start at 1)")
        seen_steps = seen_conv = False
        while True:
            s = _STEP_KW_RE.match(text, pos)
            if s and not seen_steps:
                seen_steps = True
                pos = self._steps(ref, s.end())
                continue
            c = _CONV_RE.match(text, pos)
            if c and not seen_conv:
                seen_conv = True
                pos = c.end()
                self._conversation(ref, c.group(1))
                continue
            break
        if not seen_steps:
            w = _WORD_NUM_RE.match(text, pos)
            if w and _looks_like_step(w.group(1)):
                ref.near_miss = True
                self.out.warnings.append(Note(
                    self.number, text[m.start() : w.end()].strip(),
                    f"{w.group(1)!r} is not a step keyword; this marker does nothing",
                    ref.issue, suggestion=f"{self.key(ref.issue)} step {w.group(2)}"))
        return ref, pos

    def _steps(self, ref: _Ref, pos: int) -> int:
        steps: list[int] = []
        while True:
            item = _STEP_ITEM_RE.match(self.text, pos)
            if item is None:
                break
            pos = item.end()
            first = int(item.group(1))
            last = int(item.group(2)) if item.group(2) else first
            if first < 1 or last < 1:
                self._error(ref, item.group(0), f"step {item.group(0)}: steps start at 1")
            elif first > last:
                self._error(ref, item.group(0),
                            f"steps {item.group(0)} run backwards",
                            suggestion=f"steps {last}-{first}")
            elif last - first >= MAX_STEPS or last > MAX_NUMBER:
                self._error(ref, item.group(0), f"steps {item.group(0)} is too wide a range")
            else:
                steps.extend(range(first, last + 1))
            sep = _SEP_RE.match(self.text, pos)
            if sep is None or self.issue_re.match(self.text, sep.end()):
                break
            if not _STEP_ITEM_RE.match(self.text, sep.end()):
                break
            pos = sep.end()
        ref.steps = tuple(sorted(set(steps)))
        return pos

    def _conversation(self, ref: _Ref, raw: str) -> None:
        value = raw.rstrip(".:!?'\"`")
        if not value:
            self._error(ref, "conv:", "conv: has no conversation id",
                        suggestion="conv:<uuid>, e.g. conv:debb44af-15b9-456d-9b88-6a2519f81427")
        elif not UUID_RE.match(value):
            self._error(ref, f"conv:{value}",
                        f"conv:{value} is not a whole conversation id (a UUID)",
                        suggestion="conv:debb44af-15b9-456d-9b88-6a2519f81427")
        else:
            ref.conversation = value.lower()

    def _error(self, ref: _Ref, text: str, reason: str, suggestion: str | None = None) -> None:
        ref.error = True
        self.out.errors.append(Note(self.number, text, reason, ref.issue, suggestion))

    def _leftovers(self, consumed: list[tuple[int, int]]) -> None:
        starts = [a for a, _ in consumed]  # in order, not overlapping

        def inside(i: int) -> bool:
            k = bisect.bisect_right(starts, i) - 1
            return k >= 0 and i < consumed[k][1]

        for m in self.issue_re.finditer(self.text):
            if not inside(m.start()):
                self.out.ignored.append(
                    Note(self.number, m.group(0), "mention: no marker verb before it",
                         int(m.group(1))))
        for m in self.near_re.finditer(self.text):
            if inside(m.start()) or self.issue_re.match(self.text, m.start()):
                continue
            n = int(m.group(1))
            self.out.warnings.append(Note(
                self.number, m.group(0), f"{m.group(0)!r} looks like an issue key", n,
                suggestion=self.key(n)))


@dataclass
class _Ref:
    issue: int
    steps: tuple[int, ...] = ()
    conversation: str | None = None
    error: bool = False
    near_miss: bool = False


class _Collector:
    __slots__ = ("actions", "errors", "ignored", "reverts", "trailer_conv", "warnings")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.ignored: list[Note] = []
        self.warnings: list[Note] = []
        self.errors: list[Note] = []
        self.reverts: list[str] = []
        self.trailer_conv: str | None = None  # the first good Conversation trailer


def _parse_python(
    text: str,
    *,
    prefix: str = "EXAI",
    comment_char: str | None = "#",
    env_conversation: str | None = None,
) -> Parsed:
    """The actions, ignored mentions, warnings and errors of a commit message."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and prefix.isascii():
        # Most messages: no key, no trailer, no revert (plain substring tests, no regex).
        low = text.lower()
        k = prefix.lower()
        extra = "conversation" in low or "reverts commit" in low
        if k not in low:
            if not extra:
                return _NOTHING
            if "reverts commit" not in low and _one_good_trailer(text, low, prefix.upper()):
                return _NOTHING  # nothing to apply, and the one trailer is well formed
        if "```" not in text and "~~~" not in text and SCISSORS not in text:
            # No fence or scissors to keep track of: visit the lines that name a key, a
            # trailer or a revert, found by substring search.
            return _collect_ascii(text, low, prefix.upper(), comment_char, env_conversation,
                                  extra)
    key = prefix.upper()
    cc = comment_char or "#"
    if _interesting(key, cc).search(text) is None:
        return _NOTHING
    return _collect(_lines_tracked(text, key, comment_char), key, comment_char,
                    env_conversation, fast=True)


def _line_around(text: str, pos: int) -> tuple[int, int]:
    """Where the line holding text[pos] starts and ends (before its newline)."""
    end = text.find("\n", pos)
    return text.rfind("\n", 0, pos) + 1, end if end >= 0 else len(text)


def _one_good_trailer(text: str, low: str, key: str) -> bool:
    """Whether the one line that says "conversation" is a well-formed trailer or no trailer
    at all (then a message naming no key has nothing to say); False: look closer."""
    at = low.find("conversation")
    if low.find("conversation", at + 1) >= 0:
        return False
    start, end = _line_around(text, at)
    trailer = _patterns(key)[3].match(text[start:end])
    return trailer is None or UUID_RE.match(trailer.group(1).rstrip(".")) is not None


def _parse_reference(text: str, *, prefix: str = "EXAI", comment_char: str | None = "#",
                     env_conversation: str | None = None) -> Parsed:
    """parse() without its shortcuts: every line through the one full grammar. The tests hold
    parse() to it."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    key = prefix.upper()
    if _interesting(key, comment_char or "#").search(text) is None:
        return _NOTHING
    return _collect(_lines_tracked(text, key, comment_char), key, comment_char,
                    env_conversation, fast=False)


# A line's reason to be ignored, as found while visiting lines.
_CODE, _SCISSORED = "code block", "below the scissors line"


def _lines_tracked(text: str, key: str, comment_char: str | None
                   ) -> Iterator[tuple[int, str, str | None]]:
    """(number, line, reason) for each line that can matter, keeping track of code fences
    and the scissors line (reason: why a line is ignored, or None)."""
    cc = comment_char or "#"
    in_fence = below_scissors = False
    number, last = 1, 0
    for found in _interesting(key, cc).finditer(text):
        number += text.count("\n", last, found.start())
        last = found.start()
        line = found.group(0)
        if below_scissors:
            yield number, line, _SCISSORED
        elif comment_char and line == cc + SCISSORS:
            below_scissors = True
        elif _FENCE.match(line):
            in_fence = not in_fence
            yield number, line, _CODE
        elif in_fence:
            yield number, line, _CODE
        else:
            yield number, line, None


def _collect(lines: Iterable[tuple[int, str, str | None]], key: str, comment_char: str | None,
             env_conversation: str | None, *, fast: bool) -> Parsed:
    out = _Collector()
    for number, line, reason in lines:
        _visit(out, number, line, reason, key, comment_char, fast)
    return _finish(out, env_conversation)


def _collect_ascii(text: str, low: str, key: str, comment_char: str | None,
                   env_conversation: str | None, extra: bool) -> Parsed:
    """_collect for an ASCII message with no code fence or scissors line (low: its lower
    case, same offsets): the lines that name the key, or (extra) a trailer or a revert, found
    by substring search; a plain line goes straight to the shortcut."""
    out = _Collector()
    k = key.lower()
    cc = comment_char or "#"
    number, counted, pos, size = 1, 0, 0, len(text)
    while pos < size:
        hit = low.find(k, pos)
        if extra:
            for token in ("conversation", "reverts commit"):
                other = low.find(token, pos, hit if hit >= 0 else size)
                if other >= 0:
                    hit = other
        if hit < 0:
            break
        start = text.rfind("\n", 0, hit) + 1
        end = text.find("\n", hit)
        if end < 0:
            end = size
        number += text.count("\n", counted, start)
        counted = start
        pos = end + 1
        line = text[start:end]
        plain = not (extra or (comment_char and line.startswith(cc))
                     or line.lstrip().startswith(">") or line.startswith(("Revert ", "Reapply ")))
        if plain and _fast_line(line, low[start:end], number, key, k, out):
            continue
        # the whole grammar; the shortcut again only where it was not just tried
        _visit(out, number, line, None, key, comment_char, not plain)
    return _finish(out, env_conversation)


def _visit(out: _Collector, number: int, line: str, reason: str | None, key: str,
           comment_char: str | None, fast: bool) -> None:
    """One line that can matter, through the whole grammar (fast: shortcuts allowed)."""
    _, issue_re, near_re, trailer_re = _patterns(key)
    if reason is None:
        if comment_char and line.startswith(comment_char):
            reason = "comment"
        elif line.lstrip().startswith(">"):
            reason = "quoted"
        elif line.startswith(("Revert ", "Reapply ")) and _REVERT_SUBJECT.match(line):
            reason = "revert: a revert undoes, it never re-applies"
    if reason is not None:
        for m in issue_re.finditer(line):
            out.ignored.append(Note(number, m.group(0), reason, int(m.group(1))))
        return
    revert = _REVERT_SHA.match(line) if line.startswith("This reverts commit ") else None
    if revert:
        out.reverts.append(revert.group(1).lower())
        return
    trailer = trailer_re.match(line) if ":" in line else None
    if trailer:
        value = trailer.group(1).rstrip(".")
        if not UUID_RE.match(value):
            out.errors.append(Note(
                number, line.strip(), f"Conversation trailer {value!r} is not a UUID",
                suggestion="Conversation: debb44af-15b9-456d-9b88-6a2519f81427"))
        elif out.trailer_conv is None:
            out.trailer_conv = value.lower()
        elif out.trailer_conv != value.lower():
            out.warnings.append(Note(
                number, line.strip(), "a second Conversation trailer; the first one applies"))
        return
    if fast and line.isascii() and _fast_line(line, line.lower(), number, key, key.lower(), out):
        return
    if not issue_re.search(line) and not near_re.search(line):
        return
    _Line(line, number, key, out).parse()


def _finish(out: _Collector, env_conversation: str | None) -> Parsed:
    default_conv = out.trailer_conv
    if default_conv is None and env_conversation and any(
            not a.conversation_id for a in out.actions):  # said only where it would apply
        value = env_conversation.strip()
        if UUID_RE.match(value):
            default_conv = value.lower()
        else:
            out.warnings.append(Note(0, "EXAI_CONVERSATION_ID",
                                     f"EXAI_CONVERSATION_ID {value!r} is not a UUID; ignored"))
    actions = tuple(out.actions) if not default_conv else tuple(
        a if a.conversation_id else a._replace(conversation_id=default_conv)
        for a in out.actions
    )
    if not (actions or out.ignored or out.warnings or out.errors or out.reverts):
        return _NOTHING
    return Parsed(actions, tuple(out.ignored), tuple(out.warnings), tuple(out.errors),
                  tuple(dict.fromkeys(out.reverts)))


# The shortcut below reads a line with string operations and dictionary lookups; the full
# grammar's verb regex tries some fifty alternatives at every position, which costs more
# than everything else a common message needs.
_FAST_VERBS = {v: a for v, a in _VERB_ACTION.items() if v not in _PARTIAL_PHRASES}
# The last word of every verb phrase, and "for" (`Fix for EXAI-1` is a near miss): a key
# right after one of these may belong to a marker; right after anything else it cannot.
_VERB_ENDS = tuple(sorted({v.split()[-1] for v in _VERB_ACTION} | {"for"}))
_QUALIFIED = ("partially ", "partly ", "half ", "half-")
_PARTIAL_NOTE = "partial: recorded as a reference, not a fix"
_MENTION_NOTE = "mention: no marker verb before it"
# ASCII whitespace as the grammar's \s reads it, and the colon
_SPACE_COLON = " \t\r\x0b\x0c\x1c\x1d\x1e\x1f:"


@functools.lru_cache(maxsize=16)
def _fast_patterns(key: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    k = re.escape(key)
    item = r"[1-9][0-9]{0,8}(?:-[1-9][0-9]{0,8})?"
    # what follows the verb of a canonical marker, to the end of its line:
    # `KEY-n[ step(s) LIST][ conv:UUID]` or `KEY-n, KEY-m and KEY-k`
    marker = re.compile(
        rf"(?P<marker>{k}-(?P<n>[1-9][0-9]{{0,8}})"
        rf"(?:(?: steps?:? (?P<steps>{item}(?:, ?{item})*))?"
        rf"(?: conv(?:ersation)?[:=](?P<conv>[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}"
        rf"-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}})\.*)?"
        rf"|(?P<more>(?:(?:, and |, | and |,)(?:{k}-[1-9][0-9]{{0,8}}))+)))\.? *",
        re.IGNORECASE)
    # a key that reads as issue_re reads it (a number from 1, no leading zero)
    number = re.compile(rf"{k}-([1-9][0-9]{{0,8}})(?!\w)", re.IGNORECASE)
    plain_key = re.compile(rf"{k}-[1-9][0-9]{{0,8}}", re.IGNORECASE)
    return marker, number, plain_key


def _verb_of(head: str) -> str | None:
    """The verb of `head`, the lower-case text before a key, when head is exactly a verb and
    the separator `(?: ?: ?| )`; else None."""
    if head.endswith(" : "):
        return head[:-3]
    if head.endswith((": ", " :")):
        return head[:-2]
    if head.endswith((" ", ":")):
        return head[:-1]
    return None


def _fast_line(line: str, low: str, number: int, key: str, k: str, out: _Collector) -> bool:
    """The most common lines with a key, answered without the full grammar: a whole-line
    canonical marker (possibly qualified: `Partially fixes EXAI-1`), and a line that names
    one issue with no verb before it (a mention). False: the line needs the full grammar.
    Held to the full grammar by the tests. line is ASCII (beyond it, case-folding is for
    the full grammar to decide); low is its lower case, k the key's."""
    at = low.find(k)
    if at < 0:
        return False
    if at and (low[at - 1].isalnum() or low[at - 1] in "_-"):
        return False
    marker_re, number_re, plain_key = _fast_patterns(key)
    head = _verb_of(low[:at])
    if head is not None:
        action = _FAST_VERBS.get(head)
        verb_at = 0
        if action is None:
            for q in _QUALIFIED:
                if head.startswith(q) and head[len(q):] in _FAST_VERBS:
                    action, verb_at = "ref", len(q)
                    break
        if action is not None:
            m = marker_re.fullmatch(line, at)
            if m is None:
                return False
            return _fast_marker(m, line, number, key, action, verb_at, plain_key, out)
    ref = number_re.match(line, at)
    if ref is None or low.find(k, at + 1) >= 0:
        return False
    if low[:at].rstrip(_SPACE_COLON).endswith(_VERB_ENDS):
        return False
    out.ignored.append(Note(number, ref.group(0), _MENTION_NOTE, int(ref.group(1))))
    return True


def _fast_marker(m: re.Match[str], line: str, number: int, key: str, action: str,
                 verb_at: int, plain_key: re.Pattern[str], out: _Collector) -> bool:
    """A canonical marker line: its actions (and, qualified, its partial notes)."""
    text = line[verb_at:m.end("marker")]  # a conv token keeps its trailing dot, as read
    steps: tuple[int, ...] = ()
    conv = None
    if m.group("more") is not None:
        issues = [int(m.group("n"))] + [int(x.group(0)[len(key) + 1:])
                                        for x in plain_key.finditer(m.group("more"))]
    else:
        issues = [int(m.group("n"))]
        if m.group("steps"):
            collected: set[int] = set()
            for part in m.group("steps").split(","):
                first, _, last = part.strip().partition("-")
                lo, hi = int(first), int(last or first)
                if hi < lo or hi - lo >= MAX_STEPS:
                    return False  # an error to report: the full grammar words it
                collected.update(range(lo, hi + 1))
            steps = tuple(sorted(collected))
        conv = m.group("conv")
        if conv:
            conv = conv.lower()
    for n in issues:
        if verb_at:
            out.ignored.append(Note(number, text, _PARTIAL_NOTE, n))
        out.actions.append(Action(n, action, steps, conv, text, number))
    return True


_NOTHING = Parsed()

# parse(): the C accelerator (exai_git/_speedups.c) where it was built, which answers the
# common messages (no key; canonical markers, mentions and Conversation trailers in ASCII)
# and hands the rest, with the same arguments, to the Python parser above. Without a C
# compiler at install time, parse() is the Python parser alone (same answers).
_parse_python.__qualname__ = _parse_python.__name__ = "parse"  # as its errors name it
parse = _parse_python
_scan: Callable[[str, str, str | None, str | None], Parsed | None] | None = None
try:
    from exai_git import _speedups
except ImportError:
    pass
else:
    _speedups.setup(Action, Note, Parsed, _NOTHING, _FAST_VERBS, _VERB_ENDS, _QUALIFIED,
                    _MENTION_NOTE, _PARTIAL_NOTE, "ref", _parse_python,
                    _parse_python.__kwdefaults__)
    _scan = _speedups.scan
    parse = _speedups.parse


def describe(action: Action, prefix: str = "EXAI") -> str:
    """A one-line preview of what an action will do."""
    key = f"{prefix}-{action.issue}"
    steps = ""
    if action.steps:
        noun = "step" if len(action.steps) == 1 else "steps"
        steps = f"{noun} {', '.join(map(str, action.steps))}"
    kind = action.action
    if kind == "fix":
        effect = f"{steps} -> complete" if steps else "-> fixed"
    elif kind == "progress":
        effect = f"-> in_progress{'; ' + steps + ' -> in_progress' if steps else ''}"
    elif kind == "ref":
        effect = "reference (comment)"
    elif kind == "verify":
        effect = "-> verified"
    elif kind == "reopen":
        effect = f"-> open{'; ' + steps + ' -> pending' if steps else ''}"
    else:
        raise KeyError(kind)
    conv = ""
    if action.conversation_id:
        conv = f" (conversation {action.conversation_id[:8]}…)"
    return f"{key}: {effect}{conv}"
