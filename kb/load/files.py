"""Saved responses on disk: which files are studies and which are article responses, and the studies in a file.

A JSON array (the registry's "download as JSON") is read as bytes and cut into elements, each decoded on its own: a
file of any size is never held in memory whole, and an element that is malformed, holds invalid UTF-8, nests too
deep or is too large fails alone (named by its position and, when it can be read, its NCT ID) while the rest of the
file is read. A ZIP is read one member at a time; each member's declared size and compression ratio are checked
before it is read, and it is read with a bounded read. Each study keeps its own bytes as its snapshot.

Limits: `KB_MAX_BODY_BYTES` (default 64 MiB) per study, ZIP member, array element and article file;
`KB_MAX_ZIP_RATIO` (default 100; 0 turns the check off) for a ZIP member of more than 1 MiB; JSON nested more than
`harvest.parsing.MAX_JSON_DEPTH` levels.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harvest import sources
from harvest.errors import ParseError
from harvest.http import Fetched
from harvest.parsing import MAX_JSON_DEPTH, decode_json, json_depth
from harvest.registries.ctgov import SOURCE, study_nct_id

CHUNK = 1 << 20
DEFAULT_MAX_BODY, DEFAULT_MAX_RATIO, RATIO_FLOOR = 64 << 20, 100, 1 << 20
STUDY_KINDS = ("zip", "array", "study", "json")
_NAMES = list(dict.fromkeys(a.name for a in sources.ARTICLE_SOURCES))
NOTHING = ("not a ClinicalTrials.gov study, study array or ZIP, nor a response of "
           + ", ".join(_NAMES[:-1]) + " or " + _NAMES[-1])
TRUNCATED = "the file ends inside this element (truncated file?)"
_decoder = json.JSONDecoder()
_LEADING, _BLANKS = re.compile("[\ufeff \t\r\n]*"), re.compile(r"[ \t\r\n,]*")
_INSIDE, _STRING = re.compile(r'["\\]'), r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# What `_End` passes over at once (possessive: no backtracking, no memory): text and whole strings; at depth 0 it
# stops at a comma too.
_SKIP = {True: re.compile(rf'(?:[^\[\]{{}}",]++|{_STRING})*+', re.S),
         False: re.compile(rf'(?:[^\[\]{{}}"]++|{_STRING})*+', re.S)}
_OPENER = {"}": "{", "]": "["}
_NCT_ID = re.compile(r'"nctId"\s*:\s*"\s*(NCT\d{8})\s*"', re.IGNORECASE)
# A ZIP member's damage shows as one of these when it is read (bad CRC, bad data, encrypted, unknown method).
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError, OSError)


class Unreadable(Exception):
    """A whole file gives no record: one line naming the file (not a study or response, an empty array, no ZIP)."""


class BadSetting(ValueError):
    """A limit set in the environment is not a whole number."""


@dataclass
class Element:
    """One study of a file: its bytes, its value (decoded already for an array element, else None), its URL, fetch
    time and name (`where`), the bytes of the file it accounts for (progress), and why it is refused, if it is."""

    raw: bytes | None
    value: object
    url: str
    fetched_at: str
    where: str
    consumed: int
    error: ParseError | None = None


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise BadSetting(f"{name}={value!r}: expected a whole number")
    return int(value)


def limits() -> tuple[int, int]:
    """(largest study or file in bytes, largest compression ratio of a ZIP member or 0 for none), from the
    environment (BadSetting for a value that is not a whole number)."""
    return _setting("KB_MAX_BODY_BYTES", DEFAULT_MAX_BODY), _setting("KB_MAX_ZIP_RATIO", DEFAULT_MAX_RATIO)


def failure(path: Path, exc: Exception) -> str:
    """The line reporting `exc` about `path`: an OSError says the file cannot be read; the others name it already."""
    return f"{path}: cannot be read ({exc.strerror or exc})" if isinstance(exc, OSError) else str(exc)


def file_mtime(path: Path) -> str:
    return datetime.fromtimestamp(os.path.getmtime(path), timezone.utc).isoformat(timespec="seconds")


def file_kind(path: Path):
    """What `path` holds, from a look at its head: "zip", "array" (a JSON array: studies), "study" (a JSON object
    naming a protocolSection), the `ArticleSource` whose response it is, "json" (another JSON object: a study only
    if decoding it finds one), or None (nothing kb import reads)."""
    with open(path, "rb") as stream:
        head = stream.read(4096)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if zipfile.is_zipfile(path) or start.startswith(b"PK\x03\x04"):
        return "zip"
    if start.startswith(b"["):
        return "array"
    if start.startswith(b"{") and b'"protocolSection"' in head:
        return "study"
    return sources.sniff(head) or ("json" if start.startswith(b"{") else None)


def is_study_file(path: Path) -> bool:
    """True for a ZIP, a JSON array, or a JSON object that is not an article response (by a cheap look at its head)."""
    return file_kind(path) in STUDY_KINDS


def _bounded_read(path: Path, limit: int, source: str, key: str) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise ParseError(source, key, f"{size} bytes, more than KB_MAX_BODY_BYTES ({limit}); not read")
    return path.read_bytes()


def study_response(raw: bytes, url: str, fetched_at: str, where: str, doc=None) -> tuple[Fetched, dict]:
    """A file-backed 'response' for one study, keyed by its NCT ID, and the decoded study (`doc` if the caller has
    decoded `raw` already); ParseError if the bytes are not a study."""
    doc = decode_json(raw, SOURCE.name, where) if doc is None else doc
    nct = study_nct_id(doc, where)
    return Fetched(SOURCE.name, nct, url, None, raw, "application/json", fetched_at), doc


def iter_studies(path: Path) -> Iterator[Element]:
    """Each study of a study file (`file_kind` "zip", "array", "study" or "json"), a refused one with its `error`.
    Raises Unreadable when the file gives no study at all, and ParseError when an array ends before it closes
    (after the studies before the cut)."""
    url, fetched_at, (limit, ratio) = path.resolve().as_uri(), file_mtime(path), limits()
    kind = file_kind(path)
    if kind == "zip":
        yield from _zip_studies(path, url, fetched_at, limit, ratio)
    elif kind == "array":
        with open(path, "rb") as stream:
            count = 0
            for i, (raw, value, reason, nct, consumed) in enumerate(iter_json_array(stream, str(path), limit)):
                where = f"{path}[{i}]" + (f" ({nct})" if nct and reason else "")
                error = ParseError(SOURCE.name, where, reason) if reason else None
                yield Element(raw, value, f"{url}#{i}", fetched_at, where, consumed, error)
                count += 1
        if not count:
            raise Unreadable(f"{path}: an empty JSON array, no study")
    elif kind in ("study", "json"):
        raw = _bounded_read(path, limit, SOURCE.name, str(path))
        if kind == "study":
            yield Element(raw, None, url, fetched_at, str(path), len(raw))
            return
        try:
            value = decode_json(raw, SOURCE.name, str(path))
        except ParseError:
            value = None
        if not (isinstance(value, dict) and "protocolSection" in value):
            raise Unreadable(f"{path}: {NOTHING}")
        yield Element(raw, value, url, fetched_at, str(path), len(raw))
    else:
        raise Unreadable(f"{path}: {NOTHING}")


def _zip_studies(path: Path, url: str, fetched_at: str, limit: int, ratio: int) -> Iterator[Element]:
    """The .json members of a ZIP, each refused before it is read when its header says it is larger than `limit` or
    compressed more than `ratio` times (over RATIO_FLOOR bytes), and read with a bounded read."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Unreadable(f"{path}: a damaged ZIP ({exc}; truncated download?)") from None
    with archive:
        members = [info for info in archive.infolist() if info.filename.endswith(".json") and not info.is_dir()]
        if not members:
            raise Unreadable(f"{path}: a ZIP with no .json member, no study")
        for info in members:
            where = f"{path}!/{info.filename}"
            element = Element(None, None, f"{url}!/{info.filename}", fetched_at, where, info.compress_size)
            try:
                element.raw = _member(archive, info, limit, ratio)
            except (ParseError, *ZIP_ERRORS) as exc:
                element.error = exc if isinstance(exc, ParseError) else ParseError(
                    SOURCE.name, where, f"damaged ZIP member ({type(exc).__name__}: {exc})")
            yield element


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, ratio: int) -> bytes:
    where = f"{archive.filename}!/{info.filename}"
    if info.file_size > limit:
        raise ParseError(SOURCE.name, where, f"its header says {info.file_size} bytes uncompressed, more than "
                                             f"KB_MAX_BODY_BYTES ({limit}); not read")
    if ratio and info.file_size > RATIO_FLOOR and info.file_size > ratio * max(info.compress_size, 1):
        raise ParseError(SOURCE.name, where, f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 "
                                             f"({info.compress_size} bytes inflating to {info.file_size}), more than "
                                             f"KB_MAX_ZIP_RATIO ({ratio}); not read")
    with archive.open(info) as member:
        raw = member.read(limit + 1)  # never more than the limit, whatever the header says
    if len(raw) > limit:
        raise ParseError(SOURCE.name, where, f"holds more than KB_MAX_BODY_BYTES ({limit}) bytes (its header says "
                                             f"{info.file_size}); not read further")
    return raw


# --- a JSON array, element by element --------------------------------------------------------------------------------


class _Text:
    """The text of a binary stream, read a chunk at a time. Invalid UTF-8 bytes become lone surrogates
    (surrogateescape), so that they stay inside the element that holds them and its bytes are given back exactly."""

    def __init__(self, stream):
        self.stream, self.decoder = stream, codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.text, self.pos, self.eof = "", 0, False

    def more(self) -> bool:
        """Drop the text before `pos` and read the next chunk; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK)
        self.eof = not chunk
        self.text = self.text[self.pos:] + self.decoder.decode(chunk, final=self.eof)
        self.pos = 0
        return True

    def skip(self, pattern: re.Pattern) -> str:
        """The first character at or after `pos` that `pattern` does not take ("" at the end); `pos` moves to it."""
        while True:
            self.pos = pattern.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""


class _End:
    """Where one array element ends, found without decoding it (past a malformed, too deep or too large element):
    brackets are matched outside strings; a closing bracket that matches nothing open is ignored, so that a stray one
    does not end the element early. The element ends at its last bracket, or at a comma or the array's closing
    bracket. `rel` is where to go on scanning (from the element's start) when more text comes."""

    def __init__(self):
        self.open: list[str] = []
        self.deeper = self.deepest = self.rel = 0  # `deeper`: levels past MAX_JSON_DEPTH, only counted
        self.in_string = False

    def find(self, text: str, start: int) -> int | None:
        pos = start + self.rel
        while True:
            depth = len(self.open) + self.deeper
            if self.in_string:  # a string that went on past the end of the text read so far
                found = _INSIDE.search(text, pos)
                if found is None or (found.group() == "\\" and found.end() == len(text)):
                    self.rel = (len(text) if found is None else found.start()) - start
                    return None
                pos = found.end() + (found.group() == "\\")
                self.in_string = found.group() == "\\"
                if not (self.in_string or depth):
                    return pos
                continue
            pos = _SKIP[not depth].match(text, pos).end()
            if pos == len(text):
                self.rel = pos - start
                return None
            char, pos = text[pos], pos + 1
            if char == '"':
                self.in_string = True
            elif char in "[{":
                self.deepest = max(self.deepest, depth + 1)
                if len(self.open) < MAX_JSON_DEPTH:
                    self.open.append(char)
                else:
                    self.deeper += 1
            elif not depth:
                if char in ",]":
                    return pos - 1
            elif self.deeper:
                self.deeper -= 1
            elif self.open[-1] == _OPENER[char]:
                self.open.pop()
                if not self.open:
                    return pos


def iter_json_array(stream, name: str, limit: int) -> Iterator[tuple[bytes | None, object, str | None, str | None,
                                                                      int]]:
    """(bytes, decoded value, why it is refused or None, NCT ID if it can be read, bytes of the stream consumed) of
    each element of the JSON array read from the binary `stream`. An element is found by the decoder; one it cannot
    decode is skipped by matching brackets (`_End`) and reported, never buffered past `limit`. ParseError if the
    stream is not a JSON array or ends inside it (after the elements before the cut)."""
    text = _Text(stream)
    if text.skip(_LEADING) != "[":
        raise ParseError(SOURCE.name, name, "file is not a JSON array")
    text.pos += 1
    while True:
        char = text.skip(_BLANKS)
        if char == "]":
            return
        if not char:
            raise ParseError(SOURCE.name, name, "JSON array is not closed (truncated file?)")
        element = _element(text, limit)
        yield element
        if element[2] == TRUNCATED:
            return


def _element(text: _Text, limit: int) -> tuple[bytes | None, object, str | None, str | None, int]:
    value, end, start = None, None, text.pos
    try:
        value, end = _decoder.raw_decode(text.text, start)
        if end == len(text.text) and not text.eof and text.text[start] not in "[{\"":
            end = None  # a number or literal the chunk may have cut
    except (ValueError, RecursionError):
        pass
    if end is not None:
        body, text.pos = text.text[start:end], end
        return _checked(body, value, None, limit)
    scan, dropped, head = _End(), 0, text.text[start:start + 65536]
    while (end := scan.find(text.text, text.pos)) is None:
        if text.eof:
            dropped += _nbytes(text.text[text.pos:])
            text.pos = len(text.text)
            return None, None, TRUNCATED, _nct(head), dropped
        if len(text.text) - text.pos > limit:  # too large: what was scanned is dropped, the scan goes on
            cut = text.pos + scan.rel
            dropped += _nbytes(text.text[text.pos:cut])
            text.pos, scan.rel = cut, 0
        text.more()
    body, text.pos = text.text[text.pos:end], end
    reason = (f"larger than KB_MAX_BODY_BYTES ({limit} bytes); skipped" if dropped else
              f"JSON nested more than {MAX_JSON_DEPTH} levels deep" if scan.deepest > MAX_JSON_DEPTH else None)
    if reason is None:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError) as exc:
            reason = f"not valid JSON ({type(exc).__name__}: {str(exc)[:200]})"
        else:
            return _checked(body, value, head, limit)
    return None, None, reason, _nct(head), dropped + _nbytes(body)


def _checked(body: str, value, head: str | None, limit: int) -> tuple[bytes | None, object, str | None, str | None,
                                                                        int]:
    """An element that decoded, refused if it holds invalid UTF-8, is too large or nests too deep."""
    raw = body.encode("utf-8", "surrogateescape")
    reason = None
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        reason = (f"invalid UTF-8: byte 0x{ord(body[exc.start]) - 0xDC00:02x} at byte "
                  f"{_nbytes(body[:exc.start])} of the element")
    if reason is None and len(raw) > limit:
        reason = f"{len(raw)} bytes, more than KB_MAX_BODY_BYTES ({limit})"
    if reason is None and isinstance(value, (dict, list)) and json_depth(raw) > MAX_JSON_DEPTH:
        reason = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    if reason:
        return None, None, reason, _nct(head or body[:65536]), len(raw)
    return raw, value, None, None, len(raw)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _nct(head: str) -> str | None:
    found = _NCT_ID.search(head)
    return found.group(1).upper() if found else None


# --- article responses and folders -----------------------------------------------------------------------------------


def article_response(path: Path, source=None) -> Fetched | None:
    """A saved article response as a file-backed `Fetched` of the source whose format it is in (`source` if the
    caller knows it), or None; ParseError, reading nothing, for a file larger than KB_MAX_BODY_BYTES."""
    if source is None:
        with open(path, "rb") as stream:
            source = sources.sniff(stream.read(4096))
    if source is None:
        return None
    body = _bounded_read(path, limits()[0], source.name, path.name)
    return Fetched(source.name, path.name, path.resolve().as_uri(), None, body, source.content_type, file_mtime(path))


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """The files of `paths`: a file as it is, a folder's files in order (hidden ones, named ".*", skipped)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file()
                              and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            yield path
