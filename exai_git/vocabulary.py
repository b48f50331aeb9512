"""The words of the marker language (MARKERS.md "Grammar"): verbs and their actions, the
patterns for negations, qualifiers, separators, steps and conversation ids, the results'
types, and the compiled patterns for a key. Pure, no I/O; grammar.py reads lines with them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
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
VERB_ACTION = {v: action for action, verbs in VERBS.items() for v in verbs}
# The verbs a misspelt word before a key is compared with (nearmiss.verb_typo): one word of
# four letters or more that moves an issue or its steps (a misspelt reference costs nothing).
TYPO_VERBS = tuple(sorted(v for v, action in VERB_ACTION.items()
                          if " " not in v and len(v) >= 4 and action != "ref"))
_TYPO_FIRSTS = "".join(sorted({v[0] for v in TYPO_VERBS} | {v[0].upper() for v in TYPO_VERBS}))
# A verb phrase that is itself a partial qualifier ("part of the fix for EXAI-1").
PARTIAL_PHRASES = {"part of the fix for"}
# Why a key is ignored, or a marker read as a reference, as parse() says it.
MENTION_NOTE = "mention: no marker verb before it"
PARTIAL_NOTE = "partial: recorded as a reference, not a fix"
# The last word of each verb: a word before a key that is none of these ends no verb.
LAST_WORDS = frozenset(v.split()[-1] for v in VERB_ACTION)
# A word before a key that starts with none of these letters is no misspelt verb.
TYPO_FIRSTS = frozenset(v[0] for v in TYPO_VERBS)

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
MAX_STEPS = 1000  # a step range wider than this is a typo, not a checklist
MAX_NUMBER = 2_147_483_647  # PostgreSQL integer

# A negation in a marker's clause. `\w+n't` is tried from the start of a word only (the same
# matches as from anywhere in it, but a long word is not walked again from each of its letters).
NEGATION = re.compile(
    r"(?<![\w'’])(?:not|no|never|without|cannot)(?![\w'’])|(?<!\w)\w+n['’]t(?![\w'’])",
    re.IGNORECASE,
)
# A qualifier ending a clause (before the spaces and hyphens that lead to the verb).
QUALIFIER = re.compile(r"(?<![\w'’])(?:partially|partly|half)\Z", re.IGNORECASE)
CLAUSE_END = re.compile(r"[.!?;,]")
SEP = r"\s*+(?:,\s*+and(?![\w-])|,|&|(?<!\w)and(?![\w-]))\s*+"
SEP_RE = re.compile(SEP, re.IGNORECASE)
STEP_KW_RE = re.compile(r"\s++steps?\s*+:?\s*+(?=[0-9])", re.IGNORECASE)
_STEP_ITEM = r"[0-9]{1,12}(?:\s*-\s*[0-9]{1,12})?"  # a step or a range, in a plain marker
STEP_ITEM_RE = re.compile(r"([0-9]{1,12})(?:\s*(?:-|\.\.|–)\s*([0-9]{1,12}))?(?![\w.]*[0-9A-Za-z_])")
CONV_RE = re.compile(r"\s++conv(?:ersation)?\s*+[:=]\s*+([^\s,;&()\[\]<>]*)", re.IGNORECASE)
WORD_NUM_RE = re.compile(r"\s++([A-Za-z]{2,7})\s*+:?\s*+([0-9]+)")
# A step written where the grammar does not read one: `EXAI-1 (step 4)`, `EXAI-1: step 2`.
STEP_ASIDE_RE = re.compile(
    r"[ \t]*+[(\[:][ \t]*+steps?[ \t]*+:?[ \t]*+([0-9]{1,12}(?:[ \t]*+-[ \t]*+[0-9]{1,12})?)"
    r"(?:[ \t]*+[)\]])?",
    re.IGNORECASE)
# A conversation id in brackets, which the grammar does not read: `EXAI-1 (conv:<uuid>)`.
CONV_ASIDE_RE = re.compile(
    r"[ \t]*+[(\[][ \t]*+conv(?:ersation)?[ \t]*+[:=][ \t]*+([^\s)\]]*+)[ \t]*+[)\]]?",
    re.IGNORECASE)


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


# new_tuple(Note, fields) is Note(*fields), all of its fields given in order, without the
# Python frame of the NamedTuple's generated __new__: the quick readings (plain.py) and parse's
# result are made with it, where that frame costs as much as a regex match.
new_tuple = tuple.__new__


class Patterns(NamedTuple):
    key: re.Pattern[str]
    verb_before: re.Pattern[str]
    verb_before_lower: re.Pattern[str]  # the same, for an ASCII line in lower case
    fix_for_before: re.Pattern[str]
    word_before: re.Pattern[str]  # the word before a key, read backwards (a misspelt verb)
    issue: re.Pattern[str]
    near: re.Pattern[str]
    trailer: re.Pattern[str]
    # The one match plain.read_quick reads an ASCII line in lower case with: a whole plain
    # marker (groups 1-6: a qualifier, the verb, the first issue, the issues listed after
    # it, the steps, the conversation id), else, on a line that is no quote, revert or
    # trailer, an issue with no word before it that can end or misspell a verb (groups 7-8:
    # the key and number, the number).
    quick: re.Pattern[str]
    plain: re.Pattern[str]  # quick without the mention (groups 7-8 never set)
    listed: re.Pattern[str]  # the numbers of the issues a plain marker lists after its first
    numbers: re.Pattern[str]  # the numbers in a plain marker's steps
    lower: str  # the key in lower case
    conversation: re.Pattern[str]  # a whole ASCII line in lower case: a good trailer


def verb_of(text: str) -> str:
    """The verb (a key of VERB_ACTION) that text, a match of the verb patterns, spells.
    The patterns match case-insensitively as re does, which also takes `ſ` for `s` and `ı`
    for `i`: those spellings are looked up by matching each verb in turn."""
    verb = " ".join(text.lower().split())
    if verb in VERB_ACTION:
        return verb
    return next(v for v in sorted(VERB_ACTION, key=len, reverse=True)
                if re.fullmatch(r"\s+".join(map(re.escape, v.split())), text, re.IGNORECASE))


def _tree(phrases: Iterable[str]) -> str:
    """Phrases as one regex, any whitespace between their words, read as a prefix tree: what
    their alternatives longest first match, in the same order (a phrase that starts another
    is tried after it), each character tested once rather than once a phrase."""
    tree: dict[str, Any] = {}
    for phrase in phrases:
        node = tree
        for c in " ".join(phrase.split()):
            node = node.setdefault(c, {})
        node[""] = {}

    def branches(node: dict[str, Any]) -> str:
        out = [(r"\s+" if c == " " else re.escape(c)) + branches(node[c])
               for c in sorted(node) if c]
        if not out:
            return ""
        either = out[0] if len(out) == 1 else f"(?:{'|'.join(out)})"
        return f"(?:{either})?" if "" in node else either

    return branches(tree)


def _reversed(phrases: Iterable[str]) -> str:
    """Phrases spelt backwards as regex alternatives, longest first, any whitespace between
    their words."""
    return "|".join(r"\s+".join(re.escape(w[::-1]) for w in reversed(v.split()))
                    for v in sorted(phrases, key=len, reverse=True))


_WORD_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")  # a key as settings allow it


def _quick(prefix: str) -> tuple[str, str]:
    """Patterns.quick and Patterns.plain, for an ASCII line in lower case.

    Each part of the line is read a bounded number of times: the plain marker is anchored;
    the lines markers.parse reads before the grammar (a quote, a revert's subject or body, a
    trailer, or what may be one) are refused at the start; then the line is read a word (and
    the spaces and colons after it), a run of spaces and colons, or a run of other
    characters at a time, without giving back, and the first issue is looked for where each
    of them ends (where a word, or spaces after none, may start)."""
    key = re.escape(prefix.lower())
    plain = (rf"\s*+((?:partially|partly|half)\s+|half-)?"
             rf"({_tree(VERB_ACTION)})(?:\s++:?|:)\s*+{key}-([0-9]{{1,12}})"
             rf"((?:{SEP}{key}-[0-9]{{1,12}})*+)"
             rf"(?:\s++steps?\s*+:?\s*+({_STEP_ITEM}(?:\s*,\s*{_STEP_ITEM})*+))?"
             r"(?:\s+conv(?:ersation)?\s*[:=]\s*"
             r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))?\s*\Z")
    # (`<key>-Conversation:` is no mention: its key is the line's one key, and no issue)
    special = (r"\s*+>|(?:[*-][ \t]+)?(?:revert \"|reapply \"|this reverts commit )"
               r"|\s*+(?:exai-)?conversation")
    # The word before a mention: none that can end a marker verb (`fix`, `work on`, `fix
    # for`) or be one misspelt (a word starting as a verb does: `Fxes`, nearmiss.verb_typo).
    others = "|".join(sorted(w for w in LAST_WORDS if w[0] not in TYPO_FIRSTS))
    word = rf"(?![{''.join(sorted(TYPO_FIRSTS))}]|(?:{others})(?![a-z]))[a-z]++"
    mention = (rf"(?!{special})(?:[a-z]++[\s:]*+|[\s:]++|[^a-z\s:]++)*?"
               rf"(?:(?<![a-z]){word}|(?<![a-z\s:]))[\s:]*+"
               rf"(?<![\w-])({key}-([0-9]{{1,12}}))(?!\w)")
    alone = f"{plain}|(?!)()()"  # (the same groups)
    # (a key as settings do not allow it: no mention)
    return f"{plain}|{mention}" if _WORD_KEY.match(prefix) else alone, alone


@functools.lru_cache(maxsize=16)
def patterns(prefix: str) -> Patterns:
    """The grammar's patterns for a key.

    A verb is read backwards from the key it leads to: `verb_before` is matched at one
    position of the line spelt backwards (where the key starts), so finding a marker's verb
    costs the same wherever it is in the line. It reads, backwards: the `\\s*:?\\s*` between
    verb and key (not empty: a verb is a whole word), the longest verb, and a start of word
    (no letter, digit, underscore or hyphen before it, except `half-`)."""
    key = re.escape(prefix)
    low = key.lower()
    quick, plain = _quick(prefix)
    word_start = r"(?:(?![\w-])|(?=-flah))"
    # All in lower case: matched without IGNORECASE on a lower-case ASCII line, it says what
    # it says with IGNORECASE on the line itself (ſ, ı and K fold only beyond ASCII).
    verb_before = rf"(?:\s++:?|:)\s*+({_reversed(VERB_ACTION)}){word_start}"
    return Patterns(
        key=re.compile(rf"(?={key})", re.IGNORECASE),
        verb_before=re.compile(verb_before, re.IGNORECASE),
        verb_before_lower=re.compile(verb_before),
        word_before=re.compile(rf"(?:\s++:?|:)\s*+([A-Za-z]{{2,11}}[{_TYPO_FIRSTS}])(?![\w-])"),
        fix_for_before=re.compile(rf"\s++rof\s++({_reversed(VERBS['fix'])}){word_start}",
                                  re.IGNORECASE),
        issue=re.compile(rf"(?<![\w-]){key}-([0-9]{{1,12}})(?!\w)", re.IGNORECASE),
        near=re.compile(rf"(?<![\w-]){key}(?:[ \t]{{1,2}}|_|#|-[ \t]+|)([0-9]{{1,12}})(?!\w)",
                        re.IGNORECASE),
        trailer=re.compile(rf"\s*+(?:{key}-|EXAI-)?conversation\s*+:\s*+(\S*+)\s*+\Z",
                           re.IGNORECASE),
        quick=re.compile(quick),
        plain=re.compile(plain),
        listed=re.compile(rf"{low}-([0-9]+)"),
        numbers=re.compile(r"([0-9]+)(?:\s*-\s*([0-9]+))?"),
        lower=prefix.lower(),
        conversation=re.compile(
            rf"\s*+(?:{low}-|exai-)?conversation\s*+:\s*+"
            r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.*+\s*+\Z"),
    )
