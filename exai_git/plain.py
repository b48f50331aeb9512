"""The lines most keys are in, read in one match: a plain marker (`Fixes EXAI-1 step 2
conv:<uuid>`) and a mention (`See the EXAI-12 discussion for context.`). The one grammar's
(grammar.py) reading of such a line, only cheaper. Pure, no I/O.

tests/test_markers.py holds them to reading every line exactly as grammar.read_line does."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from exai_git.vocabulary import (
    LAST_WORDS,
    MAX_NUMBER,
    MAX_STEPS,
    MENTION_NOTE,
    PARTIAL_NOTE,
    PARTIAL_PHRASES,
    TYPO_FIRSTS,
    VERB_ACTION,
    Action,
    Note,
    Patterns,
)

if TYPE_CHECKING:
    from exai_git.grammar import Collected


def read_quick(line: str, number: int, out: Collected, low: str, p: Patterns) -> bool:
    """The lines most keys are in, read in one match (Patterns.quick) as the whole grammar
    reads them, only cheaper: a plain marker, or a mention. False: the line is neither,
    nothing was read, and the line is the whole grammar's (or, when it may be a quote, a
    revert or a trailer, markers.parse's)."""
    m = p.quick.match(low)
    if m is None:
        return False
    if m.group(2) is not None:
        return _plain(m, line, number, out, low, p)
    # The line's first issue, and before it no word that can end a marker verb (`fix`, `work
    # on`, `fix for`) or be one misspelt (a word starting as a verb does: `Fxes`): when it
    # is the line's one key, the whole grammar reads nothing there but the mention.
    if low.count(p.lower) != 1:
        return False
    word, _, issue = m.group(4, 5, 6)
    if word and (word in LAST_WORDS or word[0] in TYPO_FIRSTS):
        return False
    out.ignored.append(Note(number, line[m.end(5) : m.end()], MENTION_NOTE, int(issue)))
    return True


def _plain(m: re.Match[str], line: str, number: int, out: Collected, low: str,
           p: Patterns) -> bool:
    """The line most markers are (m: its start): only a verb (after a qualifier, which makes
    it a reference: `Partially fixes`), then one issue with its steps (`1-3, 5`) and a
    conversation id, or a list of issues alone (`EXAI-1, EXAI-2 and EXAI-3`). Nothing else is
    in the line, so no negation, mention or near miss can be; and each key is an issue of the
    list, so no verb can be another key's. Numbers the grammar refuses, and every other line,
    are left to the whole grammar (False)."""
    qualifier, spelt, first = m.group(1, 2, 3)
    verb = VERB_ACTION.get(spelt)
    if verb is None:  # words apart by other spaces than one
        spelt = " ".join(spelt.split())
        verb = VERB_ACTION.get(spelt)
        if verb is None:
            return False
    end = m.end()
    steps: tuple[int, ...] = ()
    conv = None
    if end == len(low) or low[end:].isspace():  # one issue, and nothing after it
        issues: tuple[int, ...] | list[int] = (int(first),)
        if not 1 <= issues[0] <= MAX_NUMBER or low.count(p.lower) != 1:
            return False
    else:
        rest = p.canonical_rest.match(low, end)
        if rest is None:
            return False
        more, step_list, conv = rest.groups()
        issues = [int(first)]
        if more:
            if step_list or conv:
                return False  # steps and conversations belong to the last issue of a list
            issues.extend(int(n) for n in p.issue.findall(more))
        if step_list:
            steps = _steps(step_list, p)
            if not steps:
                return False
        end = rest.end(rest.lastindex or 1)
        if low.count(p.lower) != len(issues) or not (
                1 <= min(issues) and max(issues) <= MAX_NUMBER):
            return False
    text = line[m.start(2) : end]
    if qualifier is None and spelt not in PARTIAL_PHRASES:
        for n in issues:
            out.actions.append(Action(n, verb, steps, conv, text, number))
    else:
        for n in issues:
            out.ignored.append(Note(number, text, PARTIAL_NOTE, n))
            out.actions.append(Action(n, "ref", steps, conv, text, number))
    return True


def _steps(step_list: str, p: Patterns) -> tuple[int, ...]:
    """The steps of a plain marker's step list (`3`, `1-3, 5`); () when the grammar refuses
    one of them (a step 0, a range backwards or too wide: the whole grammar's errors)."""
    if step_list.isdigit():
        step = int(step_list)
        return (step,) if 1 <= step <= MAX_NUMBER else ()
    found: list[int] = []
    for a, b in p.numbers.findall(step_list):
        lo, hi = int(a), int(b or a)
        if not 1 <= lo <= hi <= MAX_NUMBER or hi - lo >= MAX_STEPS:
            return ()
        found.extend(range(lo, hi + 1))
    return (found[0],) if len(found) == 1 else tuple(sorted(set(found)))
