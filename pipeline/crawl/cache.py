"""The on-disk response cache: one SQLite file, keyed by API method and arguments (never the key).

A final answer (``ok``, or a permanent failure such as photo-not-found) is stored as soon as it
arrives, so a re-run costs zero calls and a killed crawl resumes from the last stored answer.
Transient failures (timeouts, 5xx after every retry) are not stored: a re-run asks again.
The same file holds the rate limiter's call log (``ratelimit.py``), so limits survive restarts and
hold across processes sharing the file.

Not requests-cache: it stores HTTP responses and decides what to keep from the response object,
while Flickr answers failures with HTTP 200 and a JSON ``stat``; what we keep is the parsed answer
(``ok`` or a permanent failure, message scrubbed of the key) after the retries have settled it, under
a key of method and arguments that a dry run looks up without building a request. Its
``ignored_parameters`` would keep the key out of the cache key, but the stored request (URL and
headers) would then have to be trusted to be scrubbed too, and the call log of the rate limiter would
need a second file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CachedResponse", "ResponseCache", "cache_key"]

#: Arguments that never enter a cache key or a cache row.
_SECRET_ARGUMENTS = frozenset({"api_key", "auth_token", "api_sig", "oauth_token", "oauth_signature"})
_VOLATILE_ARGUMENTS = frozenset({"format", "nojsoncallback"})


def cache_key(method: str, arguments: dict[str, Any]) -> str:
    """A stable key for one API call: method plus sorted arguments, without secrets or format flags."""
    kept = {str(k): str(v) for k, v in arguments.items()
            if k not in _SECRET_ARGUMENTS and k not in _VOLATILE_ARGUMENTS and k != "method"}
    return method + "?" + json.dumps(kept, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class CachedResponse:
    """One stored answer: ``payload`` is the parsed JSON body (``stat`` ok or fail)."""

    key: str
    payload: dict[str, Any]
    fetched_at: float  # Unix time, seconds


def _retry_while_locked(step: Callable[[], None], timeout_s: float) -> None:
    """Run ``step`` until SQLite stops answering "locked", for at most ``timeout_s`` seconds.

    The connection's busy timeout does not cover every case: when two connections open a new file at
    once, SQLite answers ``SQLITE_BUSY`` at once, without waiting, to the one whose lock upgrade
    (switching to WAL, creating the tables) would deadlock with the other's. Every step of the setup
    is idempotent, so running it again once the other connection is done is safe.
    """
    deadline = time.monotonic() + timeout_s
    pause_s = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as error:
            locked = "locked" in str(error) or "busy" in str(error)
            if not locked or time.monotonic() + pause_s > deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.2)


class ResponseCache:
    """Thread-safe SQLite store of API answers and of the times calls were made.

    Parameters
    ----------
    path
        The SQLite file; created with its folder. ``":memory:"`` keeps everything in memory.
    """

    #: Seconds a statement waits for other connections to the same file (busy timeout and setup retries).
    LOCK_TIMEOUT_S = 30.0

    def __init__(self, path: Path | str):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                           timeout=self.LOCK_TIMEOUT_S)
        with self._lock:
            _retry_while_locked(self._create_schema, self.LOCK_TIMEOUT_S)

    def _create_schema(self) -> None:
        if self.path != ":memory:":
            self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, method TEXT NOT NULL, "
            "payload TEXT NOT NULL, fetched_at REAL NOT NULL)")
        self._connection.execute("CREATE TABLE IF NOT EXISTS calls (called_at REAL NOT NULL)")
        self._connection.execute("CREATE INDEX IF NOT EXISTS calls_by_time ON calls (called_at)")

    # responses ---------------------------------------------------------------------------------
    def get(self, method: str, arguments: dict[str, Any]) -> CachedResponse | None:
        key = cache_key(method, arguments)
        with self._lock:
            row = self._connection.execute("SELECT payload, fetched_at FROM responses WHERE key = ?",
                                           (key,)).fetchone()
        if row is None:
            return None
        return CachedResponse(key, json.loads(row[0]), row[1])

    def put(self, method: str, arguments: dict[str, Any], payload: dict[str, Any],
            fetched_at: float | None = None) -> CachedResponse:
        key = cache_key(method, arguments)
        fetched_at = time.time() if fetched_at is None else fetched_at
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                                     (key, method, text, fetched_at))
        return CachedResponse(key, payload, fetched_at)

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    # call log of the rate limiter --------------------------------------------------------------
    #: Seconds of call history kept (at least one window): enough to audit the rate of a recent crawl.
    CALL_LOG_KEPT_S = 3600.0

    def calls_since(self, since: float) -> list[float]:
        """Start times (Unix seconds) of the calls recorded since ``since``, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT called_at FROM calls WHERE called_at >= ? ORDER BY called_at", (since,)).fetchall()
        return [row[0] for row in rows]

    def reserve_call(self, clock: Callable[[], float], calls: int, window_s: float) -> float:
        """Record a call now if fewer than ``calls`` started in the last ``window_s``; else return the wait.

        Returns 0.0 when the call was recorded, otherwise the seconds until the oldest of the last
        ``calls`` calls leaves the window. One write transaction (``BEGIN IMMEDIATE``), so processes
        sharing the file never reserve the same slot; the time is read once the transaction holds the
        file, so a wait for the lock does not make the recorded start earlier than the real one.
        """
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                now = clock()
                self._connection.execute("DELETE FROM calls WHERE called_at <= ?",
                                         (now - max(window_s, self.CALL_LOG_KEPT_S),))
                recent = self._connection.execute(
                    "SELECT called_at FROM calls WHERE called_at > ? ORDER BY called_at DESC LIMIT ?",
                    (now - window_s, calls)).fetchall()
                if len(recent) < calls:
                    self._connection.execute("INSERT INTO calls VALUES (?)", (now,))
                    wait = 0.0
                else:
                    wait = max(recent[-1][0] + window_s - now, 1e-3)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        return wait

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
