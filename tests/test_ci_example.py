"""examples/github-actions.yml cannot rot: every `exai-git` line its `run:` steps hold runs
here, as the workflow would run it (bash -eo pipefail, the step's env with the secret set to
a test database), in real clones of a remote with history, made the way actions/checkout
makes them with fetch-depth: 0. Starts from the seed's three issues (issue 2 on lines 58-60
of src/providers/async_kimi.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Database, git, write

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "github-actions.yml"
KIMI = "src/providers/async_kimi.py"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def job_running(command: str) -> dict[str, Any]:
    """The one job whose steps run `exai-git COMMAND`."""
    jobs = [j for j in workflow()["jobs"].values()
            if any(f"exai-git {command}" in str(s.get("run", "")) for s in j["steps"])]
    assert len(jobs) == 1, f"one job runs exai-git {command}"
    return jobs[0]


def exai_lines(job: dict[str, Any], dsn: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Each `exai-git` line of the job's run steps, with its step's env (the secret set to
    dsn; any other expression fails the test: the test would not know what to put there)."""
    for step in job["steps"]:
        for line in str(step.get("run", "")).splitlines():
            if line.strip().startswith("exai-git"):
                env = {}
                for key, value in (step.get("env") or {}).items():
                    def secret(m: re.Match[str]) -> str:
                        assert m.group(1) == "secrets.EXAI_GIT_DSN", m.group(0)
                        return dsn
                    env[key] = EXPRESSION.sub(secret, str(value))
                assert not EXPRESSION.search(line), line
                yield line.strip(), env


def run(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A run: line as GitHub's runner runs it (bash, -e, pipefail), exai-git on PATH."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "exai-git").exists()
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", line], cwd=cwd, text=True,
        capture_output=True, timeout=120,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env})


def checkout(remote: Path, where: Path, *args: str) -> Path:
    """A clone as actions/checkout makes it with fetch-depth: 0 (every branch as a
    remote-tracking one; file:// so that only what the remote's refs reach comes along)."""
    git(remote.parent, "clone", "-q", *args, f"file://{remote}", str(where))
    return where


def checkout_pull_request(remote: Path, where: Path, branch: str) -> Path:
    """HEAD as a pull_request run has it: the pull request merged into main, detached."""
    checkout(remote, where)
    git(where, "checkout", "-q", "--detach", "origin/main")
    git(where, "merge", "-q", "--no-ff", "--no-edit", f"origin/{branch}")
    return where


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A remote whose main has the file issue 2 sits on, with some history."""
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(path), str(dev))
    git(dev, "checkout", "-q", "-b", "main")
    write(dev / KIMI, "".join(f"l{i}\n" for i in range(1, 101)))
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "kimi")
    write(dev / "README", "x\n")
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "readme")
    git(dev, "push", "-q", "origin", "main")
    return path


def dev_commit(remote: Path, branch: str, message: str, line: int | None = None) -> str:
    """A commit on branch (from main), pushed: editing KIMI's line `line`, else README."""
    dev = remote.parent / "dev"
    git(dev, "fetch", "-q")
    git(dev, "checkout", "-q", "-B", branch, "origin/main")
    if line is None:
        (dev / "README").write_text((dev / "README").read_text() + "more\n")
    else:
        lines = (dev / KIMI).read_text().splitlines(keepends=True)
        lines[line - 1] = f"changed {line}\n"
        (dev / KIMI).write_text("".join(lines))
    git(dev, "commit", "-qam", message)
    git(dev, "push", "-q", "origin", branch)
    return git(dev, "rev-parse", "HEAD").stdout.strip()


# ---------------------------------------------------------------------- the shape


def test_the_workflow_runs_on_push_to_main_and_on_pull_requests() -> None:
    wf = workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    install = wf["env"]["EXAI_GIT_PACKAGE"]
    assert "git+" in install  # not on PyPI: from a git URL
    for command in ("apply", "scan"):
        job = job_running(command)
        uses = [s.get("uses", "") for s in job["steps"]]
        checkout_step = next(s for s in job["steps"] if s.get("uses", "").startswith(
            "actions/checkout@"))
        assert checkout_step["with"]["fetch-depth"] == 0
        assert any(u.startswith("actions/setup-python@") for u in uses)
        assert any('pip install "$EXAI_GIT_PACKAGE"' in str(s.get("run", ""))
                   for s in job["steps"])
    assert "push" in job_running("apply")["if"]
    scan = job_running("scan")
    assert "pull_request" in scan["if"]
    assert scan["permissions"]["security-events"] == "write"
    upload = next(s for s in scan["steps"]
                  if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    line = next(line for line, _ in exai_lines(scan, "dsn"))
    assert line.endswith(f"> {upload['with']['sarif_file']}")


# ---------------------------------------------------------------------- push to main


def test_the_push_job_records_then_applies_what_landed(remote: Path, seeded: Database,
                                                       tmp_path: Path) -> None:
    lines = list(exai_lines(job_running("apply"), seeded.dsn))
    assert [line for line, _ in lines] == ["exai-git apply --branch main"]

    def push_run(n: int) -> list[subprocess.CompletedProcess[str]]:
        clone = checkout(remote, tmp_path / f"run{n}")
        return [run(line, env, clone) for line, env in lines]

    first = push_run(1)
    assert [p.returncode for p in first] == [0], first[0].stderr
    assert "nothing before it is applied: backfill with `exai-git apply" in first[0].stdout
    head = git(remote, "rev-parse", "main").stdout.strip()
    assert seeded.query("SELECT branch, sha FROM exai_branch_heads") == [("main", head)]

    fix = dev_commit(remote, "main", "Cap the timeout\n\nFixes EXAI-2")
    second = push_run(2)
    assert [p.returncode for p in second] == [0], second[0].stderr
    assert f"EXAI: {fix[:10]} EXAI-2: -> fixed" in second[0].stdout, second[0].stdout
    assert seeded.scalar("SELECT status FROM exai_issues WHERE issue_number = 2") == "fixed"
    assert seeded.query("SELECT branch, sha FROM exai_branch_heads") == [("main", fix)]

    third = push_run(3)  # the same push again (a re-run): nothing new
    assert [p.returncode for p in third] == [0]
    assert "0 actions applied" in third[0].stdout


def test_the_push_job_needs_fetch_depth_0(remote: Path, seeded: Database,
                                          tmp_path: Path) -> None:
    clone = checkout(remote, tmp_path / "shallow", "--depth", "1")
    for line, env in exai_lines(job_running("apply"), seeded.dsn):
        out = run(line, env, clone)
        assert out.returncode == 1 and "fetch-depth: 0" in out.stderr
        assert "Traceback" not in out.stderr


# ---------------------------------------------------------------------- pull requests


def test_the_pull_request_job_writes_sarif_of_the_issues_it_touches(
        remote: Path, seeded: Database, tmp_path: Path) -> None:
    dev_commit(remote, "feature", "Touch the timeout", line=59)
    clone = checkout_pull_request(remote, tmp_path / "pr", "feature")
    lines = list(exai_lines(job_running("scan"), seeded.dsn))
    assert len(lines) == 1
    out = run(*lines[0], clone)
    assert out.returncode == 0, out.stderr  # findings alone do not fail the job
    sarif = json.loads((clone / "exai.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["EXAI-2"]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == KIMI
    assert (location["region"]["startLine"], location["region"]["endLine"]) == (58, 60)


def test_the_pull_request_job_with_nothing_touched_writes_empty_sarif(
        remote: Path, seeded: Database, tmp_path: Path) -> None:
    dev_commit(remote, "docs", "Docs only")
    clone = checkout_pull_request(remote, tmp_path / "pr", "docs")
    (line, env), = exai_lines(job_running("scan"), seeded.dsn)
    out = run(line, env, clone)
    assert out.returncode == 0, out.stderr
    sarif = json.loads((clone / "exai.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []


def test_the_pull_request_job_fails_without_a_tracker(remote: Path, tmp_path: Path) -> None:
    """An unreachable tracker fails the step (exit 3, one line), so no empty SARIF is
    uploaded as if nothing were touched."""
    dev_commit(remote, "feature", "Touch the timeout", line=59)
    clone = checkout_pull_request(remote, tmp_path / "pr", "feature")
    (line, env), = exai_lines(job_running("scan"), "postgresql://postgres@127.0.0.1:1/none")
    out = run(line, env, clone)
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
