"""How a command may use the KB file, and what a fault of that file tells the user.

Writing commands open the KB with `schema.open_db` (WAL, migrations, shape). `kb serve` only reads: `read_only_uri`
opens it so that nothing is written, not even its journal mode, and `schema.pending_upgrade` says what an older KB
lacks. Whatever goes wrong with the file itself (not a database, damaged, empty, read-only, disk full, locked) is
`Unusable` or is recognised by `fault`: one line naming the file and what to do, and the commands exit with
EXIT_UNUSABLE.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

EXIT_UNUSABLE = 4
HEADER = b"SQLite format 3\x00"
BESIDE = ("", "-wal", "-shm", "-journal", ".refresh.lock")  # the KB, and the files a command writes beside it


class Unusable(Exception):
    """The KB file cannot be used as it is; the message names it and says what to do."""


def refuse_empty(path: str | Path) -> None:
    """A 0-byte file is not a KB, though SQLite would take it for an empty one: refuse it rather than fill it
    (a KB always holds at least its header page: turning WAL on writes it)."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise Unusable(f"{path} is an empty file (0 bytes), not a knowledge base: give the KB's file, or delete it "
                       "and run `kb build` or `kb import` to make a new one")


_ACTIONS = {
    sqlite3.SQLITE_NOTADB: "{path} is not a knowledge base (not a SQLite database: {error}): give the file that "
                           "`kb build` or `kb import` made",
    sqlite3.SQLITE_CORRUPT: "{path} is damaged ({error}; a truncated or partial copy?): restore it from a copy, or "
                            "make it again with `kb build` or `kb import`",
    sqlite3.SQLITE_FULL: "the disk is full: {path} could not be written ({error}): free some space and run the "
                         "command again; the KB keeps everything committed before (the last transaction was "
                         "rolled back)",
    sqlite3.SQLITE_IOERR: "input/output error on {path} ({error}): check the disk (full, failing or removed?) and "
                          "run the command again; the KB keeps everything committed before",
    sqlite3.SQLITE_READONLY: "{path} cannot be written ({error}): a read-only file or folder: run the command "
                             "as a user who may write the file and its folder, or work on a copy in a writable "
                             "folder (`kb serve` only reads)",
    sqlite3.SQLITE_CANTOPEN: "{path} cannot be opened ({error}): check that its folder exists and that you may "
                             "read it and write in the folder",
    sqlite3.SQLITE_PERM: "{path} cannot be opened ({error}): check the permissions of the file and its folder",
    sqlite3.SQLITE_BUSY: "{path} is locked by another process ({error}) for more than 30 s: wait for it to finish "
                         "(a `kb import` or `kb refresh`?) and run the command again",
}
_OS_ERRORS = {errno.ENOSPC: sqlite3.SQLITE_FULL, errno.EDQUOT: sqlite3.SQLITE_FULL, errno.EIO: sqlite3.SQLITE_IOERR,
              errno.EROFS: sqlite3.SQLITE_READONLY, errno.EACCES: sqlite3.SQLITE_READONLY,
              errno.EPERM: sqlite3.SQLITE_READONLY}  # the commands' own files beside the KB are written


def fault(exc: BaseException, path: str | Path) -> str | None:
    """One line for a fault of the KB file at `path` (None when `exc` is not one: a bug keeps its traceback).

    SQLite errors are the file's (the KB is the only database a command opens); an OSError is one when it names
    the KB or a file beside it (BESIDE)."""
    if isinstance(exc, Unusable):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        code, error = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF, str(exc)
    elif isinstance(exc, OSError) and str(exc.filename) in {f"{path}{end}" for end in BESIDE}:
        code, error = _OS_ERRORS.get(exc.errno, 0), f"{exc.strerror}: {exc.filename}"
    else:
        return None
    return _ACTIONS[code].format(path=path, error=error) if code in _ACTIONS else None


def wal_mode(path: str | Path) -> bool:
    """Whether the SQLite file at `path` is in WAL mode (its header's read version is 2)."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    return header.startswith(HEADER) and len(header) == 20 and header[18] == 2


def read_only_uri(path: str | Path) -> str:
    """The SQLite URI that reads the KB at `path` and writes nothing: `mode=ro`, which sees every commit.

    One exception: a KB in WAL mode that has no -wal file beside it, in a folder or a file this process may not
    write. SQLite cannot read it with `mode=ro` (a reader must create the -wal and -shm files, or leaves them
    behind when it cannot delete them), so it is read as `immutable`; nobody is writing it then (a writer keeps a
    -wal file open beside it), and a later change by another user shows after a restart."""
    path = Path(path).absolute()
    query = "mode=ro"
    if wal_mode(path) and not Path(f"{path}-wal").exists() and not (
            os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        query += "&immutable=1"
    return f"file:{quote(str(path))}?{query}"


def remove_empty_wal(path: str | Path) -> None:
    """Remove the empty -wal and -shm files that reading a WAL-mode KB leaves beside it (a read-only connection
    cannot): a connection that may write removes them as it closes, when no other process has the KB open. A -wal
    that holds commits (a writer's) is left to its writer."""
    wal = Path(f"{path}-wal")
    writable = os.access(path, os.W_OK) and os.access(Path(path).absolute().parent, os.W_OK)
    if not writable or not wal.exists() or wal.stat().st_size:
        return
    try:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        pass
