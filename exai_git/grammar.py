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
from exai_git.plain import read_quick
from exai_git.vocabulary import (
    CLAUSE_END,
    CONV_RE,
    MAX_NUMBER,
    MAX_STEPS,
    MENTION_NOTE,
    NEGATION,
    PARTIAL_NOTE,
    PARTIAL_PHRASES,
    QUALIFIER,
    SEP_RE,
    STEP_ITEM_RE,
    STEP_KW_RE,
    UUID_RE,
    VERB_ACTION,
    Action,
    Note,
    Patterns,
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
                 low: str | None, p: Patterns, may_negate: bool) -> None:
        self.text = text
        self.number = number
        self.out = out
        # The line's negations, found as far as the verbs need them (negations_to): each
        # part of the line is searched once. An ASCII line with none of their letters has none.
        self.negation_starts: list[int] = []
        self.negation_ends: list[int] = []
        # the line in lower case when it is ASCII (same offsets): substring tests suffice
        self.negations_to = 0 if may_negate else len(text)
        self.commas_to, self.last_comma = 0, -1
        self.backwards = ""  # the line spelt backwards, once a verb is looked for
        self.p = p
        self.issue_re, self.near_re = p.issue, p.near
        self.prefix = prefix

    def key(self, n: int | str) -> str:
        return f"{self.prefix}-{n}"

    def _verb_before(self, pattern: re.Pattern[str], lo: int, at: int) -> tuple[int, int] | None:
        """The verb that pattern reads backwards from the key at text[at], if it starts at lo
        or later (group 1 of pattern: the verb, spelt backwards): where it starts and ends."""
        if lo >= at:
            return None
        if not self.backwards:
            self.backwards = self.text[::-1]
        size = len(self.text)
        m = pattern.match(self.backwards, size - at)
        if m is None or size - m.end(1) < lo:
            return None
        return size - m.end(1), size - m.start(1)

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
        span = self._verb_before(self.p.fix_for_before, lo, at)
        if span is None:
            return
        start, verb_end = span
        text = self.text
        if self._negated(self._last_comma_before(start) + 1, start):
            return
        ref = self.issue_re.match(text, at)
        assert ref is not None
        n = int(ref.group(1))
        self.out.warnings.append(Note(
            self.number, text[start : ref.end()].strip(),
            f"{text[start:verb_end]} for {self.key(n)} is not a marker", n,
            suggestion=f"Fixes {self.key(n)}"))

    def _issue_list(self, m: re.Match[str]) -> tuple[list[_Ref], int]:
        """The issue refs from the key matched by m on, and where they end."""
        text, size, refs = self.text, len(self.text), []
        while True:
            ref, pos = self._issue_ref(m)
            refs.append(ref)
            sep = SEP_RE.match(text, pos) if pos < size else None
            if sep is None:
                return refs, pos
            nxt = self.issue_re.match(text, sep.end())
            if nxt is None:
                return refs, pos
            m = nxt

    def _issue_ref(self, m: re.Match[str]) -> tuple[_Ref, int]:
        text = self.text
        ref = _Ref(int(m.group(1)))
        pos = m.end()
        if ref.issue < 1 or ref.issue > MAX_NUMBER:
            ref_text = m.group(0)
            self._error(ref, ref_text, f"{ref_text} is not an issue number (they start at 1)")
        if pos < len(text) and text[pos] in " \t([:" and self._near_miss(
                ref, m, nearmiss.beside_issue(text, pos, self.key(ref.issue), m.group(0))):
            return ref, pos
        if pos == len(text) or not text[pos].isspace():
            return ref, pos  # no step, conversation or near miss follows
        seen_steps = seen_conv = False
        while pos < len(text) and text[pos].isspace():
            s = None if seen_steps else STEP_KW_RE.match(text, pos)
            if s:
                seen_steps = True
                pos = self._steps(ref, s.end())
                continue
            c = None if seen_conv else CONV_RE.match(text, pos)
            if c:
                seen_conv = True
                pos = c.end()
                self._conversation(ref, c.group(1))
                continue
            break
        if pos == len(text) or not seen_conv and self._near_miss(
                ref, m, nearmiss.conversation_beside(text, pos, text[m.start() : pos].strip())):
            return ref, pos
        if not seen_steps and text[pos].isspace():
            self._near_miss(ref, m, nearmiss.step_keyword(text, pos, self.key(ref.issue)))
        return ref, pos

    def _near_miss(self, ref: _Ref, m: re.Match[str],
                   found: tuple[int, str, str | None] | None) -> bool:
        """Record what nearmiss found after the issue m matched (where it ends, why, the
        marker meant): the marker then does nothing."""
        if found is None:
            return False
        end, reason, suggestion = found
        ref.near_miss = True
        self.out.warnings.append(Note(self.number, self.text[m.start() : end].strip(), reason,
                                      ref.issue, suggestion=suggestion))
        return True

    def _steps(self, ref: _Ref, pos: int) -> int:
        steps: list[int] = []
        item = STEP_ITEM_RE.match(self.text, pos)
        while item is not None:
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
            item = STEP_ITEM_RE.match(self.text, sep.end())  # None: the list ends at pos
        ref.steps = (steps[0],) if len(steps) == 1 else tuple(sorted(set(steps)))
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
                    Note(self.number, m.group(0), MENTION_NOTE, int(m.group(1))))
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
    added to out. low: the line in lower case, when it is ASCII and the caller has it. A line
    that is one plain marker, or one mention, is read in one match (plain.read_quick); any
    other by read_line()."""
    if low is None and line.isascii():
        low = line.lower()
    p = patterns(prefix)
    if low is None or not read_quick(line, 0, number, out.actions, out.ignored, low, p):
        read_line(line, number, prefix, out, low, p)


def read_line(line: str, number: int, prefix: str, out: Collected, low: str | None,
              p: Patterns) -> None:
    """parse_line() by the whole grammar, for any line.

    A marker is a verb, then `\\s*:?\\s*`, then a key. The line is read from key to key (a
    substring search); for each key, the text since the previous one is asked for a verb
    ending where the key's gap starts (read backwards, one anchored match). What most marker
    lines need (a verb, one issue at the end of a marker, no negation or qualifier letters in
    the line) is read here; the rest of the grammar (issue lists, steps, conversations,
    negations, qualifiers, near misses, mentions) by a _Line, made when the line needs one."""
    text, size, plen, issue_re = line, len(line), len(prefix), p.issue
    keys: list[int]
    if low is None:
        keys = [m.start() for m in p.key.finditer(text)]
    else:
        k, keys = prefix.lower(), []
        at = low.find(k)
        while at >= 0:
            keys.append(at)
            at = low.find(k, at + 1)
    if not keys:
        return
    st: _Line | None = None  # the rest of the grammar, once the line needs it
    # An ASCII line without the letters of a negation or qualifier has none.
    may_negate = low is None or "no" in low or "never" in low or "without" in low or (
        "n't" in low)
    may_qualify = low is None or "part" in low or "half" in low
    backwards = ""  # the line (in lower case when ASCII) spelt backwards
    verb_before = p.verb_before if low is None else p.verb_before_lower
    consumed: list[tuple[int, int]] = []
    clause_start = scanned = 0
    bound = 0  # no verb reaches back before this: the end of the previous key or marker
    for at in keys:
        if at < bound:
            continue  # in a marker's issue list
        lo, bound = bound, at + plen
        first = issue_re.match(text, at)
        if first is None:
            continue
        vm = None
        if lo < at:
            if not backwards:
                backwards = text[::-1] if low is None else low[::-1]
            vm = verb_before.match(backwards, size - at)
            if vm is not None and size - vm.end(1) < lo:
                vm = None
        if vm is None:
            if low is None or low.find("for", lo, at) >= 0:  # `Fix for EXAI-1`: a near miss
                st = st or _Line(text, number, prefix, out, low, p, may_negate)
                st._verb_for(lo, at)
            elif lo < at:
                _verb_typo(out, number, text, backwards, lo, at, first, p)
            continue
        start, verb_end = size - vm.end(1), size - vm.start(1)
        if start > scanned:
            for c in CLAUSE_END.finditer(text, scanned, start):
                clause_start = c.end()
            scanned = start
        spelt = text[start:verb_end]
        verb = spelt.lower()
        if verb not in VERB_ACTION:
            verb = verb_of(spelt)
        end = first.end()
        issue = int(first.group(1))
        if (end == size or not (text[end].isspace() or text[end] in ",&([:")) and (
                1 <= issue <= MAX_NUMBER):
            refs = [_Ref(issue)]  # one issue, nothing after it: the common marker
        else:
            st = st or _Line(text, number, prefix, out, low, p, may_negate)
            refs, end = st._issue_list(first)
        bound = end
        marker_text = text[start:end].strip()
        consumed.append((start, end))
        if may_negate:
            st = st or _Line(text, number, prefix, out, low, p, may_negate)
            if st._negated(clause_start, start):
                for ref in refs:
                    out.ignored.append(Note(number, marker_text, "negated", ref.issue))
                continue
        partial = verb in PARTIAL_PHRASES or may_qualify and _qualified(text, clause_start, start)
        action = "ref" if partial else VERB_ACTION[verb]
        for ref in refs:
            if partial:
                out.ignored.append(Note(number, marker_text, PARTIAL_NOTE, ref.issue))
            if ref.error or ref.near_miss:
                continue
            out.actions.append(Action(ref.issue, action, ref.steps, ref.conversation,
                                      marker_text, number))
    if len(consumed) == 1 and consumed[0][0] <= keys[0] and keys[-1] < consumed[0][1]:
        return  # one marker holds every key: no mention, no near miss
    if not consumed and len(keys) == 1 and first is not None:
        out.ignored.append(Note(number, first.group(0), MENTION_NOTE,
                                int(first.group(1))))  # the one key, an issue, a mention
        return
    (st or _Line(text, number, prefix, out, low, p, may_negate))._leftovers(consumed, keys)


def _verb_typo(out: Collected, number: int, text: str, backwards: str, lo: int, at: int,
               ref: re.Match[str], p: Patterns) -> None:
    """`Fxes EXAI-1`: a word before the key (since lo) one slip from a marker verb is a near
    miss: a warning with the marker meant (the key stays a mention)."""
    w = p.word_before.match(backwards, len(text) - at)
    if w is None or len(text) - w.end(1) < lo:
        return
    meant = nearmiss.verb_typo(w.group(1)[::-1])
    if meant is not None:
        start = len(text) - w.end(1)
        out.warnings.append(Note(
            number, text[start : ref.end()], f"{text[start : len(text) - w.start(1)]!r} is not "
            "a marker verb; this does nothing", int(ref.group(1)),
            suggestion=f"{meant.capitalize()} {ref.group(0)}"))


def _qualified(text: str, start: int, end: int) -> bool:
    """Whether the clause text[start:end] ends with a qualifier (and spaces or hyphens)."""
    while end > start and (text[end - 1].isspace() or text[end - 1] == "-"):
        end -= 1
    return QUALIFIER.search(text, max(start, end - 9), end) is not None
