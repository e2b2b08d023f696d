"""The results store of a sweep: one SQLite file, every finished point committed as it finishes.

SQLite gives what a sweep needs from its store without a server: a point is written in one
transaction, so a run killed at any moment (Ctrl-C, kill -9, power loss) leaves every finished
point and no partial one; concurrent runs on one store serialize their writes (a busy writer waits)
and never corrupt it; and a re-run asks the store which points exist and computes only the rest.
A store records the layout version it was written with; another version is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

__all__ = ["Store", "STORE_VERSION"]

STORE_VERSION = 1


class Store:
    """Points by stage (``mac``, ``accuracy``, ``eval``) and id: parameters, result or error."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 120000")
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.db.execute("CREATE TABLE IF NOT EXISTS points (stage TEXT, id TEXT, params TEXT, result TEXT, "
                            "error TEXT, finished REAL, PRIMARY KEY (stage, id))")
            row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise ValueError(f"{self.path}: not a hwmodel results store ({error})") from None
        if row is not None and row[0] != str(STORE_VERSION):
            self.db.close()
            raise ValueError(f"{self.path} was written by results-store version {row[0]}; this hwmodel reads "
                             f"version {STORE_VERSION}. Use another output directory or delete the store.")

    def done(self, stage: str, *, include_failed: bool = True) -> set[str]:
        query = "SELECT id FROM points WHERE stage = ?" + ("" if include_failed else " AND error IS NULL")
        return {r[0] for r in self.db.execute(query, (stage,))}

    def put(self, stage: str, point_id: str, params: dict, result=None, error: str | None = None) -> None:
        """Record one finished point (replacing an earlier failure of the same point)."""
        self.db.execute("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?)",
                        (stage, point_id, json.dumps(params, sort_keys=True, default=str),
                         None if result is None else json.dumps(result, default=float), error, time.time()))

    def get(self, stage: str, point_id: str):
        row = self.db.execute("SELECT result, error FROM points WHERE stage = ? AND id = ?", (stage, point_id)).fetchone()
        if row is None or row[1] is not None:
            return None
        return json.loads(row[0])

    def rows(self, stage: str) -> list[dict]:
        """Every point of a stage as ``{"params", "result", "error"}`` (result None on failure)."""
        return [{"params": json.loads(params), "result": None if result is None else json.loads(result), "error": error}
                for params, result, error in self.db.execute(
                    "SELECT params, result, error FROM points WHERE stage = ? ORDER BY id", (stage,))]

    def close(self) -> None:
        self.db.close()
