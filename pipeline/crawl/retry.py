"""Retry policy: which failures are worth another try, and how long to wait before it.

Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter",
Brooker 2015): the n-th retry waits a uniform random time in ``[0, min(max, base * 2**n)]``, so
many threads that failed together do not retry together. A 429 or 503 with ``Retry-After`` waits
at least what the server asked for.

This module is the policy; tenacity runs the loop (``client.py``), one attempt at a time, each
through the rate limiter. Not urllib3's ``Retry``, although it honours ``Retry-After``: it retries
inside the connection pool, so a retried request would take no slot of the rate limiter and could
break the limit, and it sees only HTTP statuses, while Flickr reports "service unavailable" (code
201) and half-written bodies with HTTP 200.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

from icaa.pipeline.rejects import REASONS, reasons_of

__all__ = ["RetryPolicy", "parse_retry_after", "TRANSIENT_REASONS", "PERMANENT_REASONS"]

#: Failures retried with backoff; a crawl that exhausts its attempts records ``error:<reason>``.
TRANSIENT_REASONS: dict[str, str] = {code: reason.sentence for code, reason in REASONS.items()
                                     if "crawl" in reason.stages and reason.retried}
#: Failures never retried.
PERMANENT_REASONS: dict[str, str] = reasons_of("crawl", codes=("http_error", "api_error"))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None.

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    """Attempts and waits for transient failures.

    Parameters
    ----------
    max_attempts
        Requests per call at most (the first one included).
    backoff_base_s, backoff_max_s
        The n-th retry (n = 0, 1, ...) waits up to ``min(backoff_max_s, backoff_base_s * 2**n)``.
    retry_after_max_s
        Longest ``Retry-After`` honoured; a longer one is capped (the crawl stays resumable).
    """

    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"expected max_attempts >= 1, got {self.max_attempts}")

    def should_retry(self, reason: str, attempt: int) -> bool:
        """Whether a failure with ``reason`` after ``attempt`` requests (1-based) gets another try."""
        return reason in TRANSIENT_REASONS and attempt < self.max_attempts

    def delay_s(self, retry_index: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** retry_index))
        delay = self.rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.retry_after_max_s))
        return delay
