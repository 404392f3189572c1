"""A fake Flickr REST API for tests and benchmarks: a real HTTP server on 127.0.0.1 (pytest-httpserver).

It answers ``flickr.photos.getInfo``, ``flickr.photos.getFavorites`` and ``flickr.photos.search``
as the API does (``stat`` ok / fail payloads, string numbers, pagination), serves photo files under
``/photos/``, logs every request with its arrival time, and plays scripted faults per photo:
``429`` (with ``Retry-After``), ``500``, ``slow`` (sleeps past the client's timeout), ``malformed``
(HTML body), ``drop`` (closes the socket without an answer) and ``unavailable`` (API code 201).
Faults of a search page are keyed by ``("flickr.photos.search", "page<N>")``.

A photo's ``visibility`` is what a key sees whose account may see friends' and family photos:
``public``, ``friends``, ``family`` or ``friends,family`` (search rows and getInfo both report it).
``search_fields`` overrides a search row's extras (a value of None leaves the field out).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_PATH = "/services/rest/"


@dataclass
class FakePhoto:
    photo_id: str
    owner: str = "12345678@N01"
    owner_name: str = "Test Owner"
    views: int = 100
    faves: int = 4
    licence: int = 4
    posted: int = 1_500_000_000
    title: str = "a photo"
    private: bool = False  # permission denied (code 2) to this key
    size_bytes: int = 2000
    visibility: str = "public"
    comments: int = 1
    search_fields: dict = field(default_factory=dict)

    def visibility_flags(self) -> dict[str, int]:
        return {"ispublic": int(self.visibility == "public"), "isfriend": int("friends" in self.visibility),
                "isfamily": int("family" in self.visibility)}


@dataclass
class FakeFlickr:
    """State of the fake API; ``handle`` is the werkzeug handler."""

    api_key: str
    photos: dict[str, FakePhoto] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    latency_s: float = 0.0
    slow_s: float = 1.0
    retry_after: str = "1"
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (arrival, method, photo_id)
    seen_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server: HTTPServer | None = None

    # helpers -----------------------------------------------------------------------------------
    def add(self, *photos: FakePhoto) -> None:
        for photo in photos:
            self.photos[photo.photo_id] = photo

    def fail_next(self, method: str, photo_id: str, *faults: str) -> None:
        """The next len(faults) requests of ``method`` for ``photo_id`` get these faults, in order."""
        self.faults[(method, photo_id)].extend(faults)

    def calls(self, method: str | None = None) -> list[tuple[float, str, str]]:
        with self._lock:
            return [entry for entry in self.log if method is None or entry[1] == method]

    def url(self) -> str:
        return self.server.url_for(API_PATH)

    # serving -----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        arrival = time.time()
        args = request.args
        method, photo_id = args.get("method", ""), args.get("photo_id", "")
        if method == "flickr.photos.search":
            photo_id = f"page{args.get('page', '1')}"
        with self._lock:
            self.log.append((arrival, method, photo_id))
            self.seen_keys.append(args.get("api_key", ""))
            queue = self.faults.get((method, photo_id))
            fault = queue.pop(0) if queue else None
        if self.latency_s:
            time.sleep(self.latency_s)
        if fault == "429":
            return Response("slow down", status=429, headers={"Retry-After": self.retry_after})
        if fault == "500":
            return Response("oops", status=500)
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "malformed":
            return Response("<html>maintenance</html>", content_type="application/json")
        if fault == "drop":
            connection = request.environ.get("werkzeug.socket")
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()
            return Response("", status=200)
        if fault == "unavailable":
            return self._fail(201, "Sorry, the Flickr API service is not currently available.")
        if args.get("format") != "json" or args.get("nojsoncallback") != "1":
            return Response("jsonFlickrApi(...)", content_type="text/javascript")
        if args.get("api_key") != self.api_key:
            return self._fail(100, "Invalid API Key (Key has invalid format)")
        if method == "flickr.photos.getInfo":
            return self._get_info(photo_id)
        if method == "flickr.photos.getFavorites":
            return self._get_favorites(photo_id, int(args.get("page", 1)), int(args.get("per_page", 10)))
        if method == "flickr.photos.search":
            return self._search(args)
        return self._fail(112, f'Method "{method}" not found')

    @staticmethod
    def _ok(body: dict) -> Response:
        return Response(json.dumps({**body, "stat": "ok"}), content_type="application/json")

    @staticmethod
    def _fail(code: int, message: str) -> Response:
        return Response(json.dumps({"stat": "fail", "code": code, "message": message}),
                        content_type="application/json")

    def _lookup(self, photo_id: str) -> FakePhoto | Response:
        photo = self.photos.get(photo_id)
        if photo is None:
            return self._fail(1, "Photo not found")
        if photo.private:
            return self._fail(2, "Permission denied")
        return photo

    def _get_info(self, photo_id: str) -> Response:
        photo = self._lookup(photo_id)
        if isinstance(photo, Response):
            return photo
        return self._ok({"photo": {
            "id": photo.photo_id, "secret": "abc", "server": "1", "farm": 1, "dateuploaded": str(photo.posted),
            "license": str(photo.licence), "views": str(photo.views),
            "owner": {"nsid": photo.owner, "username": photo.owner_name, "path_alias": None},
            "title": {"_content": photo.title}, "visibility": photo.visibility_flags(),
            "dates": {"posted": str(photo.posted), "taken": "2017-07-14 10:00:00", "lastupdate": str(photo.posted)},
        }})

    def _get_favorites(self, photo_id: str, page: int, per_page: int) -> Response:
        photo = self._lookup(photo_id)
        if isinstance(photo, Response):
            return photo
        people = [{"nsid": f"{n}@N02", "username": f"fan{n}", "favedate": "1500000000"}
                  for n in range((page - 1) * per_page, min(photo.faves, page * per_page))]
        pages = max(1, -(-photo.faves // per_page))
        return self._ok({"photo": {"id": photo.photo_id, "page": page, "pages": pages, "perpage": per_page,
                                   "total": str(photo.faves), "person": people}})

    def _search(self, args) -> Response:
        page, per_page = int(args.get("page", 1)), int(args.get("per_page", 100))
        wanted = set(args.get("license", "").split(",")) - {""}
        text = args.get("text", "").lower()
        matches = [p for p in self.photos.values() if not p.private and (not text or text in p.title.lower())
                   and (not wanted or str(p.licence) in wanted)]
        chunk = matches[(page - 1) * per_page: page * per_page]
        base = self.server.url_for("/photos/")
        extras = set(args.get("extras", "").split(","))
        photos = []
        for p in chunk:
            item = {"id": p.photo_id, "owner": p.owner, "secret": "abc", "server": "1", "farm": 1, "title": p.title,
                    **p.visibility_flags(), "license": str(p.licence), "dateupload": str(p.posted),
                    "ownername": p.owner_name}
            if "views" in extras:
                item["views"] = str(p.views)
            if "count_faves" in extras:
                item["count_faves"] = str(p.faves)
            if "count_comments" in extras:
                item["count_comments"] = str(p.comments)
            if "url_l" in extras:
                item.update(url_l=f"{base}{p.photo_id}_b.jpg", height_l=768, width_l=1024)
            for name, value in p.search_fields.items():
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = value
            photos.append(item)
        pages = max(1, -(-len(matches) // per_page))
        return self._ok({"photos": {"page": page, "pages": pages, "perpage": per_page, "total": str(len(matches)),
                                    "photo": photos}})

    def serve_photo(self, request: Request) -> Response:
        photo_id = request.path.rsplit("/", 1)[-1].split("_", 1)[0]
        photo = self.photos.get(photo_id)
        if photo is None:
            return Response("not found", status=404)
        body = (b"\xff\xd8\xff\xe0" + photo_id.encode() * 1000)[: photo.size_bytes - 2] + b"\xff\xd9"
        return Response(body, content_type="image/jpeg")


def start_fake_flickr(api_key: str, *, threaded: bool = True, **kwargs) -> FakeFlickr:
    """Start a fake API on 127.0.0.1 (a free port); stop it with ``fake.server.stop()``."""
    import logging
    import re

    # werkzeug's access log prints every URL, key included: it is the fake server's log, not ours
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeFlickr(api_key, **kwargs)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=threaded)
    server.expect_request(API_PATH).respond_with_handler(fake.handle)
    server.expect_request(re.compile(r"^/photos/")).respond_with_handler(fake.serve_photo)
    server.start()
    fake.server = server
    return fake
