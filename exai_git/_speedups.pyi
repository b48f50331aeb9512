"""The C accelerator of markers.parse() (exai_git/_speedups.c)."""

from collections.abc import Callable
from typing import Any

from exai_git.markers import Parsed

def parse(text: str, *, prefix: str = ..., comment_char: str | None = ...,
          env_conversation: str | None = ...) -> Parsed: ...
def scan(text: str, prefix: str, comment_char: str | None,
         env_conversation: str | None, /) -> Parsed | None: ...
def setup(action: type, note: type, parsed: type, nothing: tuple[Any, ...],
          verbs: dict[str, str], verb_ends: tuple[str, ...], qualified: tuple[str, ...],
          mention_note: str, partial_note: str, ref_action: str,
          parse_python: Callable[..., Parsed], defaults: dict[str, Any] | None, /) -> None: ...
