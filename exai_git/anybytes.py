"""Text from git that was not UTF-8, on its way to PostgreSQL.

git hands over bytes; exai-git decodes paths and messages with surrogateescape, so a byte
that is not UTF-8 survives as a lone surrogate (U+DC80..U+DCFF) and nothing is lost on the
way through the hooks and the outbox. PostgreSQL text is UTF-8 only, and psycopg refuses to
encode a lone surrogate: `register` makes a connection send such a byte as the escape the
terminal output shows (`\\xff`), so a path or message in any encoding never fails a query
(nor blocks the queue behind it). Valid text is sent unchanged, by psycopg's own dumper.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def db_text(text: str) -> str:
    """text with each lone surrogate written as a visible escape."""
    return _SURROGATE.sub(_escape, text)


def register(conn: Any) -> None:
    """Make conn (a psycopg connection) send str parameters with lone surrogates escaped."""
    from psycopg.adapt import Dumper, PyFormat

    adapters = conn.adapters
    for fmt in (PyFormat.TEXT, PyFormat.BINARY):
        base = adapters.get_dumper(str, fmt)  # psycopg's (C) dumper: wrapped, not subclassed

        class Safe(Dumper):
            format = base.format
            oid = base.oid

            def __init__(self, cls: type, context: Any = None, base: Any = base) -> None:
                super().__init__(cls, context)
                self._inner = base(cls, context)

            def dump(self, obj: str) -> Any:
                try:
                    return self._inner.dump(obj)
                except UnicodeEncodeError:
                    return self._inner.dump(db_text(obj))

        adapters.register_dumper(str, Safe)
