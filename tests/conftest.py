"""Shared test fixtures: recorded responses, the loopback replay server (tests/loopback.py), database dumps.

The network is blocked for every test by pytest-socket (`--allow-hosts` in pyproject.toml): only loopback works.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harvest import http, sources

from .loopback import ReplayServer

FIXTURES = Path(__file__).parent / "fixtures"
# The responses shipped for `kb build --offline`; the seed article's four are RECONSTRUCTED from its published page
# (kb/data/offline/PROVENANCE.md). Tests read them there: the offline data exists once.
OFFLINE = Path(__file__).parent.parent / "kb" / "data" / "offline"
SEED_FILES = tuple(OFFLINE / name for name in (
    "pubmed_efetch_pmid32009091_reconstructed.xml",
    "crossref_works_10.2169_internalmedicine.3800-19_reconstructed.json",
    "jstage_article_internalmedicine.3800-19_reconstructed.html",
    "europepmc_search_core_pmid32009091_reconstructed.json"))


def fixture_path(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def fixture_bytes(*parts: str) -> bytes:
    return fixture_path(*parts).read_bytes()


def offline_bytes(name: str) -> bytes:
    return (OFFLINE / name).read_bytes()


def db_dump(path: Path) -> list[str] | None:
    """Every statement that recreates the database at `path` (None if there is no file): compares whole states."""
    if not Path(path).exists():
        return None
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.fixture
def server(monkeypatch):
    """A replay server that every source's base URL points at, with fast retries and short timeouts (and no host
    pause or failure count left by another test: a port may be reused)."""
    http.reset_hosts()
    replay = ReplayServer()
    for source in sources.ALL:
        var = source.env
        monkeypatch.setenv(var, replay.url + "/" + var.removeprefix("KB_").removesuffix("_URL").lower())
        monkeypatch.setenv(var.removesuffix("_URL") + "_RATE", "1000")
    monkeypatch.setenv("KB_BACKOFF", "0")
    monkeypatch.setenv("KB_READ_TIMEOUT", "1")
    monkeypatch.setenv("KB_MAX_RETRY_AFTER", "1")
    yield replay
    replay.close()
    http.reset_hosts()


@pytest.fixture(scope="session")
def fixture_kb(tmp_path_factory) -> Path:
    """The fixtures KB file (built once per session; tests that change it work on a copy)."""
    path = tmp_path_factory.getbasetemp() / "fixture-kb" / "kb.db"
    if not path.exists():
        path.parent.mkdir()
        from .fixture_kb import build  # here: fixture_kb.py imports this module

        build(path)
    return path


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def datasette(fixture_kb):
    """The Datasette instance `kb serve` runs, on the fixtures KB."""
    from kb.serve import datasette_for

    return datasette_for(fixture_kb)
