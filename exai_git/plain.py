"""The lines most keys are in, read in one match: a plain marker (`Fixes EXAI-1 step 2
conv:<uuid>`) and a mention (`See the EXAI-12 discussion for context.`). The one grammar's
(grammar.py) reading of such a line, only cheaper. Pure, no I/O.

tests/test_markers_quick.py holds them to reading every line exactly as grammar.read_line
does, and markers.parse to saying exactly what the whole walk says."""

from __future__ import annotations

from exai_git.vocabulary import (
    MAX_NUMBER,
    MAX_STEPS,
    MENTION_NOTE,
    PARTIAL_NOTE,
    PARTIAL_PHRASES,
    VERB_ACTION,
    Action,
    Note,
    Patterns,
    new_tuple,
)


def read_quick(text: str, at: int, number: int, actions: list[Action], ignored: list[Note],
               low: str, p: Patterns) -> bool:
    """The lines most keys are in, read in one match (Patterns.quick) as the whole grammar
    reads them, only cheaper: a plain marker, or a mention. The line is text[at:] up to the
    length of low, the line in lower case; what it says is added to actions and ignored (as
    to a grammar.Collected's). False: the line is neither, nothing was read, and the line
    is the whole grammar's (or, when it may be a quote, a revert or a trailer,
    markers.parse's).

    A plain marker is only a verb (after a qualifier, which makes it a reference: `Partially
    fixes`), then one issue with its steps (`1-3, 5`) and a conversation id, or a list of
    issues alone (`EXAI-1, EXAI-2 and EXAI-3`). Nothing else is in the line, so no negation,
    mention or near miss can be; and each key is an issue of the list, so no verb can be
    another key's. A mention is the line's one key, an issue, and before it no word that can
    end a marker verb (`fix`, `work on`, `fix for`) or be one misspelt (a word starting as a
    verb does: `Fxes`). Numbers the grammar refuses are left to it."""
    keys = low.count(p.lower)
    m = (p.quick if keys == 1 else p.plain).match(low)  # a mention is the line's one key
    if m is None:
        return False
    qualifier, spelt, first, more, step_list, conv, _, issue = m.groups()
    if spelt is None:  # a mention (Patterns.quick read the word before it)
        start, end = m.span(7)
        ignored.append(new_tuple(
            Note, (number, text[at + start : at + end], MENTION_NOTE, int(issue), None)))
        return True
    verb = VERB_ACTION.get(spelt)
    if verb is None:  # words apart by other spaces than one
        spelt = " ".join(spelt.split())
        verb = VERB_ACTION.get(spelt)
        if verb is None:
            return False
    n = int(first)
    if more:
        if step_list or conv:
            return False  # steps and conversations belong to the last issue of a list
        issues: tuple[int, ...] | list[int] = [n, *map(int, p.listed.findall(more))]
        if keys != len(issues) or not (1 <= min(issues) and max(issues) <= MAX_NUMBER):
            return False
    elif not 1 <= n <= MAX_NUMBER or keys != 1:
        return False
    else:
        issues = (n,)
    steps: tuple[int, ...] = ()
    if step_list:
        steps = _steps(step_list, p)
        if not steps:
            return False
    end = m.end(m.lastindex or 3)  # where the marker's last group (issues, steps, id) ends
    written = text[at + m.start(2) : at + end]
    if qualifier is None and spelt not in PARTIAL_PHRASES:
        for n in issues:
            actions.append(new_tuple(Action, (n, verb, steps, conv, written, number)))
    else:
        for n in issues:
            ignored.append(new_tuple(Note, (number, written, PARTIAL_NOTE, n, None)))
            actions.append(new_tuple(Action, (n, "ref", steps, conv, written, number)))
    return True


def _steps(step_list: str, p: Patterns) -> tuple[int, ...]:
    """The steps of a plain marker's step list (`3`, `1-3, 5`); () when the grammar refuses
    one of them (a step 0, a range backwards or too wide: the whole grammar's errors)."""
    if step_list.isdigit():
        step = int(step_list)
        return (step,) if 1 <= step <= MAX_NUMBER else ()
    found: set[int] = set()
    for a, b in p.numbers.findall(step_list):
        lo = int(a)
        if b:
            hi = int(b)
            if not 1 <= lo <= hi <= MAX_NUMBER or hi - lo >= MAX_STEPS:
                return ()
            found.update(range(lo, hi + 1))
        elif 1 <= lo <= MAX_NUMBER:
            found.add(lo)
        else:
            return ()
    return tuple(sorted(found))
