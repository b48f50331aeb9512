"""Which open issues does a change touch? File changes + open issues -> findings. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exai_git.paths import norm_path
from exai_git.ranges import touched

if TYPE_CHECKING:
    from exai_git.diff import FileChange
    from exai_git.store import OpenIssue

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_WHOLE_FILE = ("deleted", "renamed", "type_change", "unmerged")


@dataclass(frozen=True)
class Finding:
    issue: int
    severity: str
    status: str
    title: str
    file_path: str
    line_start: int | None
    line_end: int | None
    touched: tuple[tuple[int, int], ...]
    why: str  # "lines", "file deleted", "file renamed", ...

    def to_json(self) -> dict[str, Any]:
        return {"issue": self.issue, "severity": self.severity, "status": self.status,
                "title": self.title, "file_path": self.file_path,
                "line_start": self.line_start, "line_end": self.line_end,
                "touched": [list(t) for t in self.touched]}


def paths_of(changes: Iterable[FileChange]) -> list[str]:
    """The old-side paths a change could touch issues on (added files have none)."""
    return sorted({norm_path(c.old_path) for c in changes if c.old_path})


@dataclass(frozen=True)
class Probe:
    """What the database is asked about a change: the files, the files touched whole, and
    each hunk's old side (kind 0: lines lo..hi replaced or deleted; kind 1: lines inserted
    after line lo)."""

    paths: list[str]
    whole: list[str]
    hunk_path: list[str]
    hunk_lo: list[int]
    hunk_hi: list[int]
    hunk_kind: list[int]


def probe(changes: Iterable[FileChange]) -> Probe:
    out = Probe([], [], [], [], [], [])
    for c in changes:
        if not c.old_path:
            continue
        path = norm_path(c.old_path)
        out.paths.append(path)
        if c.status in _WHOLE_FILE or c.binary or c.submodule:
            out.whole.append(path)
            continue
        for h in c.hunks:
            out.hunk_path.append(path)
            out.hunk_lo.append(h.old_start)
            out.hunk_hi.append(h.old_start + max(h.old_count, 1) - 1)
            out.hunk_kind.append(0 if h.old_count else 1)
    return out


def findings(changes: Sequence[FileChange], issues: Iterable[OpenIssue]) -> list[Finding]:
    by_path = {norm_path(c.old_path): c for c in changes if c.old_path}
    out = []
    for issue in issues:
        change = by_path.get(issue.norm_path)
        if change is None:
            continue
        start, end = issue.line_start, issue.line_end or issue.line_start
        spans: list[tuple[int, int]]
        if change.status in _WHOLE_FILE or change.binary or change.submodule:
            why = "file " + change.status.replace("_", " ") if change.status in _WHOLE_FILE \
                else ("binary change" if change.binary else "submodule change")
            if change.status == "renamed" and not change.hunks:
                why = "file renamed"
            spans = [(min(start, end), max(start, end))] if start and end else []
        elif not start or not end:
            if not change.hunks:
                continue
            why = "file changed"
            spans = [(h.old_start, h.old_start + max(h.old_count, 1) - 1) for h in change.hunks]
        else:
            spans = touched(start, end, change.hunks)
            if not spans:
                continue
            why = "lines"
        out.append(Finding(issue.issue_number, issue.severity, issue.status, issue.title,
                           issue.file_path, issue.line_start, issue.line_end, tuple(spans), why))
    out.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.issue))
    return out


def fails(found: Sequence[Finding], fail_on: str | None) -> bool:
    if not fail_on:
        return False
    limit = SEVERITY_RANK[fail_on]
    return any(SEVERITY_RANK.get(f.severity, 9) <= limit for f in found)


def finding_line(f: Finding, prefix: str) -> str:
    from exai_git.render import clean

    where = clean(f.file_path)
    if f.line_start:
        end = f.line_end or f.line_start
        where += f":{f.line_start}" if end == f.line_start else f":{f.line_start}-{end}"
    if f.why == "lines":
        detail = "touched " + ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in f.touched)
    else:
        detail = f.why
    return (f"{where} {prefix}-{f.issue} [{clean(f.severity)}, {clean(f.status)}] "
            f"{clean(f.title)} ({detail})")


def hint(found: Sequence[Finding], prefix: str) -> str:
    return hint_for([f.issue for f in found], prefix)


def hint_for(issues: Sequence[int], prefix: str) -> str:
    unique = list(dict.fromkeys(issues))
    keys = ", ".join(f"{prefix}-{n}" for n in unique)
    which = "it" if len(unique) == 1 else "one"
    return (f"hint: this change touches {keys}; if it fixes {which}, say so in the message, "
            f"e.g. `Fixes {prefix}-{issues[0]}` (or `Refs {prefix}-{issues[0]}`)")


def sarif(found: Sequence[Finding], prefix: str, version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the findings, for code hosts."""
    from exai_git.render import sarif_region, sarif_uri

    level = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in found:
        rule_id = f"{prefix}-{f.issue}"
        rules.setdefault(rule_id, {
            "id": rule_id, "name": rule_id,
            "shortDescription": {"text": f.title},
            "properties": {"severity": f.severity, "status": f.status},
        })
        region = sarif_region(f.line_start, f.line_end)
        location: dict[str, Any] = {"artifactLocation": {"uri": sarif_uri(f.file_path)}}
        if region:
            location["region"] = region
        results.append({
            "ruleId": rule_id,
            "level": level.get(f.severity, "warning"),
            "message": {"text": f"This change touches {rule_id} ({f.severity}, {f.status}): "
                                f"{f.title}"},
            "locations": [{"physicalLocation": location}],
        })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "exai-git", "version": version,
                                "rules": list(rules.values())}},
            "results": results,
        }],
    }
