"""Registry history: a `trial_versions` row whenever a record's content changes, listing the changed JSON paths."""

from __future__ import annotations

import json

import sqlite_utils

# Bookkeeping that changes on every download, not a change of the record.
IGNORED = ("derivedSection.miscInfoModule.versionHolder",)


def changed_fields(old, new, path: str = "") -> list[dict]:
    """Every leaf that differs between `old` and `new`, as {path, old, new}; added or removed subtrees whole."""
    if path in IGNORED:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(old.keys() | new.keys(), key=str)
                for change in changed_fields(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(old, list) and isinstance(new, list):
        return [change for i in range(max(len(old), len(new)))
                for change in changed_fields(old[i] if i < len(old) else None, new[i] if i < len(new) else None,
                                             f"{path}[{i}]")]
    return [] if old == new else [{"path": path, "old": old, "new": new}]


def latest_versions(db: sqlite_utils.Database, nct_ids: list[str]) -> dict[str, dict]:
    """nct_id → its latest `trial_versions` row, for those that have one."""
    if not nct_ids or not db["trial_versions"].exists():
        return {}
    marks = ",".join("?" * len(nct_ids))
    sql = f"""select * from trial_versions where nct_id in ({marks})
              and version = (select max(version) from trial_versions v where v.nct_id = trial_versions.nct_id)"""
    return {row["nct_id"]: row for row in db.query(sql, nct_ids)}


def known_bodies(db: sqlite_utils.Database, nct_ids: list[str]) -> set[tuple[str, str]]:
    """(nct_id, sha256) of every version the KB has seen of these records."""
    if not nct_ids or not db["trial_versions"].exists():
        return set()
    marks = ",".join("?" * len(nct_ids))
    return set(db.execute(f"select nct_id, sha256 from trial_versions where nct_id in ({marks})", nct_ids).fetchall())


def next_version(db: sqlite_utils.Database, previous: dict | None, nct_id: str, body: bytes, snapshot: dict,
                 last_update_posted: str | None) -> dict:
    """The `trial_versions` row for a new body of `nct_id` (changes listed against the previous snapshot)."""
    changes = None
    if previous:
        old_body = db["snapshots"].get(previous["snapshot_id"])["body"]
        changes = json.dumps(changed_fields(json.loads(old_body), json.loads(body)))
    return {
        "nct_id": nct_id, "version": previous["version"] + 1 if previous else 1,
        "observed_at": snapshot["fetched_at"], "last_update_posted": last_update_posted,
        "sha256": snapshot["sha256"], "snapshot_id": snapshot["id"], "changed_fields": changes,
    }
