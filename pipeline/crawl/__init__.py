"""Crawling Flickr, split like img2dataset's downloader.

* what to fetch: :mod:`.ids` (photo ids from a manifest column or ICAA17K file names);
* how to ask: :mod:`.client` (pooled session), :mod:`.retry` (backoff policy),
  :mod:`.ratelimit` (global sliding-window limit), :mod:`.cache` (SQLite answers and call log);
* what comes back and where it goes: :mod:`.popularity` (``popularity.parquet``) and
  :mod:`.search` (``candidates.parquet`` plus downloaded photos);
* what may be shipped: :mod:`.licences` (Flickr licence ids and the redistribution filter).
"""

__all__: list[str] = []
