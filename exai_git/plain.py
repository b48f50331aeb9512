"""The line most markers are (`Fixes EXAI-1 step 2 conv:<uuid>`), read in one match: the
one grammar's (grammar.py) reading of such a line, only cheaper. Pure, no I/O.

tests/test_markers.py holds it to reading every line exactly as grammar.read_line does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exai_git.vocabulary import (
    MAX_NUMBER,
    MAX_STEPS,
    PARTIAL_PHRASES,
    VERB_ACTION,
    Action,
    Patterns,
)

if TYPE_CHECKING:
    from exai_git.grammar import Collected


def read_plain(line: str, number: int, prefix: str, out: Collected, low: str,
               p: Patterns) -> bool:
    """The line most markers are, read in one match: only a verb, then one issue with its
    steps (`1-3, 5`) and a conversation id, or a list of issues alone (`EXAI-1, EXAI-2 and
    EXAI-3`). Nothing else is in the line, so no negation, qualifier, mention or near miss
    can be; and each key is an issue of the list, so no verb can be another key's. Numbers
    the grammar refuses, and every other line, are left to the whole grammar (False)."""
    m = p.canonical.match(low)
    if m is None:
        return False
    spelt = m.group(1)
    if spelt not in VERB_ACTION:
        spelt = " ".join(spelt.split())
    verb = VERB_ACTION.get(spelt)
    if verb is None or spelt in PARTIAL_PHRASES:
        return False
    issues = [int(m.group(2))]
    end = m.end()
    steps: tuple[int, ...] = ()
    conv = None
    if end < len(low) and not low[end:].isspace():
        rest = p.canonical_rest.match(low, end)
        if rest is None:
            return False
        if rest.group(1):
            issues.extend(int(n) for n in p.issue.findall(rest.group(1)))
        if rest.group(2):
            if len(issues) > 1:
                return False  # steps belong to the last issue of a list: the whole grammar's
            found: list[int] = []
            for first, last in p.numbers.findall(rest.group(2)):
                a, b = int(first), int(last or first)
                if not 1 <= a <= b <= MAX_NUMBER or b - a >= MAX_STEPS:
                    return False
                found.extend(range(a, b + 1))
            steps = (found[0],) if len(found) == 1 else tuple(sorted(set(found)))
        conv = rest.group(3)
        if conv and len(issues) > 1:
            return False
        end = rest.end(rest.lastindex or 1)
    if low.count(prefix.lower()) != len(issues) or not (
            1 <= min(issues) and max(issues) <= MAX_NUMBER):
        return False
    text = line[m.start(1) : end]
    for n in issues:
        out.actions.append(Action(n, verb, steps, conv, text, number))
    return True
