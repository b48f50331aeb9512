"""The C accelerator of markers.parse() (exai_git/_speedups.c)."""

from typing import Any

def scan(text: str, prefix: str, comment_char: str | None,
         env_conversation: str | None, /) -> Any: ...
def setup(action: type, note: type, parsed: type, nothing: tuple[Any, ...],
          verbs: dict[str, str], verb_ends: tuple[str, ...], qualified: tuple[str, ...],
          mention_note: str, partial_note: str, ref_action: str, /) -> None: ...
