"""The HTTP client of the Flickr REST API: one pooled ``requests`` session, rate limit, retries, cache.

``FlickrClient.call(method, **arguments)`` returns the API's JSON answer (``stat`` ok, or a permanent
``stat`` fail such as photo-not-found), from the cache when it is there, otherwise after taking a
slot of the global rate limiter for every attempt, retrying transient failures per
:class:`RetryPolicy` (a tenacity loop), and storing the answer. Failures that remain after every
retry raise :class:`CallFailed` with a reason from ``retry.TRANSIENT_REASONS`` /
``PERMANENT_REASONS``; an invalid key raises :class:`InvalidApiKey` (an ``IcaaError``) and stops the
crawl. The API key is sent as a query argument (the API has no other way) and scrubbed from every
message this module produces, including urllib3's debug log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import requests
import tenacity
from requests.adapters import HTTPAdapter

from icaa.pipeline.crawl.cache import ResponseCache
from icaa.pipeline.crawl.ratelimit import RateLimiter
from icaa.pipeline.crawl.retry import TRANSIENT_REASONS, RetryPolicy, parse_retry_after
from icaa.common.errors import IcaaError

__all__ = [
    "DEFAULT_ENDPOINT",
    "API_KEY_ENV",
    "ENDPOINT_ENV",
    "API_STATUS_BY_CODE",
    "ApiAnswer",
    "CallFailed",
    "InvalidApiKey",
    "FlickrClient",
    "answer_status",
]

DEFAULT_ENDPOINT = "https://api.flickr.com/services/rest/"
API_KEY_ENV = "FLICKR_API_KEY"
ENDPOINT_ENV = "ICAA_FLICKR_API_URL"

#: API failure codes with a status of their own; other codes become ``error:api_error``.
API_STATUS_BY_CODE = {1: "not_found", 2: "private"}
_INVALID_KEY_CODE = 100
_RETRYABLE_API_CODES = {105, 201}
_REDACTED = "<redacted>"


class InvalidApiKey(IcaaError):
    """The API refused the key (code 100): nothing else can succeed, so the crawl stops."""


class CallFailed(Exception):
    """A call that has no answer after its retries (or a permanent HTTP error)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _AttemptFailed(Exception):
    """One request without a final answer; tenacity retries it when ``reason`` is transient."""

    def __init__(self, reason: str, detail: str, retry_after_s: float | None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retry_after_s = reason, detail, retry_after_s


@dataclass(frozen=True)
class ApiAnswer:
    """The parsed JSON answer of one call and when it was fetched (Unix seconds)."""

    payload: dict[str, Any]
    fetched_at: float
    from_cache: bool

    @property
    def ok(self) -> bool:
        return self.payload.get("stat") == "ok"


def answer_status(payload: dict[str, Any]) -> str:
    """``ok``, ``not_found``, ``private`` or ``error:api_error`` for an API answer."""
    if payload.get("stat") == "ok":
        return "ok"
    return API_STATUS_BY_CODE.get(_code(payload), "error:api_error")


def _code(payload: dict[str, Any]) -> int | None:
    try:
        return int(payload.get("code"))
    except (TypeError, ValueError):
        return None


class _RedactFilter(logging.Filter):
    """Scrub secrets from log records (urllib3 logs request URLs at DEBUG)."""

    def __init__(self, redact):
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class FlickrClient:
    """Calls of the Flickr REST API through one pooled session, a global rate limit, retries and a cache.

    Parameters
    ----------
    api_key
        The key (from ``FLICKR_API_KEY``); never logged, stored or shown.
    endpoint
        REST endpoint (``ICAA_FLICKR_API_URL``; default the public one).
    rate_limiter
        Shared by every thread using this client.
    cache
        Response store; None disables caching.
    retry
        Retry policy for transient failures.
    timeout_s
        Connect and read timeout of one request.
    pool_size
        Connections kept open (at least the number of worker threads).
    """

    def __init__(self, api_key: str, *, endpoint: str = DEFAULT_ENDPOINT, rate_limiter: RateLimiter,
                 cache: ResponseCache | None = None, retry: RetryPolicy | None = None, timeout_s: float = 10.0,
                 pool_size: int = 8, session: requests.Session | None = None):
        if not api_key or not api_key.strip():
            raise IcaaError(f"no Flickr API key: set the environment variable {API_KEY_ENV} "
                            "(or use --source file PATH to read popularity from a local table)")
        self._api_key = api_key.strip()
        self.endpoint = endpoint
        self.rate_limiter = rate_limiter
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.setdefault("User-Agent", "icaa-crawl/0.1 (+https://github.com/icaa)")
        self._counts_lock = threading.Lock()
        self.counts = {"requests": 0, "cache_hits": 0, "retries": 0}
        self._log_filter = _RedactFilter(self.redact)
        for name in ("urllib3.connectionpool", "urllib3", "requests"):
            logging.getLogger(name).addFilter(self._log_filter)

    @classmethod
    def from_environment(cls, *, api_key: str | None = None, endpoint: str | None = None, **kwargs) -> "FlickrClient":
        """A client with the key from ``FLICKR_API_KEY`` and the endpoint from ``ICAA_FLICKR_API_URL``."""
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        url = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
        return cls(key, endpoint=url, **kwargs)

    def redact(self, text: str) -> str:
        """``text`` with every spelling of the API key replaced by ``<redacted>``."""
        for spelling in {self._api_key, quote(self._api_key, safe=""), quote_plus(self._api_key)}:
            if spelling:
                text = text.replace(spelling, _REDACTED)
        return text

    def close(self) -> None:
        for name in ("urllib3.connectionpool", "urllib3", "requests"):
            logging.getLogger(name).removeFilter(self._log_filter)
        self.session.close()

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    def call(self, method: str, **arguments: Any) -> ApiAnswer:
        """The answer to ``method(**arguments)``: cached, or fetched under the rate limit with retries.

        Raises
        ------
        InvalidApiKey
            The API refused the key.
        CallFailed
            No answer after every retry, or a permanent HTTP error; ``reason`` says which.
        """
        arguments = {k: str(v) for k, v in arguments.items()}
        if self.cache is not None:
            cached = self.cache.get(method, arguments)
            if cached is not None:
                self._count("cache_hits")
                return ApiAnswer(cached.payload, cached.fetched_at, True)
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            self.rate_limiter.acquire()
            self._count("requests")
            reason, detail, retry_after_s, payload = self._request_once(method, arguments)
            if payload is None:
                raise _AttemptFailed(reason, detail, retry_after_s)
            return payload

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.max_attempts),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, _AttemptFailed)
                                              and e.reason in TRANSIENT_REASONS),
            wait=self._wait_s, before_sleep=lambda state: self._count("retries"), sleep=time.sleep, reraise=True)
        try:
            payload = retrying(attempt)
        except _AttemptFailed as failure:
            raise CallFailed(failure.reason, f"{failure.detail} (after {attempts} attempt"
                                             f"{'s' if attempts > 1 else ''})") from None
        fetched_at = time.time()
        if self.cache is not None:
            self.cache.put(method, arguments, payload, fetched_at)
        return ApiAnswer(payload, fetched_at, False)

    def _wait_s(self, state: tenacity.RetryCallState) -> float:
        """Backoff before the next attempt; a server's ``Retry-After`` also holds every other thread."""
        failure = state.outcome.exception()
        retry_after_s = failure.retry_after_s if isinstance(failure, _AttemptFailed) else None
        delay = self.retry.delay_s(state.attempt_number - 1, retry_after_s)
        if retry_after_s is not None:
            self.rate_limiter.hold_until(time.time() + delay)
        return delay

    def _request_once(self, method: str, arguments: dict[str, str]
                      ) -> tuple[str | None, str, float | None, dict[str, Any] | None]:
        """One HTTP request: ``(reason, detail, retry_after_s, payload)``; payload set when it is final."""
        params = {"method": method, **arguments, "api_key": self._api_key, "format": "json", "nojsoncallback": "1"}
        try:
            response = self.session.get(self.endpoint, params=params, timeout=self.timeout_s)
            body = response.content
        except requests.Timeout as error:
            return "timeout", self.redact(f"{method}: {type(error).__name__} after {self.timeout_s} s"), None, None
        except requests.RequestException as error:
            # requests puts the full URL (with the key) into these messages: keep the class name only
            return "connection", self.redact(f"{method}: {type(error).__name__}"), None, None
        status = response.status_code
        retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status == 503 and retry_after_s is not None):
            return "rate_limited", f"{method}: HTTP {status}", retry_after_s, None
        if status >= 500:
            return "server_error", f"{method}: HTTP {status}", retry_after_s, None
        if status >= 400:
            return "http_error", f"{method}: HTTP {status}", None, None
        try:
            payload = response.json()
        except ValueError:
            return "malformed_response", f"{method}: body is not JSON ({len(body)} bytes)", None, None
        if not isinstance(payload, dict) or payload.get("stat") not in ("ok", "fail"):
            return "malformed_response", f"{method}: JSON without stat ok/fail", None, None
        if payload["stat"] == "fail":
            code = _code(payload)
            message = self.redact(str(payload.get("message", "")))
            if code == _INVALID_KEY_CODE:
                raise InvalidApiKey(f"the Flickr API refused the key in {API_KEY_ENV} (code 100: {message}); "
                                    "set a valid key and re-run: answers fetched so far are cached")
            if code in _RETRYABLE_API_CODES:
                return "service_unavailable", f"{method}: API code {code}: {message}", None, None
            payload = {"stat": "fail", "code": code, "message": message}
        return None, "", None, payload
