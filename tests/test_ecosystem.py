"""The ecosystem, for real: the whole commit flow (check-msg, scan, apply through real
`git commit`) through pgbouncer in transaction pooling mode, with the native hooks, the
pre-commit framework and prek; the README's pre-commit snippet used verbatim."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, Database, Pgbouncer, exai, git, write

U = "debb44af-15b9-456d-9b88-6a2519f81427"


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def readme_hooks_config(hook_repo: Path) -> str:
    """The README's .pre-commit-config.yaml, verbatim but for `repo:`, a local clone."""
    block = re.search(r"```yaml\n(.*?)```", readme_section("Hooks"), re.DOTALL)
    assert block is not None, "no yaml block in the README's Hooks section"
    config, n = re.subn(r"(- repo: )\S+", lambda m: m.group(1) + str(hook_repo), block.group(1))
    assert n == 1
    return config


def readme_install_command() -> str:
    block = re.search(r"```sh\n(.*?)```", readme_section("Hooks"), re.DOTALL)
    assert block is not None, "no sh block in the README's Hooks section"
    return block.group(1).strip()


def step_status(db: Database, number: int, step: int) -> tuple[str, str | None]:
    row = db.query("SELECT c.status, c.conversation_id FROM exai_issue_checklist c JOIN"
                   " exai_issues i ON i.id = c.issue_id WHERE i.issue_number = %s AND"
                   " c.step_number = %s", (number, step))[0]
    return row[0], row[1]


def commit_flow(repo: Path, direct: Database) -> None:
    """check-msg, scan and apply through real commits; what the hooks print, what is stored."""
    write(repo / "src/providers/async_kimi.py", "".join(f"l{i}\n" for i in range(1, 101)))
    write(repo / "src/providers/async_glm.py", "".join(f"g{i}\n" for i in range(1, 101)))
    git(repo, "add", "-A")
    base = git(repo, "commit", "-m", "base", check=False)
    assert base.returncode == 0, base.stdout + base.stderr

    # a malformed marker is refused by commit-msg
    bad = git(repo, "commit", "--allow-empty", "-m", "Fixes EXAI-1 step 9", check=False)
    assert bad.returncode != 0 and "no step 9" in bad.stdout + bad.stderr
    # a near miss passes, and its warning is seen
    near = git(repo, "commit", "--allow-empty", "-m", "Touches EXAI 1 a bit", check=False)
    assert near.returncode == 0, near.stdout + near.stderr
    assert "looks like an issue key" in near.stdout + near.stderr

    # the scan warns about the open issue on the touched lines; apply records the marker
    text = (repo / "src/providers/async_kimi.py").read_text().replace("l59\n", "timeout\n")
    write(repo / "src/providers/async_kimi.py", text)
    text = (repo / "src/providers/async_glm.py").read_text().replace("g49\n", "timeout\n")
    write(repo / "src/providers/async_glm.py", text)
    git(repo, "add", "-A")
    out = git(repo, "commit", "-m", f"Fixes EXAI-1 step 3 conv:{U}\n\nRefs EXAI-2", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    said = out.stdout + out.stderr
    assert "EXAI-2 [high, open]" in said and "EXAI-1 [critical, open]" in said
    assert step_status(direct, 1, 3) == ("complete", U)
    assert direct.scalar("SELECT status FROM exai_issues WHERE issue_number = 1") == \
        "in_progress"
    sha = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert direct.scalar("SELECT count(*) FROM exai_commit_links WHERE commit_sha = %s",
                         (sha,)) >= 1
    assert "outbox" not in said  # nothing was queued: the pooler answered


def test_store_connects_without_prepared_statements(pooled: Database) -> None:
    """Behind a transaction pooler a connection must not prepare statements (psycopg would
    after five executions of one query, and the next transaction may land elsewhere)."""
    from exai_git import store

    with store.connect(pooled.settings()) as conn:
        assert conn.prepare_threshold is None
        for _ in range(20):
            assert conn.execute("SELECT count(*) FROM exai_issues").fetchone() == (3,)
            conn.commit()


def test_cli_through_pgbouncer(repo: Path, pooled: Database, seeded: Database,
                               pgbouncer: Pgbouncer) -> None:
    env = {"EXAI_GIT_DSN": pooled.dsn}
    write(repo / "src/providers/async_kimi.py", "".join(f"l{i}\n" for i in range(1, 101)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    msg = repo / "msg"
    for _ in range(3):  # the same statements again and again: no prepared statement clash
        msg.write_text("Fixes EXAI-1 step 9\n")
        bad = exai("check-msg", str(msg), cwd=repo, env=env)
        assert bad.returncode == 1 and "no step 9" in bad.stderr, bad.stderr
        msg.write_text("Fixes EXAI-1 step 3\n")
        assert exai("check-msg", str(msg), cwd=repo, env=env).returncode == 0
    write(repo / "src/providers/async_kimi.py",
          (repo / "src/providers/async_kimi.py").read_text().replace("l58\n", "x\n"))
    git(repo, "add", "-A")
    scan = exai("scan", cwd=repo, env=env)
    assert "EXAI-2 [high, open]" in scan.stdout + scan.stderr, scan.stdout + scan.stderr
    git(repo, "commit", "-qm", f"Fixes EXAI-1 step 3 conv:{U}", env={"EXAI_GIT_SKIP": "1"})
    applied = exai("apply", cwd=repo, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert step_status(seeded, 1, 3) == ("complete", U)
    doctor = exai("doctor", cwd=repo, env=env)
    assert f"127.0.0.1:{pgbouncer.port}" in doctor.stdout or "127.0.0.1" in doctor.stdout
    assert "ok    schema" in doctor.stdout, doctor.stdout


def test_native_hooks_through_pgbouncer(repo: Path, pooled: Database, seeded: Database,
                                        frameworks_path: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAI_GIT_DSN", pooled.dsn)
    installed = exai("install", cwd=repo)
    assert installed.returncode == 0, installed.stderr
    commit_flow(repo, seeded)


def framework_repo(repo: Path, hook_repo: tuple[Path, str]) -> None:
    config = readme_hooks_config(hook_repo[0])
    assert f"rev: {hook_repo[1]}" in config  # the README's rev is the tag a release has
    write(repo / ".pre-commit-config.yaml", config)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["pre-commit", "prek"])
def test_readme_snippet_through_the_framework_and_pgbouncer(
        tool: str, repo: Path, pooled: Database, seeded: Database,
        hook_repo: tuple[Path, str], frameworks_path: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's snippet and install command, verbatim (prek: the same command with its
    name), then the whole commit flow through pgbouncer."""
    monkeypatch.setenv("EXAI_GIT_DSN", pooled.dsn)
    framework_repo(repo, hook_repo)
    command = readme_install_command()
    assert command == "pre-commit install"
    if tool == "prek":
        command = command.replace("pre-commit", "prek", 1)
    done = subprocess.run(command, shell=True, cwd=repo, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = repo / ".git" / "hooks"
    for kind in ("commit-msg", "pre-commit", "post-commit", "pre-push", "post-merge",
                 "post-rewrite", "post-checkout"):
        assert (hooks / kind).exists(), f"{tool} did not install {kind}"
    doctor = exai("doctor", cwd=repo)
    assert "commit-msg, pre-commit, post-commit, pre-push" in doctor.stdout, doctor.stdout
    git(repo, "add", ".pre-commit-config.yaml")
    commit_flow(repo, seeded)
