"""The marker grammar of one line of a commit message (MARKERS.md "Grammar"): a verb, then an
issue list with its steps and conversation ids, read with the words of vocabulary.py, and
what is almost a marker. Pure, no I/O.

markers.parse() walks a message and hands each line that can hold a marker to parse_line().
Every pattern is anchored or bounded and a line is read from key to key once, so a line
costs time in proportion to its length, whatever its text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from exai_git import nearmiss
from exai_git.vocabulary import (
    CLAUSE_END,
    CONV_RE,
    MAX_NUMBER,
    MAX_STEPS,
    NEGATION,
    PARTIAL_PHRASES,
    QUALIFIER,
    SEP_RE,
    STEP_ITEM_RE,
    STEP_KW_RE,
    UUID_RE,
    VERB_ACTION,
    WORD_NUM_RE,
    Action,
    Note,
    patterns,
    verb_of,
)


class _Line:
    """Parses the markers of one line.

    A marker is a verb, then `\\s*:?\\s*`, then a key. The line is read from key to key (a
    substring search); for each key, the text since the previous one is asked for a verb
    ending where the key's gap starts. So each part of the line is read a bounded number of
    times, and the line costs time in proportion to its length, whatever its text."""

    def __init__(self, text: str, number: int, prefix: str, out: Collected,
                 low: str | None) -> None:
        self.text = text
        self.number = number
        self.out = out
        # The line's negations, found as far as the verbs need them (negations_to): each
        # part of the line is searched once. An ASCII line with none of their letters has none.
        self.negation_starts: list[int] = []
        self.negation_ends: list[int] = []
        # the line in lower case when it is ASCII (same offsets): substring tests suffice
        self.low = low = low if low is not None else text.lower() if text.isascii() else None
        self.negations_to = len(text) if low is not None and not (
            "no" in low or "never" in low or "without" in low or "n't" in low) else 0
        self.may_qualify = low is None or "part" in low or "half" in low
        self.may_be_for = low is None or "for" in low  # `Fix for EXAI-1` (a near miss)
        self.commas_to, self.last_comma = 0, -1
        self.backwards = ""  # the line spelt backwards, once a verb is looked for
        self.p = p = patterns(prefix)
        self.issue_re, self.near_re = p.issue, p.near
        self.prefix = prefix

    def key(self, n: int | str) -> str:
        return f"{self.prefix}-{n}"

    def keys(self) -> list[int]:
        """Where the key starts, every time (each mention, marker or near miss starts there)."""
        if self.low is None:
            return [m.start() for m in self.p.key.finditer(self.text)]
        k, low, found = self.prefix.lower(), self.low, []
        at = low.find(k)
        while at >= 0:
            found.append(at)
            at = low.find(k, at + 1)
        return found

    def parse(self) -> None:
        text = self.text
        keys = self.keys()
        consumed: list[tuple[int, int]] = []
        clause_start, scanned = 0, 0
        bound = 0  # no verb reaches back before this: the end of the previous key or marker
        for at in keys:
            if at < bound:
                continue  # in a marker's issue list
            lo, bound = bound, at + len(self.prefix)
            if not self.issue_re.match(text, at):
                continue
            m = self._verb_before(self.p.verb_before, lo, at)
            if m is None:
                self._verb_for(lo, at)
                continue
            if m.start() > scanned:
                for c in CLAUSE_END.finditer(text, scanned, m.start()):
                    clause_start = c.end()
                scanned = m.start()
            verb = verb_of(m.group(0))
            refs, end = self._issue_list(at)
            bound = end
            marker_text = text[m.start() : end].strip()
            consumed.append((m.start(), end))
            if self._negated(clause_start, m.start()):
                for ref in refs:
                    self.out.ignored.append(Note(self.number, marker_text, "negated", ref.issue))
                continue
            action = VERB_ACTION[verb]
            partial = verb in PARTIAL_PHRASES or self._qualified(clause_start, m.start())
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
        self._leftovers(consumed, keys)

    def _verb_before(self, pattern: re.Pattern[str], lo: int, at: int) -> _Span | None:
        """The verb that pattern reads backwards from the key at text[at], if it starts at lo
        or later (group 1 of pattern: the verb, spelt backwards)."""
        if lo >= at:
            return None
        if not self.backwards:
            self.backwards = self.text[::-1]
        size = len(self.text)
        m = pattern.match(self.backwards, size - at)
        if m is None or size - m.end(1) < lo:
            return None
        return _Span(self.text, size - m.end(1), size - m.start(1))

    def _negated(self, start: int, end: int) -> bool:
        """Whether the clause text[start:end] (end: where a verb starts) holds a negation.
        None crosses a clause's punctuation or the start of a verb, so the line is searched
        in pieces that end at verbs, and the first negation starting in the clause is in it
        if any is."""
        if end > self.negations_to:
            for n in NEGATION.finditer(self.text, self.negations_to, end):
                self.negation_starts.append(n.start())
                self.negation_ends.append(n.end())
            self.negations_to = end
        i = bisect.bisect_left(self.negation_starts, start)
        return i < len(self.negation_starts) and self.negation_ends[i] <= end

    def _qualified(self, start: int, end: int) -> bool:
        """Whether the clause text[start:end] ends with a qualifier (and spaces or hyphens)."""
        if not self.may_qualify:
            return False
        text = self.text
        while end > start and (text[end - 1].isspace() or text[end - 1] == "-"):
            end -= 1
        return QUALIFIER.search(text, max(start, end - 9), end) is not None

    def _last_comma_before(self, pos: int) -> int:
        """Where the last comma before text[pos] is (-1: none). Asked with pos growing, the
        line is searched once."""
        if pos > self.commas_to:
            comma = self.text.rfind(",", self.commas_to, pos)
            if comma >= 0:
                self.last_comma = comma
            self.commas_to = pos
        return self.last_comma

    def _verb_for(self, lo: int, at: int) -> None:
        """`Fix for EXAI-1` (the key at text[at]): a near miss of `Fixes EXAI-1`, unless
        negated since the last comma before the verb."""
        if not self.may_be_for:
            return
        m = self._verb_before(self.p.fix_for_before, lo, at)
        if m is None:
            return
        text = self.text
        if self._negated(self._last_comma_before(m.start()) + 1, m.start()):
            return
        ref = self.issue_re.match(text, at)
        assert ref is not None
        n = int(ref.group(1))
        self.out.warnings.append(Note(
            self.number, text[m.start() : ref.end()].strip(),
            f"{m.group(0)} for {self.key(n)} is not a marker", n,
            suggestion=f"Fixes {self.key(n)}"))

    def _issue_list(self, pos: int) -> tuple[list[_Ref], int]:
        refs = []
        while True:
            ref, pos = self._issue_ref(pos)
            refs.append(ref)
            sep = SEP_RE.match(self.text, pos) if pos < len(self.text) else None
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
        while pos < len(text) and text[pos].isspace():
            s = STEP_KW_RE.match(text, pos)
            if s and not seen_steps:
                seen_steps = True
                pos = self._steps(ref, s.end())
                continue
            c = CONV_RE.match(text, pos)
            if c and not seen_conv:
                seen_conv = True
                pos = c.end()
                self._conversation(ref, c.group(1))
                continue
            break
        if not seen_steps and pos < len(text) and text[pos].isspace():
            w = WORD_NUM_RE.match(text, pos)
            if w and nearmiss.looks_like_step(w.group(1)):
                ref.near_miss = True
                self.out.warnings.append(Note(
                    self.number, text[m.start() : w.end()].strip(),
                    f"{w.group(1)!r} is not a step keyword; this marker does nothing",
                    ref.issue, suggestion=f"{self.key(ref.issue)} step {w.group(2)}"))
        return ref, pos

    def _steps(self, ref: _Ref, pos: int) -> int:
        steps: list[int] = []
        while True:
            item = STEP_ITEM_RE.match(self.text, pos)
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
            sep = SEP_RE.match(self.text, pos)
            if sep is None or self.issue_re.match(self.text, sep.end()):
                break
            if not STEP_ITEM_RE.match(self.text, sep.end()):
                break
            pos = sep.end()
        ref.steps = tuple(sorted(set(steps)))
        return pos

    def _conversation(self, ref: _Ref, raw: str) -> None:
        value = raw.rstrip(".:!?'\"`")
        if UUID_RE.match(value):
            ref.conversation = value.lower()
        else:
            reason, suggestion = nearmiss.conv_error(value)
            self._error(ref, f"conv:{nearmiss.shown(value)}", reason, suggestion)

    def _error(self, ref: _Ref, text: str, reason: str, suggestion: str | None = None) -> None:
        ref.error = True
        self.out.errors.append(Note(self.number, text, reason, ref.issue, suggestion))

    def _leftovers(self, consumed: list[tuple[int, int]], keys: list[int]) -> None:
        """Mentions and near misses: what starts at a key outside every marker."""
        starts = [a for a, _ in consumed]  # in order, not overlapping
        text = self.text
        near: list[re.Match[str]] = []
        mention_to = near_to = 0  # as finditer would: matches do not overlap
        for at in keys:
            k = bisect.bisect_right(starts, at) - 1
            if k >= 0 and at < consumed[k][1]:
                continue
            m = self.issue_re.match(text, at) if at >= mention_to else None
            if m is not None:
                mention_to = m.end()
                self.out.ignored.append(
                    Note(self.number, m.group(0), "mention: no marker verb before it",
                         int(m.group(1))))
                continue
            m = self.near_re.match(text, at) if at >= near_to else None
            if m is not None:
                near_to = m.end()
                near.append(m)
        for m in near:
            n = int(m.group(1))
            self.out.warnings.append(Note(
                self.number, m.group(0), f"{m.group(0)!r} looks like an issue key", n,
                suggestion=self.key(n)))


class _Span:
    """Where a verb is in its line: what a regex match would say of it."""

    __slots__ = ("_end", "_start", "_text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self._start, self._end = text, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _: int = 0) -> str:
        return self._text[self._start : self._end]


@dataclass(slots=True)
class _Ref:
    issue: int
    steps: tuple[int, ...] = ()
    conversation: str | None = None
    error: bool = False
    near_miss: bool = False


class Collected:
    """What parse_line() found in the lines given to it so far."""

    __slots__ = ("actions", "errors", "ignored", "warnings")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.ignored: list[Note] = []
        self.warnings: list[Note] = []
        self.errors: list[Note] = []


def parse_line(line: str, number: int, prefix: str, out: Collected,
               low: str | None = None) -> None:
    """The markers, mentions and near misses of one line (number: its line in the message),
    added to out. low: the line in lower case, when it is ASCII and the caller has it."""
    _Line(line, number, prefix, out, low).parse()
