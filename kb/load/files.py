"""Saved responses on disk: which files are studies and which are article responses, and the studies in a file.

A JSON array (the registry's "download as JSON") is decoded one element at a time, so a file of any size is never
held in memory whole; a ZIP is read one member at a time. Each study keeps its own bytes as its snapshot.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from harvest import sources
from harvest.errors import ParseError
from harvest.http import Fetched
from harvest.parsing import decode_json
from harvest.registries.ctgov import SOURCE, study_nct_id

CHUNK = 1 << 20
_decoder = json.JSONDecoder()


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
                    raise ParseError(SOURCE.name, name,
                                     f"malformed or truncated JSON near character {offset + position}") from None
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
    doc = decode_json(raw, SOURCE.name, where) if doc is None else doc
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


def article_response(path: Path) -> Fetched | None:
    """A saved article response as a file-backed `Fetched` of the source whose format it is in, or None."""
    with open(path, "rb") as stream:
        found = sources.sniff(stream.read(4096))
    if found is None:
        return None
    return Fetched(found.name, path.name, path.resolve().as_uri(), None, path.read_bytes(), found.content_type,
                   file_mtime(path))


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path
