"""Crawl throughput against a local fake Flickr API that answers each call after 20 ms.

Two runs of ``crawl_popularity`` (2 calls per photo, SQLite cache and call log on disk):

1. limit-bound: 40 calls per 1 s window and 8 threads (which could do ~400/s). Target: sustained
   rate >= 0.9 x the limit. The sustained rate is (calls - calls_per_window) / (last start - first
   start): the first window's burst is what any sliding-window limit allows, not a sustained rate.
2. latency-bound: no effective limit, 8 threads. Target: >= 50 calls/s on 2 cores. The baseline
   is the same crawl with 1 thread in the same process (one call at a time, ~20 ms each).

Run: ``python benchmarks/crawl.py`` (about 20 s). Prints rates and ratios.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_flickr import FakePhoto, start_fake_flickr  # noqa: E402

from icaa.pipeline.crawl.cache import ResponseCache  # noqa: E402
from icaa.pipeline.crawl.client import FlickrClient  # noqa: E402
from icaa.pipeline.crawl.popularity import crawl_popularity  # noqa: E402
from icaa.pipeline.crawl.ratelimit import RateLimiter  # noqa: E402
from icaa.pipeline.crawl.retry import RetryPolicy  # noqa: E402

KEY = "benchmark-key"


def run(fake, photos: int, *, calls: int, period_s: float, workers: int, offset: int) -> dict:
    images = []
    for n in range(photos):
        photo_id = str(10_000_000_000 + offset + n)
        fake.add(FakePhoto(photo_id, owner="1@N01", views=100 + n, faves=n))
        images.append(f"1@N01{photo_id}.jpg")
    start_index = len(fake.calls())
    with tempfile.TemporaryDirectory() as folder, ResponseCache(Path(folder) / "cache.sqlite") as cache:
        client = FlickrClient(KEY, endpoint=fake.url(), rate_limiter=RateLimiter(calls, period_s, store=cache),
                              cache=cache, retry=RetryPolicy(max_attempts=3, backoff_base_s=0.05),
                              timeout_s=5.0, pool_size=workers)
        started = time.perf_counter()
        table = crawl_popularity(pd.DataFrame({"image_id": images}), client=client, workers=workers)
        elapsed = time.perf_counter() - started
        client.close()
    assert (table["status"] == "ok").all(), table["status"].value_counts()
    arrivals = sorted(t for t, _, _ in fake.calls()[start_index:])
    most_in_window = max(sum(1 for t in arrivals[i:] if t - arrivals[i] < period_s) for i in range(len(arrivals)))
    span = arrivals[-1] - arrivals[0]
    return {"calls": len(arrivals), "seconds": elapsed, "overall_rate": len(arrivals) / elapsed,
            "sustained_rate": (len(arrivals) - calls) / span if len(arrivals) > calls and span > 0 else float("nan"),
            "most_in_window": most_in_window}


def main() -> None:
    fake = start_fake_flickr(KEY, latency_s=0.020)
    try:
        limit = 40
        bound = run(fake, 120, calls=limit, period_s=1.0, workers=8, offset=0)
        print(f"limit-bound : limit {limit}/s, {bound['calls']} calls in {bound['seconds']:.2f} s, sustained "
              f"{bound['sustained_rate']:.1f}/s, most in any 1 s window {bound['most_in_window']} "
              f"-> ratio to limit {bound['sustained_rate'] / limit:.3f} (target >= 0.9)")
        baseline = run(fake, 60, calls=10**9, period_s=1.0, workers=1, offset=100_000)
        threaded = run(fake, 300, calls=10**9, period_s=1.0, workers=8, offset=200_000)
        print(f"baseline    : 1 thread, {baseline['calls']} calls, {baseline['overall_rate']:.1f} calls/s")
        print(f"latency-bound: 8 threads, {threaded['calls']} calls in {threaded['seconds']:.2f} s, "
              f"{threaded['overall_rate']:.1f} calls/s -> ratio to 50/s target "
              f"{threaded['overall_rate'] / 50:.2f} (target >= 1), to 1-thread baseline "
              f"{threaded['overall_rate'] / baseline['overall_rate']:.2f}x")
    finally:
        fake.server.clear()
        fake.server.stop()


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    main()
