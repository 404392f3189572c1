"""The Label Studio side of the round trip: labelling config, tasks, export to a project, pulling annotations.

label-studio-sdk (extra ``annotate``) is imported inside the functions that talk to a server. Errors from the
server are turned into ``IcaaError`` carrying the status and the server's message only: ``str(ApiError)``
contains the response headers, among them a session cookie (``../shared/notes/ecosystem.md`` 1.3), and the token
is never put into a message.
"""

from __future__ import annotations

import html
import json
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator
from urllib.parse import quote

import pandas as pd

from icaa.annotation.anchors import COARSE_SOURCE
from icaa.common.errors import IcaaError

__all__ = ["label_config", "hotkey_help", "instructions_html", "anchor_caption", "build_tasks", "image_url",
           "connect", "export_to_project", "fetch_tasks", "LOCAL_FILES_HELP", "server_error", "COLOUR_HOTKEYS",
           "OVERALL_HOTKEYS", "CONFIDENCE_CHOICES", "CONFIDENCE_HOTKEYS", "IMAGE_MAX_HEIGHT"]

#: What a server needs for ``--local-files`` (printed by the command, repeated in the README).
LOCAL_FILES_HELP = (
    "Local-files storage needs the server started with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<a directory strictly above the image root> (the storage path must be "
    "a strict subdirectory of the document root and exist on the server's machine); images are then served, to "
    "logged-in users only, as /data/local-files/?d=<path relative to the document root>.")


#: Keys for the colour rating 1..10 (the digit row; 0 is 10), the overall rating 1..10 (the row below) and the
#: confidence choices. Label Studio binds them to the choices; the instructions list them.
COLOUR_HOTKEYS = "1234567890"
OVERALL_HOTKEYS = "qwertyuiop"
CONFIDENCE_CHOICES = ("0", "0.25", "0.5", "0.75", "1")
CONFIDENCE_HOTKEYS = "asdfg"
#: Default anchor levels on the 1..10 scale and the largest distance, in score points, from a level to the
#: score of the photo shown for it (a level with no photo that close gets no anchor).
ANCHOR_LEVELS = (2.0, 4.0, 6.0, 8.0)
ANCHOR_MAX_DISTANCE = 0.25
#: Tallest the photo is drawn: the window less Label Studio's top and bottom bars, so that the photo, every
#: control and Submit are on one screen at 1366x768 (checked in tests/test_annotation_browser.py).
IMAGE_MAX_HEIGHT = "calc(100vh - 140px)"

#: CSS for Label Studio 1.23's labelling page (its class names): hide the region/relation side panels and the
#: image tools, which rating does not use, and mark the chosen value of each row. No child combinator: Label
#: Studio escapes ">".
LAYOUT_CSS = """
    .lsf-sidepanels__wrapper { display: none !important; }
    .lsf-toolbar { display: none !important; }
    .ant-radio-wrapper-checked { background: #ffd666; font-weight: 700; border-radius: 4px; }
"""


def _choices(name: str, values, hotkeys: str) -> str:
    items = "\n".join(f'        <Choice value="{v}" hotkey="{k}"/>' for v, k in zip(values, hotkeys))
    return (f'      <Choices name="{name}" toName="image" choice="single-radio" showInline="true" '
            f'required="true">\n{items}\n      </Choices>')


def label_config() -> str:
    """The labelling config: the photo beside three rows of choices (colour 1-10, overall 1-10, confidence).

    Choices rather than stars or a slider: the chosen number is shown highlighted, an unset row looks unset, a
    second click does not clear it, and every value has a key (``COLOUR_HOTKEYS``, ``OVERALL_HOTKEYS``,
    ``CONFIDENCE_HOTKEYS``). The photo is shrunk to fit the panel and ``IMAGE_MAX_HEIGHT`` but never enlarged
    (``defaultZoom="original"``: Label Studio's default, "fit", stretches a small photo to the panel's width).
    """
    scale = [str(v) for v in range(1, 11)]
    return f"""<View>
  <Style>{LAYOUT_CSS}  </Style>
  <View style="display: flex; gap: 24px; align-items: flex-start">
    <View style="flex: 1 1 0; min-width: 0">
      <Image name="image" value="$image" maxHeight="{IMAGE_MAX_HEIGHT}" defaultZoom="original" zoom="false"/>
    </View>
    <View style="flex: 0 0 420px">
      <Header value="Colour aesthetics: how pleasing are the colours? (1 = very poor, 10 = excellent; keys 1-9, 0 = 10)" size="5"/>
{_choices("color", scale, COLOUR_HOTKEYS)}
      <Header value="Overall aesthetics (1 = very poor, 10 = excellent; keys Q W E R T Y U I O P)" size="5"/>
{_choices("overall", scale, OVERALL_HOTKEYS)}
      <Header value="Confidence in your colour rating (0 = a guess, 1 = sure; keys A S D F G)" size="5"/>
{_choices("confidence", CONFIDENCE_CHOICES, CONFIDENCE_HOTKEYS)}
    </View>
  </View>
</View>
"""


def hotkey_help() -> str:
    """The keys, as the instructions list them."""
    return ("Keys: colour 1-9 and 0 (= 10); overall Q W E R T Y U I O P (= 1 ... 10); confidence A S D F G "
            "(= 0, 0.25, 0.5, 0.75, 1); the key of the chosen value clears it; Ctrl+Enter submits.")


#: Width of an anchor thumbnail in the instructions, px (an ``<img width>`` attribute: Label Studio strips
#: ``style`` attributes from the instructions but keeps this one).
ANCHOR_THUMBNAIL_PX = 160


def anchor_caption(row) -> str:
    """The caption under an anchor: the level and where the number comes from."""
    if row["source"] == COARSE_SOURCE:
        return f"{row['level']:g} (coarse score {row['score']:.2f})"
    return f"{row['score']:g} ({row['source']})"


def instructions_html(anchors: pd.DataFrame, url_for: Callable[[str], str]) -> str:
    """Guidelines (ICAA17K 4.2: photography-based guidelines, anchor photos) with the keys and the anchors.

    ``anchors`` has ``ANCHOR_COLUMNS`` (``icaa.annotation.anchors``). Thumbnails sit in a table with a ``width``
    attribute, which Label Studio's sanitiser keeps (it removes ``style``).
    """
    parts = [
        "<h3>Rating colour aesthetics</h3>",
        "<p>Rate how pleasing the <b>colours</b> of the photo are, from 1 (very poor) to 10 (excellent), "
        "independently of its subject and of its technical quality. Consider colour harmony (do the hues go "
        "together?), saturation and contrast that suit the scene, and colour casts. Then rate the photo's overall "
        "aesthetics, and say how confident you are in your colour rating (0 = a guess, 1 = sure).</p>",
        "<p>Use the whole scale. Do not fall back on the middle score when tired: take a break instead.</p>",
        f"<p><b>{html.escape(hotkey_help())}</b></p>",
    ]
    if not anchors.empty:
        coarse = bool((anchors["source"] == COARSE_SOURCE).any())
        parts.append("<h4>Reference photos (anchors)</h4>")
        parts.append("<p>None of these photos is among those you rate. The number under each is "
                     + ("its <b>coarse score</b>: an automatic pre-score from colour harmony and popularity, not a "
                        "person's rating, so take it as a rough guide." if coarse else
                        "the score given with it (" + html.escape(", ".join(sorted(set(anchors["source"])))) + ").")
                     + "</p>")
        ordered = anchors.sort_values(["level", "image_id"])
        images = "".join(f'<td><img src="{html.escape(url_for(row["image_id"]))}" width="{ANCHOR_THUMBNAIL_PX}" '
                         f'alt="anchor {html.escape(anchor_caption(row))}"/></td>'
                         for _, row in ordered.iterrows())
        captions = "".join(f"<td><b>{html.escape(anchor_caption(row))}</b></td>" for _, row in ordered.iterrows())
        parts.append(f"<table><tr>{images}</tr><tr>{captions}</tr></table>")
    return "\n".join(parts)


def image_url(image_id: str, *, url_prefix: str | None = None, local_files_prefix: str | None = None) -> str:
    """URL of an image for the annotators: ``url_prefix + image_id`` or ``/data/local-files/?d=<prefix/id>``."""
    if url_prefix is not None:
        return url_prefix.rstrip("/") + "/" + quote(image_id)
    if local_files_prefix is not None:
        return "/data/local-files/?d=" + quote(str(PurePosixPath(local_files_prefix) / image_id))
    raise IcaaError("give --url-prefix URL (images served by any web server) or --local-files "
                    "(Label Studio's local-files storage)")


def build_tasks(selection: pd.DataFrame, url_for: Callable[[str], str]) -> list[dict]:
    """One task per photo, keyed by ``data.image_id`` (idempotent export)."""
    tasks = []
    for row in selection.itertuples(index=False):
        meta = {"category": getattr(row, "category", None), "score_bin": getattr(row, "score_bin", None)}
        coarse = getattr(row, "coarse_score", None)
        if coarse is not None and pd.notna(coarse):
            meta["coarse_score"] = float(coarse)
        tasks.append({"data": {"image": url_for(row.image_id), "image_id": row.image_id},
                      "meta": {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items()
                               if v is not None and not (isinstance(v, float) and pd.isna(v))}})
    return tasks


def server_error(error: BaseException, url: str, action: str) -> IcaaError:
    """An IcaaError naming the status and the server's message only (no headers, cookies or token)."""
    try:
        from label_studio_sdk.core.api_error import ApiError
    except ImportError:  # pragma: no cover
        ApiError = ()  # type: ignore[assignment]
    if ApiError and isinstance(error, ApiError):
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("detail") or body.get("validation_errors") or ""
        hint = " (check LABEL_STUDIO_API_KEY; legacy tokens need --enable-legacy-api-token)" \
            if error.status_code == 401 else ""
        return IcaaError(f"Label Studio at {url} refused to {action}: HTTP {error.status_code} {detail}{hint}")
    return IcaaError(f"cannot reach Label Studio at {url} to {action} ({type(error).__name__}); is the server "
                     f"running? Set LABEL_STUDIO_URL / --url. Nothing was written.")


def connect(url: str, api_key: str | None, *, timeout_s: float = 30.0):
    """A ``label_studio_sdk.LabelStudio`` client, checked by one request."""
    if not api_key:
        raise IcaaError("no Label Studio API key: set LABEL_STUDIO_API_KEY (or --api-key)")
    try:
        from label_studio_sdk import LabelStudio
    except ImportError as error:
        raise IcaaError("annotate needs label-studio-sdk: pip install 'icaa[annotate]'") from error
    client = LabelStudio(base_url=url, api_key=api_key, timeout=timeout_s)
    _call(lambda: client.projects.list(page_size=1).items, url, "list projects")
    return client


def _call(function: Callable[[], Any], url: str, action: str) -> Any:
    import httpx
    from label_studio_sdk.core.api_error import ApiError
    try:
        return function()
    except (ApiError, httpx.HTTPError, OSError) as error:
        raise server_error(error, url, action) from None


def _pages(list_page: Callable[..., Any], total_of: Callable[[Any], int | None], *, page_size: int,
           on_page: Callable[[int], None] | None = None) -> list:
    """Every item of a paginated list, asking for no page past the last one.

    The SDK's pager asks for one more page after the last, which Label Studio answers with a 404 "Invalid page" and
    a traceback in its log; here the count the server reports (``total_of(response)``) ends the loop instead.
    """
    items: list = []
    page_number = 0
    while True:
        page_number += 1
        pager = list_page(page=page_number, page_size=page_size)
        batch = list(pager.items or [])
        items.extend(batch)
        if on_page is not None:
            on_page(page_number)
        total = total_of(pager.response)
        if not batch or len(batch) < page_size or (total is not None and len(items) >= total):
            return items


def _find_project(client, title: str, url: str):
    projects = _call(lambda: _pages(lambda **page: client.projects.list(title=title, **page),
                                    lambda response: getattr(response, "count", None), page_size=100),
                     url, "list projects")
    matching = [p for p in projects if p.title == title]
    if len(matching) > 1:
        raise IcaaError(f"{len(matching)} Label Studio projects are titled {title!r} (ids "
                        f"{[p.id for p in matching]}); rename all but one or pass another --project-title")
    return matching[0] if matching else None


def _list_tasks(client, project_id: int, *, page_size: int, on_page: Callable[[int], None] | None = None) -> list:
    return _pages(lambda **page: client.tasks.list(project=project_id, fields="all", **page),
                  lambda response: getattr(response, "total", None), page_size=page_size, on_page=on_page)


def _existing_image_ids(client, project_id: int, url: str) -> set[str]:
    return _call(lambda: {t.data.get("image_id") for t in _list_tasks(client, project_id, page_size=500) if t.data},
                 url, "list the project's tasks")


def export_to_project(client, url: str, selection: pd.DataFrame, *, title: str, overlap: int,
                      url_for: Callable[[str], str], anchors: pd.DataFrame,
                      local_files_path: str | None = None) -> dict[str, Any]:
    """Create or update the project and add the photos it does not have yet. Never deletes anything.

    Returns ``project_id, created, tasks_added, tasks_present, storage``.
    """
    config = label_config()
    instructions = instructions_html(anchors, url_for)
    project = _find_project(client, title, url)
    created = project is None
    if not created:
        present = _existing_image_ids(client, project.id, url)
        rated = sorted(present & set(anchors["image_id"]))
        if rated:
            raise IcaaError(f"{len(rated)} anchor photo(s) are already tasks of project {title!r}, e.g. {rated[0]}; "
                            f"raters would be shown the answer: give other anchors (--anchors or --anchor-pool)")
    if created:
        project = _call(lambda: client.projects.create(
            title=title, label_config=config, maximum_annotations=overlap, expert_instruction=instructions,
            show_instruction=True, show_skip_button=True), url, "create the project")
    else:
        # the labelling config stays as created: the server refuses a new one that existing annotations break
        _call(lambda: client.projects.update(id=project.id, maximum_annotations=overlap,
                                             expert_instruction=instructions, show_instruction=True),
              url, "update the project")
    storage = None
    if local_files_path is not None:
        storages = _call(lambda: list(client.import_storage.local.list(project=project.id)), url,
                         "list local-files storages")
        if not any(getattr(s, "path", None) == local_files_path for s in storages):
            _call(lambda: client.import_storage.local.create(project=project.id, path=local_files_path,
                                                             title="icaa images", use_blob_urls=True),
                  url, f"create local-files storage at {local_files_path}. {LOCAL_FILES_HELP}")
        storage = local_files_path
    present = set() if created else present
    new = selection[~selection["image_id"].isin(present)]
    tasks = build_tasks(new, url_for)
    for start in range(0, len(tasks), 500):
        batch = tasks[start:start + 500]
        _call(lambda: client.projects.import_tasks(id=project.id, request=batch, return_task_ids=True), url,
              "import tasks")
    return {"project_id": int(project.id), "created": created, "tasks_added": len(tasks),
            "tasks_present": len(present), "storage": storage}


def fetch_tasks(client, url: str, *, title: str | None = None, project_id: int | None = None,
                page_size: int = 100, on_page: Callable[[int], None] | None = None) -> tuple[list[dict], dict]:
    """Every task of the project with its annotations, page by page (``tasks.list(fields="all")``).

    Returns (tasks as export-JSON dicts, ``{user id: e-mail}``). ``on_page(page_number)`` is called after each
    page (progress; the tests use it to stop the server mid-import).
    """
    if project_id is None:
        project = _find_project(client, title, url)
        if project is None:
            raise IcaaError(f"no Label Studio project titled {title!r} at {url}; run `icaa-data annotate export` "
                            f"first or pass --project-title")
        project_id = project.id

    def collect() -> list[dict]:
        return [json.loads(json.dumps(task.dict() if hasattr(task, "dict") else dict(task), default=str))
                for task in _list_tasks(client, project_id, page_size=page_size, on_page=on_page)]

    tasks = _call(collect, url, "list tasks with annotations")
    users = _call(lambda: {u.id: u.email for u in client.users.list()}, url, "list users")
    return tasks, users


def iter_export_file(path: Path) -> Iterator[dict]:
    """Tasks of a Label Studio JSON export file (a list of tasks)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IcaaError(f"{path}: not a readable Label Studio JSON export ({error})") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise IcaaError(f"{path}: expected a JSON list of tasks (Label Studio 'JSON' export), got "
                        f"{type(data).__name__}")
    yield from data
