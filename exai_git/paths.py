"""The normal form issue paths are matched in. Pure; mirrors SQL exai_norm_path."""

from __future__ import annotations

import re

_SLASHES = re.compile(r"/{2,}")


def norm_path(path: str) -> str:
    """'./src\\\\x.py' and 'src//x.py' are both 'src/x.py'."""
    p = _SLASHES.sub("/", path.replace("\\", "/"))
    while p.startswith("./"):
        p = p[2:]
    return p
