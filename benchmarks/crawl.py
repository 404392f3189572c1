"""Crawl throughput against a local fake Flickr API that answers each call after 20 ms.

Two runs of ``crawl_popularity`` (2 calls per photo, SQLite cache and call log on disk):

1. limit-bound: 40 calls per 1 s window and 8 threads (which could do ~400/s). Target: sustained
   rate >= 0.9 x the limit. The sustained rate is (calls - calls_per_window) / (last start - first
   start): the first window's burst is what any sliding-window limit allows, not a sustained rate.
2. latency-bound: no effective limit, 8 threads. Target: >= 50 calls/s on 2 cores. The baseline
   is the same crawl with 1 thread in the same process (one call at a time, ~20 ms each).

3. calls per 1,000 photos: ``search_candidates`` over 2,000 photos (500 a page, views and faves
   from the extras) against ``crawl_popularity`` (getInfo + getFavorites per photo) in the same run.
   Target: at most 10 calls per 1,000 searched photos. Printed with the photos per hour that makes
   at Flickr's 3,600 calls an hour, also when 0.5 % of the rows lack an extra (one more call each).
   The search asks for a size the fake does not serve (``url_o``), so nothing is downloaded: file
   downloads are not API calls.

Run: ``python benchmarks/crawl.py`` (about 30 s). Prints rates and ratios.
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
from icaa.pipeline.crawl.search import search_candidates  # noqa: E402

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


def calls_per_thousand(fake, photos: int, *, missing_every: int | None, offset: int, per_photo: int) -> dict:
    """API calls per 1,000 photos: from search pages, and from per-photo calls on ``per_photo`` photos."""
    title = f"harbour {offset}"
    for n in range(photos):
        gaps = {"count_faves": None} if missing_every and n % missing_every == 0 else {}
        fake.add(FakePhoto(str(20_000_000_000 + offset + n), owner="1@N01", title=title, views=100 + n, faves=n,
                           search_fields=gaps))
    with tempfile.TemporaryDirectory() as folder, ResponseCache(Path(folder) / "cache.sqlite") as cache:
        client = FlickrClient(KEY, endpoint=fake.url(), rate_limiter=RateLimiter(10**9, 1.0, store=cache),
                              cache=cache, retry=RetryPolicy(max_attempts=3, backoff_base_s=0.05), timeout_s=10.0)
        table = search_candidates(client, Path(folder) / "images", text=title, limit=photos, size="url_o")
        search_calls = client.counts["requests"]
        assert len(table) == photos and table["faves"].notna().all(), table["status"].value_counts()
        client.close()
    images = pd.DataFrame({"image_id": [f"1@N01{20_000_000_000 + offset + n}.jpg" for n in range(per_photo)]})
    with tempfile.TemporaryDirectory() as folder, ResponseCache(Path(folder) / "cache.sqlite") as cache:
        client = FlickrClient(KEY, endpoint=fake.url(), rate_limiter=RateLimiter(10**9, 1.0, store=cache),
                              cache=cache, retry=RetryPolicy(max_attempts=3, backoff_base_s=0.05), timeout_s=10.0)
        crawl_popularity(images, client=client, workers=4)
        per_photo_calls = client.counts["requests"]
        client.close()
    return {"search": 1000 * search_calls / photos, "per_photo": 1000 * per_photo_calls / per_photo}


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
        for label, missing_every in (("all extras present", None), ("0.5 % rows lack count_faves", 200)):
            rates = calls_per_thousand(fake, 2000, missing_every=missing_every, offset=300_000 + (missing_every or 0)
                                       * 10_000, per_photo=100)
            print(f"calls/1000 photos ({label}): search {rates['search']:.1f} (target <= 10), per-photo "
                  f"{rates['per_photo']:.0f} -> {rates['per_photo'] / rates['search']:.0f}x fewer calls; at "
                  f"3,600 calls/h: {3600 * 1000 / rates['search']:,.0f} photos/h searched vs "
                  f"{3600 * 1000 / rates['per_photo']:,.0f} photos/h per photo "
                  f"(1,000,000 photos: {1e6 * rates['search'] / 1000 / 3600:.1f} h vs "
                  f"{1e6 * rates['per_photo'] / 1000 / 3600 / 24:.1f} days)")
    finally:
        fake.server.clear()
        fake.server.stop()


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    main()
