"""Generated git histories for the backfill test and benchmark (plain helpers, no pytest)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg


def issues_with_steps(dsn: str, count: int, steps: int) -> list[int]:
    """count issues of `steps` checklist steps each; returns their numbers."""
    numbers = []
    with psycopg.connect(dsn) as conn:
        for k in range(count):
            row = conn.execute("INSERT INTO exai_issues (title, severity) VALUES (%s, 'low')"
                               " RETURNING id, issue_number", (f"issue {k}",)).fetchone()
            assert row is not None
            numbers.append(row[1])
            conn.cursor().executemany(
                "INSERT INTO exai_issue_checklist (issue_id, step_number, description)"
                " VALUES (%s, %s, %s)", [(row[0], s, f"s{s}") for s in range(1, steps + 1)])
    return numbers


def fast_import_history(repo: Path, commits: int, marker_every: int, issues: list[int],
                        steps: int) -> int:
    """A history of commits (via git fast-import), every marker_every-th fixing one step;
    returns the number of markers made."""
    lines = []
    markers = 0
    slots = [(i, s) for i in issues for s in range(1, steps + 1)]
    for n in range(1, commits + 1):
        message = f"commit {n}\n\nBody text for commit {n}."
        if n % marker_every == 0 and markers < len(slots):
            issue, step = slots[markers]
            message = f"Fixes EXAI-{issue} step {step}\n\nwork {n}"
            markers += 1
        body = f"line {n}\n"
        msg = message.encode()
        lines.append(b"commit refs/heads/main\n")
        lines.append(f"committer T <t@e> {1_700_000_000 + n} +0000\n".encode())
        lines.append(f"data {len(msg)}\n".encode() + msg + b"\n")
        lines.append(f"M 100644 inline file{n % 50}.txt\ndata {len(body)}\n{body}\n".encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(lines), check=True)
    return markers
