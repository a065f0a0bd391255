"""Faults of `kb serve` (issue 14): one query for a huge value or result (item 8), a KB it may not write or that needs
an upgrade (item 12), a port in use (item 13), lower-case NCT IDs in the canned queries and SIGTERM (item 15).

In-process tests use Datasette's test client on `datasette_for`; the others run `kb serve` as its own process on a
free loopback port (tests/faults.py), with bounded waits, and a memory cap on the process where a query could
otherwise take all the machine's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlite_utils
from click.testing import CliRunner

from kb import serve
from kb.cli import cli
from kb.serve import DATABASE, MAX_VALUE, MiB, ResponseCap, datasette_for, inspect
from kb.store import bulk

from .faults import KB, OFFLINE_ENV, ROOT, kb, read_only, serving, sidecars, stop, wal_copy
from .fixture_kb import NCT

EXIT_UNUSABLE, EXIT_LISTEN = 4, 5  # documented exit codes: the KB file cannot be used; cannot listen there
ROWS_OF_BIG_VALUES = ("with recursive r(i) as (select 1 union all select i + 1 from r where i < 1000) "
                      "select zeroblob(60000000) from r")
WIDE_ROW = "select " + ", ".join(["zeroblob(60000000)"] * 40)
ATTACKS = {  # query: what its error says
    "select zeroblob(900000000)": "longer than 64 MiB",
    "select randomblob(1e9)": "longer than 64 MiB",
    "select length(randomblob(1e9))": "longer than 64 MiB",
    "select hex(zeroblob(50000000))": "longer than 64 MiB",
    ROWS_OF_BIG_VALUES: "pass 128 MiB",
}


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sql_url(sql: str) -> str:
    return f"/{DATABASE}.json?{urlencode({'sql': sql, '_shape': 'array'})}"


# --- item 8: no query exhausts the server ----------------------------------------------------------------------------


def test_every_connection_datasette_opens_is_bounded(datasette):
    """Checked first, so that the tests below never send their queries to an unbounded server in this process."""
    conn = datasette.get_database(DATABASE).connect()
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == MAX_VALUE == 64 * MiB
    assert isinstance(conn.cursor(), serve.BoundedCursor) and isinstance(conn.execute("select 1"), serve.BoundedCursor)
    with pytest.raises(sqlite3.OperationalError, match="only reads"):
        datasette.get_database(DATABASE).connect(write=True)


@pytest.mark.anyio
@pytest.mark.parametrize("sql", ATTACKS)
async def test_a_huge_value_or_result_is_a_quick_error_and_the_next_request_is_served(datasette, sql):
    test_every_connection_datasette_opens_is_bounded(datasette)
    start = time.monotonic()
    response = await datasette.client.get(sql_url(sql))
    assert response.status_code == 400 and ATTACKS[sql] in response.json()["error"], response.text[:300]
    assert time.monotonic() - start < 3
    after = await datasette.client.get(f"/{DATABASE}/trials.json?_shape=array")
    assert after.status_code == 200 and after.json()[0]["nct_id"] == NCT


@pytest.mark.anyio
async def test_a_value_up_to_the_limit_stays_readable(fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    body = bytes(range(256)) * ((MAX_VALUE - 4096) // 256)
    with sqlite_utils.Database(path) as db:
        db["snapshots"].insert({"id": "big", "source": "test", "key": "big", "size": len(body), "body": body})
    datasette = datasette_for(path)
    blob = await datasette.client.get(f"/{DATABASE}/snapshots/big.blob?_blob_column=body")
    assert blob.status_code == 200 and blob.content == body
    length = await datasette.client.get(sql_url("select length(body) as n from snapshots where id = 'big'"))
    assert length.json() == [{"n": len(body)}]


@pytest.mark.anyio
async def test_a_response_past_the_cap_is_an_error_and_the_next_is_served(fixture_kb, monkeypatch):
    monkeypatch.setattr(serve, "MAX_RESPONSE", 64 * 1024)
    datasette = datasette_for(fixture_kb)
    response = await datasette.client.get(f"/{DATABASE}/snapshots.json?_size=max")
    assert response.status_code == 400
    assert "passed 0.0625 MiB, the most it sends" in response.json()["error"]
    page = await datasette.client.get(f"/{DATABASE}/results")  # 218 KiB of HTML
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/plain")
    assert page.text.startswith("kb serve: the response passed 0.0625 MiB")
    assert (await datasette.client.get(f"/{DATABASE}/trials.json?_shape=array&_col=brief_title")).status_code == 200


def test_a_streamed_response_past_the_cap_ends_with_the_notice_incomplete_and_the_stream_stops():
    chunks_made, sent = [], []

    async def streaming(scope, receive, send):  # as Datasette streams a CSV: a start, then many chunks
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(1000):
            chunks_made.append(i)
            await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        sent.append(message)

    asyncio.run(ResponseCap(streaming, 10_500)({"type": "http", "path": "/kb/trials.csv"}, None, send))
    assert sent[0]["status"] == 200 and len(chunks_made) == 11  # stopped at its next write
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body.startswith(b"x" * 10_000) and body.endswith(b"the most it sends: ask for fewer rows or columns, "
                                                            b"or read the KB file with sqlite3\n")
    assert all(m.get("more_body") for m in sent[1:])  # never complete: no client takes the part for the whole


def vm_peak_rss(pid: int) -> int:
    """The most resident memory process `pid` has used so far (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def test_kb_serve_answers_every_attack_quickly_in_bounded_memory_and_keeps_serving(fixture_kb, tmp_path):
    """The real `kb serve` process, over HTTP. Its address space is capped at 4 GiB, so that a server without the
    limits fails this test instead of taking the machine's memory (the issue saw 24 GB)."""
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    cap = 4 << 30
    process = subprocess.Popen([*KB, "serve", "--db", str(path), "--port", "0"], cwd=ROOT, env=OFFLINE_ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))
    try:
        url = process.stdout.readline().split(" at ")[1].split()[0]
        timings = {}
        for sql, expected in {**ATTACKS, WIDE_ROW: "more memory than kb serve gives SQLite"}.items():
            start = time.monotonic()
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(url.rstrip("/") + sql_url(sql), timeout=30)
            timings[sql[:30]] = time.monotonic() - start
            assert error.value.code == 400 and expected in json.loads(error.value.read())["error"]
        with urllib.request.urlopen(f"{url}{DATABASE}/trials.json?_shape=array", timeout=30) as response:
            assert json.loads(response.read())[0]["nct_id"] == NCT
        assert max(timings.values()) < 3, timings
        assert vm_peak_rss(process.pid) < 1 << 30  # measured: about 560 MB, the wide row's 512 MiB SQLite cap
    finally:
        code, _ = stop(process)
        process.stdout.close()
        process.stderr.close()
    assert code == 0


# --- item 12: serving only reads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["folder", "file"])
def test_serve_reads_a_kb_it_may_not_write(what, fixture_kb, tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    path = wal_copy(fixture_kb, folder / "kb.db")
    before = digest(path)
    with read_only(path, *([folder] if what == "folder" else [])):
        with serving(path, restricted=True) as (process, url):
            with urllib.request.urlopen(f"{url}{DATABASE}/trials.json?_shape=array", timeout=30) as response:
                assert json.loads(response.read())[0]["nct_id"] == NCT
            with urllib.request.urlopen(f"{url}{DATABASE}/trial_report?nct={NCT}", timeout=30) as response:
                assert response.status == 200
            code, _ = stop(process)
    assert code == 0 and digest(path) == before and not sidecars(path)


def test_serve_writes_nothing_and_sigterm_leaves_no_wal_or_shm(fixture_kb, tmp_path):
    """Item 15: SIGTERM left kb.db-wal and kb.db-shm beside the KB; item 12: serving switched WAL on and migrated."""
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    before = digest(path)
    with serving(path) as (process, url):
        with urllib.request.urlopen(f"{url}{DATABASE}/checks", timeout=30) as response:
            assert response.status == 200
        assert sidecars(path) == ["kb.db-shm", "kb.db-wal"]  # a reader of a WAL-mode KB makes them
        code, seconds = stop(process)
        stderr = process.stderr.read()
    assert code == 0 and seconds < 10 and "Traceback" not in stderr, stderr
    assert not sidecars(path) and digest(path) == before


def test_a_kb_that_needs_an_upgrade_is_refused_with_the_command_that_upgrades_it(fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    with closing(sqlite3.connect(path)) as conn:  # a KB made before migration m003
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_computed_tables'")
        conn.commit()
    before = digest(path)
    result = kb("serve", "--db", path, "--port", "0", timeout=60)
    assert result.returncode == EXIT_UNUSABLE, result.stderr
    assert result.stderr == (f"kb: {path} needs an upgrade to this version of trial-kb (migration m003_computed_tables)"
                             ", which `kb serve` does not do since it only reads: run `kb check --db "
                             f"{path}` (or any command that writes to the KB), then serve it\n")
    assert digest(path) == before and not sidecars(path)
    assert CliRunner().invoke(cli, ["check", "--db", str(path)]).exit_code == 0  # the command it gives
    assert inspect(str(path)) == []


def test_a_database_that_is_not_a_kb_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (text)")
    result = kb("serve", "--db", path, "--port", "0", timeout=60)
    assert result.returncode == EXIT_UNUSABLE
    assert result.stderr == (f"kb: {path} is a SQLite database but not a knowledge base (it has none of the KB's "
                             "tables): give the file that `kb build` or `kb import` made\n")


@pytest.mark.anyio
async def test_a_kb_whose_indexes_were_set_aside_is_served_with_a_warning(fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    with sqlite_utils.Database(path) as db:  # what a bulk load killed halfway leaves
        bulk.DeferredIndexes(db, {"trials": set(), "checks": set()}).start()
    [warning] = inspect(str(path))
    assert "lacks index on trials(overall_status)" in warning and f"`kb check --db {path}` rebuilds them" in warning
    response = await datasette_for(path).client.get(f"/{DATABASE}/trials.json?_search=sorafenib&_shape=array")
    assert response.status_code == 200 and response.json()[0]["nct_id"] == NCT


# --- item 13: a port in use ------------------------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_and_exit_5(fixture_kb, tmp_path):
    path = wal_copy(fixture_kb, tmp_path / "kb.db")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = kb("serve", "--db", path, "--port", port, timeout=60)
    assert result.returncode == EXIT_LISTEN
    assert result.stderr == f"kb: port {port} on 127.0.0.1 is in use: choose another with --port\n"
    assert result.stdout == "" and not sidecars(path)


# --- item 15: lower-case NCT IDs in the canned queries ---------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["trial_report", "history", "registry_vs_publication"])
async def test_canned_queries_take_an_nct_id_in_any_case_and_with_spaces(datasette, query):
    async def rows(nct):
        url = f"/{DATABASE}/{query}.json?{urlencode({'nct': nct, '_shape': 'array'})}"
        response = await datasette.client.get(url)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    expected = await rows(NCT)
    assert expected and await rows(NCT.lower()) == expected and await rows(f" {NCT.lower()} ") == expected
