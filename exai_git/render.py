"""Human text, JSON, SARIF and markdown output, each escaped for where it goes.

- Terminal: everything that came from the database or git goes through `clean`: control
  characters (ANSI/OSC escapes, carriage returns, backspaces), C1 controls, bidirectional
  and invisible formatting characters are shown as visible escapes; a byte that was not
  UTF-8 (decoded with surrogateescape) is shown as \\xNN.
- JSON (`to_json`): the same characters, and lone surrogates, as \\u escapes, so the text
  stays exact for a parser and inert on a terminal.
- SARIF 2.1.0: `sarif_uri` percent-encodes a path per RFC 3986; `sarif_region` orders the
  lines.
- Markdown: one-line fields (titles, paths, subjects) never carry a raw newline.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

# C0 controls but tab/newline, DEL, C1 controls, the Arabic letter mark, zero-width and
# bidi marks, embeddings/overrides/isolates, invisible operators, the BOM, the line and
# paragraph separators some terminals honour, and lone surrogates.
_FORMAT = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\u2028\u2029\ufeff\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]")
_UNSAFE_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")
# What json.dumps(ensure_ascii=False) leaves raw: these can only occur inside strings there.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_FORMAT}]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: Any, *, multiline: bool = False) -> str:
    """value as text that is safe to print: no terminal control sequence survives."""
    text = "" if value is None else str(value)
    pattern = _UNSAFE if multiline else _UNSAFE_ONE_LINE
    return pattern.sub(_escape, text)


def json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    text = json.dumps(data, default=json_default, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def sarif_uri(path: str) -> str:
    """A repository-relative path as an RFC 3986 relative reference: every byte but the
    unreserved characters and "/" percent-encoded (UTF-8; surrogateescaped bytes as they
    were)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def sarif_region(start: int | None, end: int | None) -> dict[str, int]:
    """startLine <= endLine, whichever way round the issue has them; {} without lines."""
    if not start or start < 1:
        return {}
    end = end if end and end >= 1 else start
    return {"startLine": min(start, end), "endLine": max(start, end)}


def progress(completed: int | None, total: int | None) -> str:
    completed, total = completed or 0, total or 0
    if total == 0:
        return "no checklist"  # not "0/0 (0%)", which reads as no progress
    pct = 0 if total == 0 else round(100 * completed / total)
    return f"{completed}/{total} ({pct}%)"


def when(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return clean(value)


def location(row: Mapping[str, Any]) -> str:
    path = row.get("file_path")
    if not path:
        return ""
    start, end = row.get("line_start"), row.get("line_end")
    if start and end and end != start:
        return f"{clean(path)}:{min(start, end)}-{max(start, end)}"
    if start:
        return f"{clean(path)}:{start}"
    return clean(path)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return out


def issues_text(rows: Iterable[Mapping[str, Any]], prefix: str) -> str:
    table = [
        [
            f"{prefix}-{r['issue_number']}",
            clean(r["severity"]),
            clean(r["status"]),
            progress(r.get("completed_steps"), r.get("total_steps")),
            clean(r["title"])[:80],
            location(r),
        ]
        for r in rows
    ]
    if not table:
        return "no active issues"
    return "\n".join(_table(table, ["ISSUE", "SEVERITY", "STATUS", "PROGRESS", "TITLE", "WHERE"]))


_STEP_MARK = {"complete": "[x]", "skipped": "[-]", "in_progress": "[~]", "pending": "[ ]"}


def short(sha: str | None) -> str:
    return (sha or "")[:10]


def issue_text(detail: Mapping[str, Any], prefix: str) -> str:
    issue = detail["issue"]
    lines = [
        f"{prefix}-{issue['issue_number']}: {clean(issue['title'])}",
        (f"  severity {clean(issue['severity'])}, status {clean(issue['status'])},"
         f" category {clean(issue.get('category') or '-')},"
         f" progress {progress(issue.get('completed_steps'), issue.get('total_steps'))}"),
    ]
    if issue.get("file_path"):
        lines.append(f"  location: {location(issue)}")
    for key, label in (
        ("conversation_id", "found in conversation"),
        ("fix_conversation_id", "fixed in conversation"),
        ("fix_date", "fixed on"),
    ):
        if issue.get(key):
            lines.append(f"  {label}: {when(issue[key])}")
    if issue.get("affected_components"):
        lines.append("  components: " + ", ".join(clean(c) for c in issue["affected_components"]))
    for key in ("description", "root_cause", "impact_description", "recommended_fix",
                "actual_fix"):
        if issue.get(key):
            lines.append(f"  {key.replace('_', ' ')}:")
            lines.extend("    " + clean(ln) for ln in str(issue[key]).splitlines())
    for column, rows in detail.get("relations", {}).items():
        if rows:
            names = ", ".join(f"{prefix}-{r['issue_number']}" for r in rows)
            lines.append(f"  {column.replace('_', ' ')}: {names}")
    if detail["checklist"]:
        lines.append("checklist:")
        for step in detail["checklist"]:
            mark = _STEP_MARK.get(step["status"], "[?]")
            extra = ""
            if step.get("completed_at"):
                extra = f"  ({when(step['completed_at'])})"
            lines.append(f"  {mark} {step['step_number']}. {clean(step['description'])}{extra}")
    if detail["updates"]:
        lines.append("updates:")
        for u in detail["updates"]:
            lines.append(
                f"  {when(u['created_at'])}  {clean(u['update_type'])}: {clean(u['content'])}"
            )
    if detail["commits"]:
        lines.append("commits:")
        for c in detail["commits"]:
            steps = f" steps {','.join(map(str, c['steps']))}" if c.get("steps") else ""
            where = f" in {clean(c['repository'])}" if c.get("repository") else ""
            undone = (f"  (undone{': ' + clean(c['undone_why']) if c.get('undone_why') else ''})"
                      if c.get("undone_at") else "")
            lines.append(f"  {short(c['commit_sha'])}{where}  {clean(c['action'])}{steps}"
                         f"  {clean(c.get('subject'))}{undone}")
    return "\n".join(lines)


def conversation_text(data: Mapping[str, Any], prefix: str) -> str:
    lines = [f"conversation {clean(data['conversation_id'])}"]
    if not (data["issues"] or data["steps"] or data["updates"] or data["commits"]):
        lines.append("  nothing recorded for this conversation")
        return "\n".join(lines)
    if data["issues"]:
        lines.append("issues:")
        for i in data["issues"]:
            role = " and ".join(
                r for r, on in (("found", i["found_here"]), ("fixed", i["fixed_here"])) if on
            )
            lines.append(
                f"  {prefix}-{i['issue_number']} [{clean(i['severity'])}, {clean(i['status'])}]"
                f" {clean(i['title'])} ({role} here)"
            )
    if data["steps"]:
        lines.append("steps:")
        for s in data["steps"]:
            lines.append(
                f"  {prefix}-{s['issue_number']} step {s['step_number']}: {clean(s['description'])}"
                f" [{clean(s['status'])}]"
            )
    if data["updates"]:
        lines.append("updates:")
        for u in data["updates"]:
            lines.append(
                f"  {when(u['created_at'])}  {prefix}-{u['issue_number']} "
                f"{clean(u['update_type'])}: {clean(u['content'])}"
            )
    if data["commits"]:
        lines.append("commits:")
        for c in data["commits"]:
            lines.append(
                f"  {short(c['commit_sha'])}  {prefix}-{c['issue_number']} {clean(c['action'])}"
                f"  {clean(c.get('subject'))}"
            )
    return "\n".join(lines)


def code(text: str) -> str:
    """text as a markdown code span, fenced with more backticks than it holds."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if run else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def context_markdown(detail: Mapping[str, Any], prefix: str) -> str:
    """The issue as a markdown brief an AI session can resume from."""
    issue = detail["issue"]
    key = f"{prefix}-{issue['issue_number']}"

    def md(value: Any) -> str:  # a one-line field: a newline in it is shown as \\n
        return clean(value)

    def block(value: Any) -> str:  # a section's body may have lines of its own
        return clean(value, multiline=True)

    out = [f"# {key}: {md(issue['title'])}", ""]
    out.append(
        f"- Severity: {md(issue['severity'])}; status: {md(issue['status'])}; "
        f"category: {md(issue.get('category') or 'unset')}"
    )
    out.append(f"- Progress: {progress(issue.get('completed_steps'), issue.get('total_steps'))}")
    if issue.get("file_path"):
        out.append(f"- Location: {code(location(issue))}")
    if issue.get("affected_components"):
        out.append("- Components: " + ", ".join(md(c) for c in issue["affected_components"]))
    if issue.get("conversation_id"):
        out.append(f"- Found in conversation: {code(md(issue['conversation_id']))}")
    if issue.get("fix_conversation_id"):
        out.append(f"- Fixed in conversation: {code(md(issue['fix_conversation_id']))}")
    for column, rows in detail.get("relations", {}).items():
        if rows:
            names = ", ".join(
                f"{prefix}-{r['issue_number']} ({md(r['status'])})" for r in rows
            )
            out.append(f"- {column.replace('_', ' ').capitalize()}: {names}")
    for key_, title in (
        ("description", "Description"),
        ("root_cause", "Root cause"),
        ("impact_description", "Impact"),
        ("recommended_fix", "Recommended fix"),
        ("actual_fix", "Actual fix"),
    ):
        if issue.get(key_):
            out += ["", f"## {title}", "", block(issue[key_])]
    if detail["checklist"]:
        out += ["", "## Checklist", ""]
        for step in detail["checklist"]:
            box = "x" if step["status"] in ("complete", "skipped") else " "
            note = f" ({md(step['status'])})" if step["status"] not in ("pending", "complete") else ""
            out.append(f"- [{box}] {step['step_number']}. {md(step['description'])}{note}")
        pending = [s["step_number"] for s in detail["checklist"]
                   if s["status"] in ("pending", "in_progress")]
        if pending:
            out += ["", (f"Next step: {pending[0]}. Mark steps done in a commit message with "
                         f"`Fixes {key} step {pending[0]} conv:<conversation-id>`.")]
    if detail["updates"]:
        out += ["", "## History", ""]
        for u in detail["updates"]:
            conv = f" (conversation {code(md(u['conversation_id']))})" if u.get("conversation_id") else ""
            out.append(f"- {when(u['created_at'])} {md(u['update_type'])}: {md(u['content'])}{conv}")
    if detail["commits"]:
        out += ["", "## Commits", ""]
        for c in detail["commits"]:
            undone = f" (undone: {md(c.get('undone_why') or 'no longer in force')})" \
                if c.get("undone_at") else ""
            out.append(f"- `{short(c['commit_sha'])}` {md(c['action'])}: {md(c.get('subject'))}"
                       f"{undone}")
    return "\n".join(out) + "\n"


def note_line(kind: str, note: Any) -> str:
    """A parser note (warning or error) as one line, with its suggestion."""
    from exai_git import nearmiss

    where = f" (line {note.line})" if note.line else ""
    tail = ""
    if note.suggestion and nearmiss.is_form(note.suggestion):  # the form, not a rewrite
        tail = f"; {note.suggestion}"
    elif note.suggestion:
        tail = f"; did you mean `{clean(note.suggestion)}`?"
    return f"{kind}{where}: {clean(note.reason)}{tail}"
