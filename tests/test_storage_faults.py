"""Faults of the KB file (issue 14, item 10): a file that is not a database, a truncated KB, a 0-byte file, a read-only
file or folder, a full disk. Every command that opens the KB answers with one line naming the file and what to do,
exits 4, and leaves the file as it was (a failed write is rolled back).

And the small items of 15 that concern which file a command opens or what it exits with: `kb --db X check`,
`kb build --offline --nct X`, `kb check stats` on an inconsistent verdict.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

import kb.cli as cli_module
from kb.cli import cli

from .conftest import db_dump, fixture_path
from .faults import ROOT, have, kb, read_only, sidecars, wal_copy
from .fixture_kb import STUDY

EXIT_UNUSABLE = 4  # the documented exit code of a KB file that cannot be used (kb.store.access.EXIT_UNUSABLE)
BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")
# Every command that opens the KB, as it would be typed (`serve` stops at the KB before it listens).
COMMANDS = {"build": ["build", "--offline"], "import": ["import", str(STUDY)], "check": ["check"],
            "refresh": ["refresh"], "serve": ["serve", "--port", "0"]}


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_line(result, *words: str) -> str:
    """The `kb:` line a failed command printed on stderr (a progress label may come before it; no traceback)."""
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("kb: ")]
    assert len(lines) == 1, stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def without_checks(path: Path) -> Path:
    """The KB at `path` with its checks deleted and no free page left, so that `kb check` must write (and grow
    it): derive writes nothing when what it computes is already stored."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM checks")
        conn.commit()
        conn.execute("VACUUM")
    return path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- a file that is not a KB -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_that_is_not_a_database_is_refused_by_every_command(command, tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("These are my notes, not a database.\n" * 50)
    before = digest(path)
    result = kb(*COMMANDS[command], "--db", path, timeout=60)
    assert result.returncode == EXIT_UNUSABLE, result.stderr
    one_line(result, str(path), "is not a knowledge base", "kb build")
    assert digest(path) == before and not sidecars(path)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_truncated_kb_is_refused_by_every_command(command, fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)  # a copy cut short
    before = digest(path)
    result = kb(*COMMANDS[command], "--db", path, timeout=60)
    assert result.returncode == EXIT_UNUSABLE, result.stderr
    one_line(result, str(path), "is damaged", "truncated")
    assert digest(path) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_file_is_not_taken_for_an_empty_kb(command, tmp_path):
    path = tmp_path / "kb.db"
    path.touch()
    result = kb(*COMMANDS[command], "--db", path, timeout=60)
    assert result.returncode == EXIT_UNUSABLE, result.stderr
    one_line(result, str(path), "empty file (0 bytes)", "delete it")
    assert path.stat().st_size == 0 and not sidecars(path)


def test_an_empty_file_stays_refused_before_the_command_name_too(tmp_path):
    path = tmp_path / "kb.db"
    path.touch()
    result = invoke("--db", path, "check")
    assert result.exit_code == EXIT_UNUSABLE and path.stat().st_size == 0


# --- a KB that may not be written ------------------------------------------------------------------------------------


WRITES = {"build": ["build", "--offline"], "import": ["import", str(BULK)], "check": ["check"],
          "refresh": ["refresh"]}


@pytest.mark.parametrize("command, what", [(command, what) for command in WRITES for what in ("folder", "file")
                                           if (command, what) != ("refresh", "file")])
def test_a_read_only_kb_is_one_line_for_every_command_that_writes(command, what, fixture_kb, tmp_path):
    """Each command here writes to the KB (a refresh first writes its lock file beside it; in a writable folder it
    asks the registry before writing, and a command with nothing to write succeeds on a read-only KB)."""
    folder = tmp_path / "published"
    folder.mkdir()
    path = without_checks(wal_copy(fixture_kb, folder / "kb.db"))
    before = digest(path)
    with read_only(path, *([folder] if what == "folder" else [])):
        result = kb(*WRITES[command], "--db", path, restricted=True)
    assert result.returncode == EXIT_UNUSABLE, result.stderr
    one_line(result, str(path), "writ", "kb serve` only reads")
    assert digest(path) == before


# --- a full disk -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["import", str(BULK)], ["check"]], ids=["import", "check"])
def test_a_full_disk_is_one_line_and_the_kb_keeps_what_it_had(command, fixture_kb, tmp_path, monkeypatch):
    """The disk fills up: SQLite's max_page_count, set on the command's own connection just above what the KB
    holds, makes the next write that needs a page fail as a full disk does (SQLITE_FULL)."""
    path = without_checks(wal_copy(fixture_kb, tmp_path / "kb.db"))
    before = db_dump(path)
    open_db = cli_module.open_db

    def nearly_full(db_path):
        db = open_db(db_path)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 1}")
        return db

    monkeypatch.setattr(cli_module, "open_db", nearly_full)
    result = invoke(*command, "--db", path)
    assert result.exit_code == EXIT_UNUSABLE, result.output
    one_line(result, str(path), "disk is full", "keeps everything committed before")
    assert db_dump(path) == before


@pytest.mark.skipif(os.geteuid() != 0 or not have("unshare"), reason="mounting a tmpfs needs root")
def test_a_full_tmpfs_is_one_line_and_the_kb_keeps_what_it_had(fixture_kb, tmp_path):
    """The same on a real full disk: a 1.2 MB tmpfs, in a mount namespace of the test's own (seen by no one else),
    holding a 1 MB KB into which 100 studies are imported."""
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f'mount -t tmpfs -o size={path.stat().st_size + 200_000} tmpfs "{disk}" || exit 99\n'
              f'cp "{path}" "{disk}/kb.db"\n'
              f'"$@" import "{BULK}" --db "{disk}/kb.db"; echo "exit $?"\n'
              f'"$PY" -c "import sqlite3; c = sqlite3.connect(\'{disk}/kb.db\'); '
              f'print(c.execute(\'PRAGMA integrity_check\').fetchone()[0], '
              f'c.execute(\'SELECT count(*) FROM trials\').fetchone()[0])"\n')
    from .faults import KB

    result = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *KB], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PY": KB[0]})
    if result.returncode == 99 or "Operation not permitted" in result.stderr:
        pytest.skip(f"no tmpfs here: {result.stderr.strip()}")
    assert "exit 4" in result.stdout, result.stdout + result.stderr
    one_line(result, f"{disk}/kb.db", "disk is full")
    assert result.stdout.splitlines()[-1] == "ok 1"  # intact, and still the one trial it had


# --- small: which file, which exit code (item 15) --------------------------------------------------------------------


def test_db_before_the_command_name_is_the_file_the_command_opens(fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "mine.db")
    result = invoke("--db", path, "check")
    assert result.exit_code == 0 and "checks in the KB" in result.output, result.output
    missing = tmp_path / "missing.db"
    result = invoke("--db", missing, "check")
    assert result.exit_code == 2 and f"no knowledge base at {missing}" in result.output
    assert not missing.exists() and not (ROOT / "kb.db").exists()


@pytest.mark.parametrize("identifier", [["--nct", "NCT01245062"], ["--pmid", "22663011"],
                                        ["--doi", "10.1056/NEJMoa1200694"]])
def test_offline_build_refuses_identifiers_it_cannot_honour(identifier, tmp_path):
    result = invoke("build", "--offline", *identifier, "--db", tmp_path / "kb.db")
    assert result.exit_code == 2
    one_line(result, "--offline builds the responses shipped with trial-kb only", "kb import")
    assert not (tmp_path / "kb.db").exists()


@pytest.mark.parametrize("args, code", [
    (["--percent", "23.5", "--n", "17", "--k", "4"], 0),  # 4 of 17
    (["--percents", "50,30,20", "--json"], 0),
    (["--mean", "59.6", "--pm", "8.3", "--n", "5", "--p", "0.0003"], 1),  # the README's example: no test gives p
    (["--percent", "30", "--n", "17"], 1),  # no count of 17 gives 30%
    (["--percents", "50,30,30"], 1),
    (["--percents", "50,30,30", "--json"], 1),
    (["--mean", "1"], 2),
])
def test_check_stats_exits_1_when_a_verdict_is_inconsistent(args, code):
    result = invoke("check", "stats", *args)
    assert result.exit_code == code, result.output
    assert ("inconsistent" in result.output) == (code == 1)
