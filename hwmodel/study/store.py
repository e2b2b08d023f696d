"""The results store of a sweep: one SQLite file, every finished point committed as it finishes.

SQLite gives what a sweep needs from its store without a server: a point is written in one
transaction, so a run killed at any moment (Ctrl-C, kill -9, power loss) leaves every finished
point and no partial one; concurrent runs on one store serialize their writes (a busy writer
waits) and never corrupt it; and a re-run asks the store which points exist and computes only
the rest.

Points are *claimed* before they are computed, so a second run on the same store leaves to the
first what the first is computing and waits for it; a claim whose owner has died (same host: its
process is gone; elsewhere: no heartbeat for :data:`STALE_SECONDS`) is taken over. A failure is
stored with its error and whether it was *transient* (the machine's fault: a killed worker, a
full disk); transient failures are retried by the next run, the others are results.

A store records the layout version it was written with; another version is refused.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

__all__ = ["Store", "STORE_VERSION", "STALE_SECONDS", "owner_id"]

STORE_VERSION = 3  # 3: per-inference results from the mapping search
STALE_SECONDS = 120.0


def owner_id() -> str:
    """This process, as claims name it: host, process id and start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _alive(owner: str, heartbeat: float) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return start == "?" or _start_time(int(pid)) == start
    return time.time() - heartbeat < STALE_SECONDS


class Store:
    """Points by stage (``mac``, ``accuracy``, ``eval``) and id: parameters, result or error."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = owner_id()
        self.db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout = 120000")
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                self.db.execute("CREATE TABLE points (stage TEXT, id TEXT, params TEXT, result TEXT, error TEXT, "
                                "transient INTEGER DEFAULT 0, finished REAL, PRIMARY KEY (stage, id))")
                self.db.execute("CREATE TABLE claims (stage TEXT, id TEXT, owner TEXT, heartbeat REAL, "
                                "PRIMARY KEY (stage, id))")
                self.db.execute("INSERT INTO meta VALUES ('version', ?)", (str(STORE_VERSION),))
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise ValueError(f"{self.path}: not a hwmodel results store ({error})") from None
        if row is not None and row[0] != str(STORE_VERSION):
            self.db.close()
            raise ValueError(f"{self.path} was written by results-store version {row[0]}; this hwmodel reads "
                             f"version {STORE_VERSION}. Use another output directory or delete the store.")

    # -- finished points -------------------------------------------------------------------------
    def done(self, stage: str) -> set[str]:
        """Ids of the points that need no more work: results and the failures that were the
        point's own (transient failures are retried)."""
        return {r[0] for r in self.db.execute("SELECT id FROM points WHERE stage = ? AND transient = 0", (stage,))}

    def put(self, stage: str, point_id: str, params: dict, result=None, error: str | None = None,
            transient: bool = False) -> None:
        """Record one finished point (replacing an earlier failure of it) and drop its claim."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (stage, point_id, json.dumps(params, sort_keys=True, default=str),
                         None if result is None else json.dumps(result, default=float), error, int(transient),
                         time.time()))
        self.db.execute("DELETE FROM claims WHERE stage = ? AND id = ?", (stage, point_id))
        self.db.execute("COMMIT")

    def get(self, stage: str, point_id: str):
        row = self.db.execute("SELECT result, error FROM points WHERE stage = ? AND id = ?", (stage, point_id)).fetchone()
        if row is None or row[1] is not None:
            return None
        return json.loads(row[0])

    def rows(self, stage: str) -> list[dict]:
        """Every point of a stage as ``{"params", "result", "error", "transient"}``."""
        return [{"params": json.loads(params), "result": None if result is None else json.loads(result),
                 "error": error, "transient": bool(transient)}
                for params, result, error, transient in self.db.execute(
                    "SELECT params, result, error, transient FROM points WHERE stage = ? ORDER BY id", (stage,))]

    # -- claims ------------------------------------------------------------------------------------
    def claim(self, stage: str, point_ids) -> set[str]:
        """Claim the given points for this run; returns those it now owns (unclaimed, claimed by
        a dead run, or already its own). Points already done are never claimed."""
        wanted = list(dict.fromkeys(point_ids))
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            done = {r[0] for r in self.db.execute("SELECT id FROM points WHERE stage = ? AND transient = 0", (stage,))}
            claims = {i: (o, h) for i, o, h in self.db.execute(
                "SELECT id, owner, heartbeat FROM claims WHERE stage = ?", (stage,))}
            mine = set()
            for point in wanted:
                if point in done:
                    continue
                owner = claims.get(point)
                if owner is None or owner[0] == self.owner or not _alive(*owner):
                    self.db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", (stage, point, self.owner, now))
                    mine.add(point)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return mine

    def heartbeat(self) -> None:
        """Tell other runs this one is alive (for claims seen from other hosts)."""
        self.db.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))

    def release(self) -> None:
        """Give up every claim of this run (on exit, finished or interrupted)."""
        self.db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    def claimed_by_others(self, stage: str) -> set[str]:
        return {i for i, o, h in self.db.execute("SELECT id, owner, heartbeat FROM claims WHERE stage = ?", (stage,))
                if o != self.owner and _alive(o, h)}

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.db.close()
