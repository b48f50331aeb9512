"""What the marker parser says about text that is almost a marker: the near misses it
recognises and the wording of its warnings, errors and suggestions. Pure, no I/O.

A suggestion never invents a value the user did not write: where the right value cannot be
known (a conversation id), it names the expected form."""

from __future__ import annotations

import functools

# The form of a conversation id, as suggestions name it (never an example id: a user who
# copied one would record the wrong conversation; nor a placeholder to paste).
UUID_FORM = "a UUID, 8-4-4-4-12 hex digits"
CONV_FORM = "conv: takes a UUID (8-4-4-4-12 hex digits)"
TRAILER_FORM = "a Conversation: trailer takes a UUID (8-4-4-4-12 hex digits)"
_SHOWN = 40  # characters of a user's malformed value quoted back in a message


def shown(value: str) -> str:
    """value as a message quotes it: long values cut short."""
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"


def conv_error(value: str) -> tuple[str, str]:
    """(reason, suggestion) for a malformed conversation id in a marker."""
    if not value:
        return "conv: has no conversation id", CONV_FORM
    return f"conv:{shown(value)} is not a whole conversation id", CONV_FORM


def trailer_error(value: str) -> tuple[str, str]:
    """(reason, suggestion) for a malformed Conversation trailer."""
    return f"Conversation trailer {shown(value)!r} is not a UUID", TRAILER_FORM


def is_form(suggestion: str) -> bool:
    """True for a suggestion that states the expected form, not text to write instead."""
    return suggestion in (CONV_FORM, TRAILER_FORM)


def edit_distance_le(a: str, b: str, limit: int) -> bool:
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


def looks_like_step(word: str) -> bool:
    """A misspelt step keyword: stpe, setp, stps, step, ... (but not step or steps)."""
    w = word.lower()
    if w in ("step", "steps"):
        return False
    if sorted(w) in (sorted("step"), sorted("steps")):
        return True  # transpositions: stpe, setp, spets
    return edit_distance_le(w, "step", 1) or edit_distance_le(w, "steps", 1)


def verb_typo(word: str) -> str | None:
    """The marker verb a misspelt word before a key was meant to be (`Fxes`, `Fixess`,
    `Closs`): one letter left out, added, changed, or two swapped, from one of TYPO_VERBS, and
    itself no verb; None when it is none. Asked for every key with no verb before it, so it
    is a few dictionary lookups: the verbs' one-letter deletions are indexed once, and a word
    meets one when it, or one of its own deletions, is there."""
    w = word.lower()
    index, firsts, verbs = _typo_index()
    if not 3 <= len(w) <= 12 or w[0] not in firsts or w in verbs:
        return None
    for d in (w, *(w[:i] + w[i + 1:] for i in range(len(w)))):
        verb = index.get(d)
        if verb is not None:
            return verb
    return None


@functools.cache
def _typo_index() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    from exai_git.vocabulary import TYPO_VERBS, VERB_ACTION

    index: dict[str, str] = {}
    for verb in TYPO_VERBS:
        for d in (verb, *(verb[:i] + verb[i + 1:] for i in range(len(verb)))):
            index.setdefault(d, verb)
    return index, frozenset(v[0] for v in index.values()), frozenset(VERB_ACTION)


def beside_issue(text: str, pos: int, key: str, written: str
                 ) -> tuple[int, str, str | None] | None:
    """What a reader takes for a marker's step or conversation right after an issue key (at
    text[pos]; key: the issue's key, written: the marker so far), which the grammar does not
    read: `EXAI-1 (step 4)`, `EXAI-1: step 2`, `EXAI-1 (conv:<uuid>)`. Applied, the marker
    would close the whole issue or lose its conversation, so it is a near miss: where it ends,
    why, and the marker meant. None when there is none."""
    from exai_git.vocabulary import STEP_ASIDE_RE

    step = STEP_ASIDE_RE.match(text, pos)
    if step is not None:
        noun = "steps" if "-" in step.group(1) else "step"
        why = f"{text[pos:step.end()].strip()!r} is not read as a step; this marker does nothing"
        return step.end(), why, f"{key} {noun} {step.group(1)}"
    return conversation_beside(text, pos, written)


def conversation_beside(text: str, pos: int, written: str
                        ) -> tuple[int, str, str | None] | None:
    """`EXAI-1 step 2 (conv:<uuid>)`: beside_issue's conversation alone (after steps)."""
    from exai_git.vocabulary import CONV_ASIDE_RE, UUID_RE

    conv = CONV_ASIDE_RE.match(text, pos)
    if conv is None:
        return None
    value = conv.group(1).rstrip(".:!?'\"`")
    good = UUID_RE.match(value) is not None
    why = (f"{text[pos:conv.end()].strip()!r} is not read as the marker's conversation; this "
           f"marker does nothing{'' if good else '; ' + CONV_FORM}")
    return conv.end(), why, f"{written} conv:{value}" if good else None


def step_keyword(text: str, pos: int, key: str) -> tuple[int, str, str | None] | None:
    """`EXAI-1 stpe 3`: a misspelt step keyword after an issue key (at text[pos])."""
    from exai_git.vocabulary import WORD_NUM_RE

    w = WORD_NUM_RE.match(text, pos)
    if w is None or not looks_like_step(w.group(1)):
        return None
    why = f"{w.group(1)!r} is not a step keyword; this marker does nothing"
    return w.end(), why, f"{key} step {w.group(2)}"

