"""Offline import: ClinicalTrials.gov study JSON from files, JSON arrays and ZIP downloads, streamed in batches.

A JSON array (the site's "download as JSON") is decoded one element at a time, so a file of any size is never held
in memory whole; a ZIP is read one member at a time. Each study keeps its own bytes as its snapshot.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from harvest.ctgov import SOURCE, study_nct_id
from harvest.errors import ParseError
from harvest.http import Fetched

from . import bulk, ingest

CHUNK = 1 << 20
BATCH = 500
_decoder = json.JSONDecoder()


@dataclass
class ImportSummary:
    """What an import read, stored (by NCT ID), found unchanged, and could not read; files that are not studies."""

    read: int = 0
    stored_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    other_files: list[Path] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.stored_ids)


def iter_json_array(stream, name: str) -> Iterator[tuple[str, object, int]]:
    """Yield (raw text, decoded value, end offset in characters) of each element of the JSON array read from text
    `stream` (finding where an element ends decodes it, so the value comes free: no study is decoded twice)."""
    buffer, offset, started = "", 0, False
    while True:
        chunk = stream.read(CHUNK)
        buffer += chunk
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if not started and position < len(buffer):
                if buffer[position] != "[":
                    raise ParseError(SOURCE.name, name, "file is not a JSON array")
                started, position = True, position + 1
                continue
            if position < len(buffer) and buffer[position] == "]":
                return
            try:
                value, end = _decoder.raw_decode(buffer, position)
            except ValueError:
                if not chunk:
                    raise ParseError(SOURCE.name, name, f"malformed or truncated JSON near character {offset + position}") from None
                break
            yield buffer[position:end], value, offset + end
            position = end
        offset += position
        buffer = buffer[position:]
        if not chunk and not buffer.strip():
            raise ParseError(SOURCE.name, name, "JSON array is not closed (truncated file?)")


def _first_char(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as stream:
        while char := stream.read(1):
            if not char.isspace():
                return char
    return ""


def file_mtime(path: Path) -> str:
    return datetime.fromtimestamp(os.path.getmtime(path), timezone.utc).isoformat(timespec="seconds")


def study_response(raw: bytes, url: str, fetched_at: str, where: str, doc=None) -> tuple[Fetched, dict]:
    """A file-backed 'response' for one study, keyed by its NCT ID, and the decoded study (`doc` if the caller has
    decoded `raw` already); ParseError if the bytes are not a study."""
    try:
        doc = json.loads(raw) if doc is None else doc
    except ValueError as exc:
        raise ParseError(SOURCE.name, where, f"not valid JSON ({exc})") from None
    nct = study_nct_id(doc)
    if not nct:
        raise ParseError(SOURCE.name, where, "JSON is not a ClinicalTrials.gov study")
    return Fetched(SOURCE.name, nct, url, None, raw, "application/json", fetched_at), doc


def iter_studies(path: Path) -> Iterator[tuple[bytes, object, str, str, str, int]]:
    """(raw bytes, decoded value or None, url, fetched_at, where, bytes consumed) for each element of a study file,
    ZIP or array. Elements of an array come decoded; a ZIP member or a single file is decoded by its reader."""
    url, fetched_at = path.resolve().as_uri(), file_mtime(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".json"):
                    raw = archive.read(info)
                    yield (raw, None, f"{url}!/{info.filename}", fetched_at, f"{path}!/{info.filename}",
                           info.compress_size)
        return
    if _first_char(path) == "[":
        with open(path, encoding="utf-8-sig") as stream:
            consumed = 0
            for i, (text, value, end) in enumerate(iter_json_array(stream, str(path))):
                yield text.encode(), value, f"{url}#{i}", fetched_at, f"{path}[{i}]", end - consumed
                consumed = end
        return
    raw = path.read_bytes()
    yield raw, None, url, fetched_at, str(path), len(raw)


def is_study_file(path: Path) -> bool:
    """True for a ZIP, a JSON array, or a JSON object that looks like a study (by a cheap look at its head)."""
    if zipfile.is_zipfile(path):
        return True
    if path.suffix.lower() != ".json":
        return False
    first = _first_char(path)
    if first == "[":
        return True
    with open(path, "rb") as stream:
        head = stream.read(4096)
    return first == "{" and b'"protocolSection"' in head


def import_studies(db, paths: list[Path], progress=None) -> ImportSummary:
    """Import every study in `paths` (files or folders), in transactions of up to BATCH studies.

    Once an import has stored as many studies as the KB held when it began (at least a batch), it becomes a bulk
    load: secondary indexes and full-text indexing wait for its end (kb/bulk.py).
    """
    with bulk.DeferredIndexes(db, _written_tables()) as deferred:
        return _import_studies(db, paths, progress, deferred, bulk_after=max(BATCH, db["trials"].count))


def _written_tables() -> dict[str, set[str]]:
    """Each table a study import writes, with the column it looks rows up by (the first of the table's replace
    scope), whose indexes it needs while it writes."""
    looked_up = {table: {next(iter(where))} for table, where in ingest.study_scopes("").items()}
    return {"snapshots": set(), "trials": set(), "trial_versions": set()} | looked_up


def _import_studies(db, paths, progress, deferred: bulk.DeferredIndexes, bulk_after: int) -> ImportSummary:
    summary, batch = ImportSummary(), []

    def flush():
        stored = ingest.save_studies(db, batch)
        summary.stored_ids += stored
        summary.unchanged += len(batch) - len(stored)
        batch.clear()
        if summary.stored >= bulk_after:
            deferred.start()

    for path in expand_paths(paths):
        if not is_study_file(path):
            summary.other_files.append(path)
            continue
        try:
            for raw, value, url, fetched_at, where, consumed in iter_studies(path):
                summary.read += 1
                if progress:
                    progress(consumed)
                try:
                    batch.append(ingest.study_document(*study_response(raw, url, fetched_at, where, value)))
                except ParseError as exc:
                    summary.failed.append(str(exc))
                if len(batch) >= BATCH:
                    flush()
        except ParseError as exc:
            summary.failed.append(str(exc))
        flush()
    return summary


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path
