"""icaa-data crawl: photo-id parsing, the client against a fake Flickr API on 127.0.0.1, file source, search."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fake_flickr import FakePhoto, start_fake_flickr
from icaa.pipeline.cli import app
from icaa.pipeline.crawl.stage import run_popularity, run_search
from icaa.pipeline.crawl.cache import ResponseCache, cache_key
from icaa.pipeline.crawl.client import FlickrClient, InvalidApiKey
from icaa.pipeline.crawl.ids import parse_photo_name, photo_ids_for
from icaa.pipeline.crawl.popularity import POPULARITY_STATUSES, crawl_popularity, popularity_from_table
from icaa.pipeline.crawl.ratelimit import RateLimiter
from icaa.pipeline.crawl.retry import RetryPolicy
from icaa.common.errors import IcaaError
from icaa.pipeline.io import write_table

API_KEY = "k3y-Secret-0123456789abcdef"
GET_INFO, GET_FAVES = "flickr.photos.getInfo", "flickr.photos.getFavorites"


# --- what to fetch -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, owner, photo_id, ambiguous", [
    ("complementary/orange_blue/140585134@N0737498238334.jpg", "140585134@N07", "37498238334", False),
    ("42587893@N067469505698.jpg", "42587893@N06", "7469505698", False),
    ("96972102@N00362327845.jpg", "96972102@N00", "362327845", False),
    ("juiedesai19391601268.jpg", "juiedesai", "19391601268", False),
    ("massy19702990610207.jpg", "massy1970", "2990610207", True),   # 11 digits would start with 7: too large
    ("steelhead201016955137356.jpg", "steelhead2010", "16955137356", True),
    ("bluejay2006535334787.jpg", "bluejay200", "6535334787", True),  # leading zero rules out 11 digits
])
def test_icaa17k_style_names_split_into_owner_and_photo_id(name, owner, photo_id, ambiguous):
    parsed = parse_photo_name(name)
    assert (parsed.owner, parsed.photo_id, parsed.ambiguous) == (owner, photo_id, ambiguous)


@pytest.mark.parametrize("name, failure", [
    ("sunset.jpg", "no_trailing_digits"), ("0000000000.jpg", "no_valid_photo_id"), ("123456789.jpg", "no_owner"),
    # Not <owner><photo id>: too few digits for a photo id, or characters Flickr names do not have.
    ("scratch_route66.jpg", "not_a_flickr_name"), ("IMG_1234.jpg", "not_a_flickr_name"),
    ("DSC01234.JPG", "not_a_flickr_name"), ("holiday 2019 12345678901.jpg", "not_a_flickr_name"),
    ("ab12345678.jpg", "not_a_flickr_name")])
def test_names_without_a_photo_id_report_the_reason(name, failure):
    assert parse_photo_name(name).failure == failure


def test_all_icaa17k_file_names_parse_to_owner_and_photo_id(shared_dir):
    with open(shared_dir / "reference" / "icaa17k" / "1all.csv", newline="") as handle:
        ids = [row["ID"] for row in csv.DictReader(handle)]
    assert len(ids) == 17351
    parsed = [parse_photo_name(i) for i in ids]
    failures = [(i, p.failure) for i, p in zip(ids, parsed) if not p.ok]
    assert failures == []
    kinds = Counter(p.owner_kind for p in parsed)
    assert kinds == {"nsid": 7184, "username": 10167}
    assert Counter(len(p.photo_id) for p in parsed) == {11: 17103, 10: 209, 9: 39}
    # 1,872 rows have a username ending in digits: the owner/id border follows the longest-valid-id rule
    assert sum(p.ambiguous for p in parsed) == 1872
    # the same file name under several categories gives the same photo
    by_name = {}
    for i, p in zip(ids, parsed):
        assert by_name.setdefault(i.rsplit("/", 1)[1], p) == p


def test_manifest_photo_id_column_wins_over_the_file_name():
    images = pd.DataFrame({"image_id": ["a/juiedesai19391601268.jpg", "b/sunset.jpg", "c/sunset2x.jpg"],
                           "photo_id": [None, "555", None]})
    targets = photo_ids_for(images)
    assert targets["photo_id"].tolist() == ["19391601268", "555", None]
    assert targets["id_source"].tolist() == ["file_name", "manifest", "none"]
    with pytest.raises(IcaaError, match="not a Flickr photo id"):
        photo_ids_for(pd.DataFrame({"image_id": ["x.jpg"], "photo_id": ["12ab"]}))


# --- the client against a fake API --------------------------------------------------------------
@pytest.fixture
def fake():
    server = start_fake_flickr(API_KEY)
    yield server
    server.server.clear()
    server.server.stop()


def make_client(fake, cache=None, *, calls=1000, period_s=1.0, attempts=4, timeout_s=0.4, key=API_KEY):
    return FlickrClient(key, endpoint=fake.url(), rate_limiter=RateLimiter(calls, period_s, store=cache),
                        cache=cache, retry=RetryPolicy(max_attempts=attempts, backoff_base_s=0.02,
                                                       backoff_max_s=0.1), timeout_s=timeout_s)


def photo_names(fake, count, start=10_000_000_000):
    photos = [FakePhoto(str(start + n), owner=f"{1000 + n}@N0{n % 10}", views=100 * (n + 1), faves=n)
              for n in range(count)]
    fake.add(*photos)
    return pd.DataFrame({"image_id": [f"cat/{p.owner}{p.photo_id}.jpg" for p in photos]})


@pytest.mark.server
def test_every_photo_ends_with_exactly_one_status_through_every_kind_of_fault(fake, tmp_path):
    fake.slow_s = 0.8
    fake.retry_after = "1"
    fake.add(FakePhoto("20000000001", owner="1@N01", views=400, faves=10),
             FakePhoto("20000000002", owner="2@N02", private=True),
             FakePhoto("20000000003", owner="3@N03"), FakePhoto("20000000004", owner="4@N04"),
             FakePhoto("20000000005", owner="5@N05"), FakePhoto("20000000006", owner="6@N06"),
             FakePhoto("20000000007", owner="7@N07"))
    fake.fail_next(GET_INFO, "20000000001", "429", "500", "malformed", "drop", "slow")  # recovers on attempt 6
    fake.fail_next(GET_INFO, "20000000003", *["500"] * 6)
    fake.fail_next(GET_INFO, "20000000004", *["slow"] * 6)
    fake.fail_next(GET_FAVES, "20000000005", *["malformed"] * 6)
    fake.fail_next(GET_INFO, "20000000006", *["drop"] * 6)
    fake.fail_next(GET_INFO, "20000000007", "unavailable")
    images = pd.DataFrame({"image_id": [
        "a/1@N0120000000001.jpg", "b/1@N0120000000001.jpg", "2@N0220000000002.jpg", "3@N0320000000003.jpg",
        "4@N0420000000004.jpg", "5@N0520000000005.jpg", "6@N0620000000006.jpg", "7@N0720000000007.jpg",
        "9@N0920000000009.jpg", "holiday.jpg"]})
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        client = make_client(fake, cache, attempts=6, timeout_s=0.3)
        table = crawl_popularity(images, client=client, workers=4)
    assert table["image_id"].tolist() == images["image_id"].tolist()  # every image once, in order
    assert table["status"].tolist() == [
        "ok", "ok", "private", "error:server_error", "error:timeout", "error:malformed_response",
        "error:connection", "ok", "not_found", "error:no_photo_id"]
    assert set(table["status"]) <= set(POPULARITY_STATUSES)
    ok = table.iloc[0]
    assert (ok.views, ok.faves, ok.licence, ok.owner) == (400, 10, 4, "1@N01")
    assert ok.posted_at == pd.Timestamp(1_500_000_000, unit="s", tz="UTC")
    # the shared photo was fetched once; the 429 was followed by a wait of at least Retry-After
    info_times = [t for t, method, pid in fake.calls(GET_INFO) if pid == "20000000001"]
    assert len(info_times) == 6
    assert [pid for _, _, pid in fake.calls(GET_FAVES)].count("20000000001") == 1
    assert info_times[1] - info_times[0] >= 1.0
    assert client.counts["requests"] == len(fake.calls())


@pytest.mark.server
def test_permanent_http_errors_are_not_retried(fake):
    fake.server.expect_request("/gone/").respond_with_data("gone", status=404)
    client = make_client(fake)
    client.endpoint = fake.server.url_for("/gone/")
    table = crawl_popularity(pd.DataFrame({"image_id": ["1@N0110000000001.jpg"]}), client=client)
    assert table["status"].tolist() == ["error:http_error"]
    assert client.counts["requests"] == 1


@pytest.mark.server
def test_an_invalid_key_stops_the_crawl_with_a_message_without_the_key(fake, tmp_path):
    images = photo_names(fake, 5)
    client = make_client(fake, key="wrong-key-XYZ")
    with pytest.raises(InvalidApiKey, match="FLICKR_API_KEY") as raised:
        crawl_popularity(images, client=client, workers=2)
    assert "wrong-key-XYZ" not in str(raised.value)
    assert len(fake.calls()) <= 2  # no photo after the first answers


class VirtualClock:
    """A clock that only moves when the limiter sleeps: call times are exact, whatever the machine's load."""

    def __init__(self):
        self.now = 1_000_000.0
        self.starts: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.server
def test_the_client_never_exceeds_the_rate_in_any_sliding_window(fake, tmp_path):
    images = photo_names(fake, 25)  # 50 calls at 20 per second, 8 threads
    clock = VirtualClock()
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        starts: list[float] = []
        reserve_call = cache.reserve_call

        def recording_reserve_call(read_clock, calls, window_s):
            # The limiter takes a slot under its lock, at the clock reading reserve_call made.
            readings: list[float] = []
            wait = reserve_call(lambda: readings.append(read_clock()) or readings[-1], calls, window_s)
            if wait <= 0:
                starts.append(readings[-1])
            return wait

        cache.reserve_call = recording_reserve_call
        limiter = RateLimiter(20, 1.0, store=cache, clock=clock.time, sleep=clock.sleep)
        client = FlickrClient(API_KEY, endpoint=fake.url(), rate_limiter=limiter, cache=cache,
                              retry=RetryPolicy(max_attempts=4, backoff_base_s=0.02, backoff_max_s=0.1), timeout_s=2)
        table = crawl_popularity(images, client=client, workers=8)
    starts.sort()
    assert (table["status"] == "ok").all()
    assert len(starts) == 50 and len(fake.calls()) == 50
    assert min(starts[i + 20] - starts[i] for i in range(len(starts) - 20)) >= 1.0
    # The limit, not the threads, sets the pace: three windows of 20, 20 and 10 calls, one window apart.
    assert starts[-1] - starts[0] == pytest.approx(2 * limiter.window_s)


@pytest.mark.server
def test_a_rerun_costs_zero_calls_and_gives_the_same_table(fake, tmp_path):
    images = photo_names(fake, 6)
    fake.add(FakePhoto("30000000001", private=True))
    images.loc[len(images)] = ["x/30000000001.jpg"]
    images.loc[len(images)] = ["x/1@N0130000000099.jpg"]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        first = crawl_popularity(images, client=make_client(fake, cache), workers=3)
    calls = len(fake.calls())
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        client = make_client(fake, cache)
        second = crawl_popularity(images, client=client, workers=3)
    assert len(fake.calls()) == calls and client.counts["requests"] == 0
    pd.testing.assert_frame_equal(first, second)


KILLED_CRAWL = textwrap.dedent("""
    import sys
    from icaa.pipeline.crawl.stage import run_popularity
    run_popularity(sys.argv[1], sys.argv[2], source="flickr", cache_dir=sys.argv[3], rate_per_hour=7200,
                   rate_window_s=2.0, workers=1, timeout_s=2, max_attempts=2, backoff_base_s=0.05)
""")


@pytest.mark.server
@pytest.mark.slow
def test_a_crawl_killed_midway_resumes_with_the_same_table_and_no_repeated_calls(fake, tmp_path):
    images = photo_names(fake, 6)  # 12 calls, 4 per 2 s window
    write_table(images, tmp_path / "images.parquet")
    env = {**os.environ, "FLICKR_API_KEY": API_KEY, "ICAA_FLICKR_API_URL": fake.url()}
    process = subprocess.Popen([sys.executable, "-c", KILLED_CRAWL, str(tmp_path / "images.parquet"),
                                str(tmp_path / "killed.parquet"), str(tmp_path / "cache")], env=env)
    cache_file = tmp_path / "cache" / "flickr-api.sqlite"
    stored = _kill_once_stored(process, cache_file, 4)
    in_flight = len(fake.calls()) - stored  # asked, but killed before the answer was stored
    assert stored >= 4 and in_flight <= 1 and not (tmp_path / "killed.parquet").exists()

    summary = _run_with_env(env, lambda: run_popularity(
        tmp_path / "images.parquet", tmp_path / "resumed.parquet", source="flickr", cache_dir=tmp_path / "cache",
        rate_per_hour=7200, rate_window_s=2.0, workers=1, timeout_s=2))
    assert summary["cache_hits"] == stored and summary["api_calls"] == 12 - stored
    requested = [(method, pid) for _, method, pid in fake.calls()]
    assert len(requested) == 12 + in_flight and len(set(requested)) == 12  # only an unstored answer asked again
    with ResponseCache(cache_file) as cache:
        starts = sorted(cache.calls_since(0.0))  # the limiter's own start times, across the restart
    assert min(starts[i + 4] - starts[i] for i in range(len(starts) - 4)) >= 2.0

    _run_with_env(env, lambda: run_popularity(
        tmp_path / "images.parquet", tmp_path / "fresh.parquet", source="flickr", cache_dir=tmp_path / "fresh-cache",
        rate_per_hour=360000, rate_window_s=1.0, workers=3, timeout_s=2))
    resumed, fresh = (pd.read_parquet(tmp_path / name) for name in ("resumed.parquet", "fresh.parquet"))
    pd.testing.assert_frame_equal(resumed.drop(columns="fetched_at"), fresh.drop(columns="fetched_at"))
    assert (resumed["status"] == "ok").all()


def _stored_answers(cache_file: Path) -> int:
    if not cache_file.exists():
        return 0
    with ResponseCache(cache_file) as cache:
        return len(cache)


def _kill_once_stored(process: subprocess.Popen, cache_file: Path, count: int) -> int:
    """SIGKILL a crawling child once its cache holds ``count`` answers; return how many it had stored."""
    deadline = time.time() + 120  # a bound on a hung child only; no assertion depends on how long anything took
    while _stored_answers(cache_file) < count and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return _stored_answers(cache_file)


def _run_with_env(env, function):
    saved = {k: os.environ.get(k) for k in ("FLICKR_API_KEY", "ICAA_FLICKR_API_URL")}
    os.environ.update({k: env[k] for k in saved})
    try:
        return function()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.server
def test_the_api_key_appears_in_no_file_written_and_no_output(fake, tmp_path, monkeypatch):
    images = photo_names(fake, 4)
    images.loc[len(images)] = ["1@N0150000000001.jpg"]  # not found
    fake.fail_next(GET_INFO, images["image_id"][0].split("N0")[1][1:-4], "drop", "drop")
    fake.fail_next(GET_FAVES, "10000000001", "slow", "slow")
    fake.slow_s = 0.5
    write_table(images, tmp_path / "images.parquet")
    monkeypatch.setenv("FLICKR_API_KEY", API_KEY)
    monkeypatch.setenv("ICAA_FLICKR_API_URL", fake.url())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(app, ["crawl", "popularity", str(tmp_path / "images.parquet"), "-o",
                                      str(tmp_path / "out" / "popularity.parquet"), "--source", "flickr",
                                      "--timeout-s", "0.3", "--max-attempts", "2", "--backoff-base-s", "0.01"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "out" / "popularity.parquet")
    assert sorted(set(table["status"])) == ["error:connection", "error:timeout", "not_found", "ok"]
    assert API_KEY not in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "flickr-api.sqlite" for p in written)
    for path in written:
        data = path.read_bytes()
        assert API_KEY.encode() not in data and b"k3y-Secret" not in data, path
    assert API_KEY in fake.seen_keys  # it was sent, as the API requires


def test_cache_keys_leave_out_the_key_and_format_flags():
    assert cache_key("m", {"photo_id": "1", "api_key": API_KEY, "format": "json"}) == 'm?{"photo_id":"1"}'


@pytest.mark.server
def test_cli_invalid_key_exits_1_with_a_message(fake, tmp_path, monkeypatch):
    images = photo_names(fake, 2)
    write_table(images, tmp_path / "images.parquet")
    monkeypatch.setenv("FLICKR_API_KEY", "bad-key-0000")
    monkeypatch.setenv("ICAA_FLICKR_API_URL", fake.url())
    from icaa.pipeline.cli import main
    monkeypatch.setattr(sys, "argv", ["icaa-data", "crawl", "popularity", str(tmp_path / "images.parquet"), "-o",
                                      str(tmp_path / "p.parquet"), "--source", "flickr", "--cache", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1


# --- file source --------------------------------------------------------------------------------
def test_file_source_matches_by_image_id_and_marks_unlisted_images_not_listed(tmp_path):
    pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "photo_id": [11, 12], "views": [100, 0], "faves": [5, 0],
                  "licence": [4, 9], "posted_at": ["2019-05-01", "2020-01-02T10:00:00Z"]}).to_csv(
        tmp_path / "pop.csv", index=False)
    images = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"]})
    table = popularity_from_table(images, tmp_path / "pop.csv")
    assert table["status"].tolist() == ["ok", "ok", "not_listed"]  # no API was asked: not "not_found"
    assert table["photo_id"].tolist() == ["11", "12", None]
    assert table["views"].tolist()[:2] == [100, 0] and table["faves"].tolist()[:2] == [5, 0]
    assert table["posted_at"][0] == pd.Timestamp("2019-05-01", tz="UTC")


def test_file_source_rejects_negative_counts_naming_the_rows(tmp_path):
    pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "views": [100, -3], "faves": [1, 2]}).to_csv(
        tmp_path / "pop.csv", index=False)
    with pytest.raises(IcaaError, match="views must hold whole numbers >= 0.*b.jpg"):
        popularity_from_table(pd.DataFrame({"image_id": ["a.jpg"]}), tmp_path / "pop.csv")


def test_cli_file_source_writes_popularity_parquet(tmp_path):
    write_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg"]}), tmp_path / "images.parquet")
    pd.DataFrame({"image_id": ["a.jpg"], "views": [9], "faves": [3]}).to_csv(tmp_path / "pop.csv", index=False)
    result = CliRunner().invoke(app, ["crawl", "popularity", str(tmp_path / "images.parquet"), "-o",
                                      str(tmp_path / "popularity.parquet"), "--source", "file",
                                      str(tmp_path / "pop.csv")])
    assert result.exit_code == 0, result.output
    assert "ok 1" in result.output and "not_listed 1" in result.output
    assert pd.read_parquet(tmp_path / "popularity.parquet")["status"].tolist() == ["ok", "not_listed"]


# --- search -------------------------------------------------------------------------------------
@pytest.mark.server
def test_search_pages_filters_licences_and_downloads_under_the_cap(fake, tmp_path, monkeypatch):
    for n in range(7):
        fake.add(FakePhoto(str(40_000_000_000 + n), owner=f"{n}@N0{n}", title=f"red door {n}",
                           licence=[4, 0, 9, 5, 4, 10, 4][n], size_bytes=[2000, 2000, 2000, 9000, 2000, 2000, 2000][n],
                           faves=n))
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        client = make_client(fake, cache)
        from icaa.pipeline.crawl.search import search_candidates
        table = search_candidates(client, tmp_path / "images", text="red door", licences=(4, 5, 9, 10), limit=5,
                                  max_bytes=5000, per_page=2)
    # the server filters licences; 5 of the 6 allowed are kept, in pages
    assert table["photo_id"].tolist() == [str(40_000_000_000 + n) for n in (0, 2, 3, 4, 5)]
    assert table["status"].tolist() == ["ok", "ok", "too_large", "ok", "ok"]
    assert table["faves"].tolist() == [0, 2, 3, 4, 5]
    downloaded = table[table["status"] == "ok"]
    for row in downloaded.itertuples():
        assert (tmp_path / "images" / row.image_id).stat().st_size == row.bytes == 2000
        assert parse_photo_name(row.image_id).photo_id == row.photo_id  # crawl popularity reads it back
    assert not list((tmp_path / "images").glob("*40000000003*"))  # nothing left of the too-large file
    search_pages = [1 for _, method, _ in fake.calls() if method == "flickr.photos.search"]
    assert len(search_pages) == 3  # 2 per page; the third page reaches the limit of 5


@pytest.mark.server
def test_search_cli_keeps_only_allowed_licences_and_reports(fake, tmp_path, monkeypatch):
    for n in range(5):
        fake.add(FakePhoto(str(41_000_000_000 + n), owner="9@N09", title="blue sea", licence=[4, 2, 4, 6, 9][n]))
    monkeypatch.setenv("FLICKR_API_KEY", API_KEY)
    monkeypatch.setenv("ICAA_FLICKR_API_URL", fake.url())
    result = CliRunner().invoke(app, ["crawl", "search", "--text", "blue sea", "--colour", "blue", "--limit", "10",
                                      "--images-dir", str(tmp_path / "img"), "-o", str(tmp_path / "c.parquet"),
                                      "--licences", "4,9", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "c.parquet")
    assert table["licence"].tolist() == [4, 4, 9] and (table["status"] == "ok").all()
    assert "color_codes=8" in table["query"][0]
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == sorted(table["image_id"])
    summary = run_search(tmp_path / "img", tmp_path / "c2.parquet", text="blue sea", colours=["blue"],
                         licences=(4, 9), cache_dir=tmp_path / "cache")
    assert summary["api_calls"] == 0 and summary["statuses"] == {"exists": 3}


def test_demo_popularity_csv_lists_every_demo_photo(repo_root):
    demo = repo_root / "data" / "demo"
    images = pd.DataFrame({"image_id": sorted(p.name for p in demo.glob("*.jpg"))})
    assert len(images) > 0
    table = popularity_from_table(images, demo / "popularity.csv")
    assert "listed in" not in " ".join(table["detail"])  # every photo has a row in the file
    assert Counter(table["status"]) == {"ok": len(images) - 1, "not_found": 1}
    assert (table.loc[table["status"] == "ok", "views"] >= table.loc[table["status"] == "ok", "faves"]).all()


@pytest.mark.server
def test_an_ambiguous_name_whose_first_reading_is_not_found_tries_the_next_owner_id_border(fake):
    fake.add(FakePhoto("2990610207", owner="88@N08", views=900, faves=30))
    client = make_client(fake, ResponseCache(":memory:"))
    # massy19702990610207 reads as massy1970 + 2990610207 at once; abc12990610207 first as abc + 12990610207
    table = crawl_popularity(pd.DataFrame({"image_id": ["massy19702990610207.jpg", "abc12990610207.jpg"]}),
                             client=client, workers=1)
    assert table["status"].tolist() == ["ok", "ok"]
    assert table["photo_id"].tolist() == ["2990610207", "2990610207"]
    assert "owner abc1 + photo 2990610207" in table["detail"][1]
    info_calls = [pid for _, method, pid in fake.calls(GET_INFO)]
    assert info_calls.count("12990610207") == 1 and info_calls.count("2990610207") == 1  # cached, asked once


# --- popularity from search pages, visibility, dry runs, libraries at scale ----------------------
SEARCH = "flickr.photos.search"


def _red_doors(fake, count, start=42_000_000_000, overrides=None):
    photos = [FakePhoto(str(start + n), owner=f"{n}@N0{n % 10}", title=f"red door {n}", views=1000 + n, faves=n,
                        licence=4, **(overrides or {}).get(n, {})) for n in range(count)]
    fake.add(*photos)
    return photos


@pytest.mark.server
def test_search_takes_views_and_faves_from_the_pages_and_calls_per_photo_only_for_missing_extras(fake, tmp_path):
    _red_doors(fake, 12, overrides={3: {"search_fields": {"count_faves": None}},        # extra missing
                                    5: {"search_fields": {"views": "lots"}},            # malformed
                                    7: {"search_fields": {"ispublic": None}}})          # visibility unknown
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        client = make_client(fake, cache)
        from icaa.pipeline.crawl.search import search_candidates
        table = search_candidates(client, tmp_path / "images", text="red door", limit=12, per_page=5)
    assert (table["status"] == "ok").all(), table[["photo_id", "status", "detail"]]
    assert table["views"].tolist() == [1000 + n for n in range(12)]
    assert table["faves"].tolist() == list(range(12))
    per_photo = [(method, pid) for _, method, pid in fake.calls() if method != SEARCH]
    assert sorted(per_photo) == [(GET_FAVES, "42000000003"), (GET_INFO, "42000000005"), (GET_INFO, "42000000007")]
    assert len(fake.calls(SEARCH)) == 3  # 12 photos at 5 a page
    extras = fake.server.log[0][0].args["extras"].split(",")
    assert {"views", "count_faves", "license", "owner_name"} <= set(extras)


@pytest.mark.server
def test_photos_that_are_not_public_get_status_private_from_search_rows_and_from_getinfo(fake, tmp_path):
    _red_doors(fake, 6, overrides={1: {"visibility": "friends"}, 2: {"visibility": "family"},
                                   3: {"visibility": "friends,family"},
                                   4: {"visibility": "friends", "search_fields": {"ispublic": None}}})
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        client = make_client(fake, cache)
        from icaa.pipeline.crawl.search import search_candidates
        candidates = search_candidates(client, tmp_path / "images", text="red door", limit=10)
        assert candidates["status"].tolist() == ["ok", "private", "private", "private", "private", "ok"]
        assert "ispublic=0 isfriend=1" in candidates["detail"][1]
        assert "getInfo visibility" in candidates["detail"][4]  # the row had no ispublic: getInfo decided
        assert candidates["image_id"].notna().tolist() == [True, False, False, False, False, True]
        downloaded = sorted(p.name for p in (tmp_path / "images").iterdir())
        assert downloaded == sorted(candidates["image_id"].dropna())
        assert not [1 for t in fake.server.log if t[0].path.startswith("/photos/4200000000" + "1")]
        # the same photos by file name: getInfo's visibility decides, and no fave call is spent on them
        names = pd.DataFrame({"image_id": [f"{n}@N0{n}{42_000_000_000 + n}.jpg" for n in range(6)]})
        popularity = crawl_popularity(names, client=client, workers=2)
    assert popularity["status"].tolist() == ["ok", "private", "private", "private", "private", "ok"]
    assert popularity.loc[1, "views"] is pd.NA and popularity.loc[1, "faves"] is pd.NA
    faved = {pid for _, _, pid in fake.calls(GET_FAVES)}
    assert faved == {"42000000000", "42000000005"}


def test_a_private_photo_never_reaches_balance_or_build(tmp_path):
    from icaa.pipeline.balance import balance_pool
    from icaa.pipeline.build import assemble_dataset, dataset_summary, write_dataset
    from icaa.pipeline.fuse import fuse_scores

    ids = [f"{n}@N0{n}4300000000{n}.jpg" for n in range(4)]
    colour = pd.DataFrame({"image_id": ids, "harmony_score": [0.2, 0.4, 0.6, 0.8],
                           "category": "monochromatic/red"})
    popularity = pd.DataFrame({"image_id": ids, "views": [100, None, 100, 100], "faves": [4, None, 9, 1],
                               "licence": 4, "status": ["ok", "private", "ok", "ok"]})
    coarse, rejects, _ = fuse_scores(colour, popularity, on_missing_popularity="harmony")
    assert ids[1] not in set(coarse["image_id"])
    assert rejects.set_index("image_id").loc[ids[1], "reason"] == "not_public"
    # a pool that still carries a private row (an old table) is not selected from either
    pool = pd.concat([coarse, pd.DataFrame({"image_id": [ids[1]], "category": ["monochromatic/red"],
                                            "coarse_score": [9.0], "flag": ["private"]})], ignore_index=True)
    selection, metrics = balance_pool(pool, per_class=4)
    assert ids[1] not in set(selection["image_id"]) and len(selection) == 3
    # build: the popularity table says private, so the row is rejected even when selected by hand
    for image_id in ids:
        (tmp_path / image_id).write_bytes(b"\xff\xd8" + image_id.encode())
    images = pd.DataFrame({"image_id": ids, "path": [str(tmp_path / i) for i in ids]})
    mos = pd.DataFrame({"image_id": ids, "color": [3.0, 4.0, 5.0, 6.0], "MOS": 5.0, "probability": 0.8})
    chosen = pd.DataFrame({"image_id": ids, "category": "monochromatic/red"})
    dataset = assemble_dataset(chosen, mos, images, extra_tables=[popularity])
    write_dataset(dataset, tmp_path / "ds")
    summary = dataset_summary(dataset)
    assert summary["rejected"] == {"not_public": 1} and summary["rows"] == 3
    assert ids[1] not in (tmp_path / "ds" / "all.csv").read_text()


def test_licence_filter_default_admits_only_redistributable_flickr_licences():
    from icaa.pipeline.crawl.licences import REDISTRIBUTABLE_LICENCES, parse_licence_filter

    assert REDISTRIBUTABLE_LICENCES == (4, 5, 7, 8, 9, 10)
    ids = pd.Series([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, None, None])
    names = pd.Series([None] * 12 + ["GPL-2+", None])
    assert parse_licence_filter(None).admits(ids, names).tolist() == [
        False, False, False, False, True, True, False, True, True, True, True, False, False, False]
    assert parse_licence_filter("9,GPL-2+").admits(ids, names).tolist() == [i in (9, 12) for i in range(14)]
    assert parse_licence_filter("any").admits(ids, names).all()
    with pytest.raises(IcaaError, match="takes no other"):
        parse_licence_filter("any,4")


def test_file_source_takes_licence_and_owner_from_an_attribution_table(tmp_path):
    pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "views": [10, 20, 30], "faves": [1, 2, 3]}).to_csv(
        tmp_path / "pop.csv", index=False)
    pd.DataFrame({"file": ["a.jpg", "b.jpg"], "author": ["Ann", "Bo"], "licence": ["GPL-2+", "CC0-1.0"]}).to_csv(
        tmp_path / "credits.csv", index=False)
    table = popularity_from_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"]}), tmp_path / "pop.csv",
                                  attribution=tmp_path / "credits.csv")
    assert table["licence_name"].tolist() == ["GPL-2+", "CC0-1.0", None]
    assert table["licence"].tolist()[:2] == [pd.NA, 9] and table["owner_name"].tolist() == ["Ann", "Bo", None]
    assert "from credits.csv" in table["detail"][0]


def test_demo_crawl_with_its_attribution_gives_every_photo_a_real_licence_and_author(repo_root):
    demo = repo_root / "data" / "demo"
    images = pd.DataFrame({"image_id": sorted(p.name for p in demo.glob("*.jpg"))})
    table = popularity_from_table(images, demo / "popularity.csv", attribution=demo / "ATTRIBUTION.csv")
    ok = table[table["status"] == "ok"]
    assert ok["licence_name"].notna().all() and ok["owner_name"].notna().all()
    assert Counter(ok["licence_name"])["GPL-2+"] == 32
    assert set(ok["licence"].dropna()) == {9}  # only CC0-1.0 is exactly a Flickr licence


@pytest.mark.server
def test_dry_runs_count_calls_hours_and_cache_hits_without_calling_the_api(fake, tmp_path, monkeypatch):
    images = photo_names(fake, 5)
    write_table(images, tmp_path / "images.parquet")
    _red_doors(fake, 7)
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)  # a plan needs no key
    runner = CliRunner()
    plan = run_popularity(tmp_path / "images.parquet", tmp_path / "p.parquet", source="flickr",
                          cache_dir=tmp_path / "cache", rate_per_hour=3600, dry_run=True)
    assert (plan["calls"], plan["cache_hits"], plan["hours_at_rate"]) == (10, 0, round(10 / 3600, 3))
    assert fake.calls() == [] and not (tmp_path / "cache").exists() and not (tmp_path / "p.parquet").exists()
    # crawl two photos for real, then plan again: their four answers are skipped
    monkeypatch.setenv("FLICKR_API_KEY", API_KEY)
    monkeypatch.setenv("ICAA_FLICKR_API_URL", fake.url())
    write_table(images.head(2), tmp_path / "two.parquet")
    run_popularity(tmp_path / "two.parquet", tmp_path / "two_pop.parquet", source="flickr",
                   cache_dir=tmp_path / "cache", workers=1)
    calls = len(fake.calls())
    result = runner.invoke(app, ["crawl", "popularity", str(tmp_path / "images.parquet"), "-o",
                                 str(tmp_path / "p.parquet"), "--source", "flickr", "--cache", str(tmp_path / "cache"),
                                 "--rate-per-hour", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    for line in ("calls: 6", "cache_hits: 4", "hours_at_rate: 3.0"):  # 6 calls at 2 an hour
        assert f"  {line}\n" in result.output, result.output
    assert len(fake.calls()) == calls and not (tmp_path / "p.parquet").exists()
    # search: 7 results at 3 a page = 3 pages; after the real search they are all cached
    options = dict(text="red door", limit=7, per_page=3, cache_dir=tmp_path / "cache")
    before = run_search(tmp_path / "img", tmp_path / "c.parquet", dry_run=True, **options)
    assert (before["calls"], before["cache_hits"], before["search_pages"]) == (3, 0, 3)
    assert len(fake.calls()) == calls and not (tmp_path / "c.parquet").exists()
    done = run_search(tmp_path / "img", tmp_path / "c.parquet", **options)
    assert done["api_calls"] == 3 and done["statuses"] == {"ok": 7}
    after = run_search(tmp_path / "img", tmp_path / "c2.parquet", dry_run=True, **options)
    assert (after["calls"], after["cache_hits"], after["search_pages_cached"]) == (0, 3, 3)
    assert not (tmp_path / "c2.parquet").exists()


def _run_in_threads(work, count: int) -> None:
    """Run ``work`` in ``count`` threads started together; re-raise the first error any of them met."""
    import threading

    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def body() -> None:
        start.wait()
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_connections_opening_a_new_cache_file_at_once_all_succeed(tmp_path):
    # Two connections that create the file and switch it to WAL together: SQLite answers one of them
    # "database is locked" at once, without its busy timeout, unless opening tries again.
    for attempt in range(40):
        path = tmp_path / f"cache-{attempt}.sqlite"

        def open_and_use() -> None:
            with ResponseCache(path) as store:
                store.put("flickr.photos.getInfo", {"photo_id": "1"}, {"stat": "ok"})

        _run_in_threads(open_and_use, 6)
        with ResponseCache(path) as store:
            assert len(store) == 1


def test_two_limiters_sharing_one_cache_file_never_exceed_the_rate_together(tmp_path):
    def crawl() -> None:
        with ResponseCache(tmp_path / "cache.sqlite") as store:  # its own connection, as another process has
            limiter = RateLimiter(5, 0.5, store=store, margin=0.0)
            for _ in range(10):
                limiter.acquire()

    _run_in_threads(crawl, 2)
    with ResponseCache(tmp_path / "cache.sqlite") as store:
        starts = store.calls_since(0.0)  # the slots as the two limiters took them, in the shared file
    assert len(starts) == 20
    assert min(starts[i + 5] - starts[i] for i in range(len(starts) - 5)) >= 0.5


KILLED_SEARCH = textwrap.dedent("""
    import sys
    from icaa.pipeline.crawl.stage import run_search
    run_search(sys.argv[1], sys.argv[2], text="red door", limit=12, per_page=2, cache_dir=sys.argv[3],
               rate_per_hour=7200, rate_window_s=2.0, timeout_s=2, max_attempts=2, backoff_base_s=0.05)
""")


@pytest.mark.server
@pytest.mark.slow
def test_a_search_killed_midway_resumes_with_the_same_table_and_no_repeated_page(fake, tmp_path):
    _red_doors(fake, 12)  # 6 pages of 2, 4 calls per 2 s window
    env = {**os.environ, "FLICKR_API_KEY": API_KEY, "ICAA_FLICKR_API_URL": fake.url()}
    process = subprocess.Popen([sys.executable, "-c", KILLED_SEARCH, str(tmp_path / "img"),
                                str(tmp_path / "killed.parquet"), str(tmp_path / "cache")], env=env)
    cache_file = tmp_path / "cache" / "flickr-api.sqlite"
    stored = _kill_once_stored(process, cache_file, 4)
    in_flight = len(fake.calls(SEARCH)) - stored  # asked, but killed before the page was stored
    assert stored >= 4 and in_flight <= 1 and not (tmp_path / "killed.parquet").exists()

    summary = _run_with_env(env, lambda: run_search(
        tmp_path / "img", tmp_path / "resumed.parquet", text="red door", limit=12, per_page=2,
        cache_dir=tmp_path / "cache", rate_per_hour=7200, rate_window_s=2.0, timeout_s=2))
    assert summary["cache_hits"] == stored and summary["api_calls"] == 6 - stored and summary["statuses"] == {"ok": 12}
    pages = [pid for _, _, pid in fake.calls(SEARCH)]
    # each page asked once, except a page in flight at the kill, which was never stored
    assert len(pages) == 6 + in_flight and set(pages) == {f"page{n}" for n in range(1, 7)}
    with ResponseCache(cache_file) as cache:
        starts = cache.calls_since(0.0)  # the limiter's own start times, across the restart
    assert min(starts[i + 4] - starts[i] for i in range(len(starts) - 4)) >= 2.0
    _run_with_env(env, lambda: run_search(
        tmp_path / "img2", tmp_path / "fresh.parquet", text="red door", limit=12, per_page=2,
        cache_dir=tmp_path / "fresh-cache", rate_per_hour=360000, rate_window_s=1.0, timeout_s=2))
    resumed, fresh = (pd.read_parquet(tmp_path / name) for name in ("resumed.parquet", "fresh.parquet"))
    columns = ["photo_id", "owner", "licence", "views", "faves", "status", "image_id", "sha256"]
    pd.testing.assert_frame_equal(resumed[columns], fresh[columns])
