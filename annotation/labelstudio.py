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

from icaa.pipeline.errors import IcaaError

__all__ = ["label_config", "instructions_html", "choose_anchors", "build_tasks", "image_url", "connect",
           "export_to_project", "fetch_tasks", "LOCAL_FILES_HELP", "server_error"]

#: What a server needs for ``--local-files`` (printed by the command, repeated in the README).
LOCAL_FILES_HELP = (
    "Local-files storage needs the server started with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<a directory strictly above the image root> (the storage path must be "
    "a strict subdirectory of the document root and exist on the server's machine); images are then served, to "
    "logged-in users only, as /data/local-files/?d=<path relative to the document root>.")


def label_config() -> str:
    """The labelling config: the image, colour aesthetics 1-10, overall aesthetics 1-10, confidence 0-1."""
    return """<View>
  <Image name="image" value="$image" zoom="true"/>
  <Header value="Colour aesthetics: how pleasing are the colours? (1 = very poor ... 10 = excellent)"/>
  <Rating name="color" toName="image" maxRating="10" icon="star" size="medium" required="true"/>
  <Header value="Overall aesthetics (1 = very poor ... 10 = excellent)"/>
  <Rating name="overall" toName="image" maxRating="10" icon="star" size="medium" required="true"/>
  <Header value="Confidence in your colour rating (0 = guess ... 1 = sure)"/>
  <Number name="confidence" toName="image" min="0" max="1" step="0.1" slider="true" required="true"/>
</View>
"""


def instructions_html(anchors: pd.DataFrame, url_for: Callable[[str], str]) -> str:
    """Guidelines (ICAA17K 4.2: photography-based guidelines, expert-rated anchors) with the anchor images."""
    parts = [
        "<h3>Rating colour aesthetics</h3>",
        "<p>Rate how pleasing the <b>colours</b> of the photo are, from 1 (very poor) to 10 (excellent), "
        "independently of its subject and of its technical quality. Consider colour harmony (do the hues go "
        "together?), saturation and contrast that suit the scene, and colour casts. Then rate the photo's overall "
        "aesthetics, and say how confident you are in your colour rating (0 = a guess, 1 = sure).</p>",
        "<p>Use the whole scale. Do not fall back on the middle score when tired: take a break instead.</p>",
    ]
    if not anchors.empty:
        parts.append("<h4>Reference photos (anchors) and their expert colour scores</h4><div>")
        for _, row in anchors.sort_values("score").iterrows():
            parts.append(f'<figure style="display:inline-block;margin:4px"><img src="{html.escape(url_for(row["image_id"]))}" '
                         f'style="max-height:120px"/><figcaption>{row["score"]:g}</figcaption></figure>')
        parts.append("</div>")
    return "\n".join(parts)


def choose_anchors(selection: pd.DataFrame, *, anchors_per_level: int = 1,
                   anchor_levels: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0)) -> pd.DataFrame:
    """Anchors by coarse score: for each level, the ``anchors_per_level`` photos whose coarse score is nearest.

    Returns ``image_id, score`` (score = the level). Users give expert-rated anchors with ``--anchors`` instead.
    """
    chosen, used = [], set()
    for level in anchor_levels:
        distance = (selection["coarse_score"] - level).abs()
        for image_id in selection.loc[distance.sort_values(kind="stable").index, "image_id"]:
            if image_id in used:
                continue
            chosen.append({"image_id": image_id, "score": level})
            used.add(image_id)
            if sum(1 for c in chosen if c["score"] == level) >= anchors_per_level:
                break
    return pd.DataFrame(chosen, columns=["image_id", "score"])


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
        meta = {"category": getattr(row, "category", None), "bin": getattr(row, "bin", None)}
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


def _find_project(client, title: str, url: str):
    projects = _call(lambda: list(client.projects.list(title=title)), url, "list projects")
    matching = [p for p in projects if p.title == title]
    if len(matching) > 1:
        raise IcaaError(f"{len(matching)} Label Studio projects are titled {title!r} (ids "
                        f"{[p.id for p in matching]}); rename all but one or pass another --project-title")
    return matching[0] if matching else None


def _existing_image_ids(client, project_id: int, url: str) -> set[str]:
    def collect() -> set[str]:
        return {t.data.get("image_id") for t in client.tasks.list(project=project_id, fields="all", page_size=500)
                if t.data}
    return _call(collect, url, "list the project's tasks")


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
    if created:
        project = _call(lambda: client.projects.create(
            title=title, label_config=config, maximum_annotations=overlap, expert_instruction=instructions,
            show_instruction=True, show_skip_button=True), url, "create the project")
    else:
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
    present = _existing_image_ids(client, project.id, url)
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
        from label_studio_sdk.core.api_error import ApiError
        tasks: list[dict] = []
        total = client.projects.get(id=project_id).task_number
        page_number = 0
        while total is None or len(tasks) < total:
            page_number += 1
            try:
                items = client.tasks.list(project=project_id, fields="all", page=page_number,
                                          page_size=page_size).items or []
            except ApiError as error:
                if error.status_code == 404 and page_number > 1:  # "Invalid page": past the last one
                    break
                raise
            for task in items:
                record = task.dict() if hasattr(task, "dict") else dict(task)
                tasks.append(json.loads(json.dumps(record, default=str)))
            if on_page is not None:
                on_page(page_number)
            if len(items) < page_size:
                break
        return tasks

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
