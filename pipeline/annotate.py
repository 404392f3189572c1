"""The ``annotate`` stage: the Label Studio round trip (label-studio-sdk: extra ``annotate``).

``run_export`` sends the selection (and anchor photos for the instructions, never rated) to a Label Studio
project, or writes the tasks, labelling config and instructions to a folder; ``run_import`` pulls every
annotation back, validates it and upserts ``ratings.parquet``. The cores are :mod:`icaa.annotation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from icaa.common.errors import IcaaError
from icaa.common.files import atomic_write_json, atomic_write_text
from icaa.pipeline.io import read_table, require_columns, write_tables
from icaa.pipeline.schemas import ANNOTATION_REJECTS, RATINGS
from icaa.pipeline.summary import StageSummary, Stopwatch

__all__ = ["DEFAULT_TITLE", "run_export", "run_import"]

#: The Label Studio project both directions use unless told otherwise.
DEFAULT_TITLE = "icaa colour aesthetics"


def _anchors(selection: pd.DataFrame, *, anchors_file: Path | None, anchor_pool: Path | None,
             anchors_per_level: int, anchor_max_distance: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(anchors, the selection left to rate, where the anchors came from); anchors are never rated photos."""
    from icaa.annotation.anchors import anchors_from_table, choose_anchors, excluded_ids
    if anchors_file is not None:
        anchors = anchors_from_table(read_table(anchors_file), str(anchors_file))
        rated = anchors[anchors["image_id"].isin(excluded_ids(selection))]
        if len(rated):
            raise IcaaError(f"{anchors_file}: {len(rated)} anchor photo(s) are also in the selection, e.g. "
                            f"{rated.iloc[0]['image_id']}; raters would be shown the answer: take them out of "
                            f"the anchors table or of the selection")
        return anchors, selection, f"table {anchors_file}"
    if anchor_pool is not None:
        pool = read_table(anchor_pool)
        require_columns(pool, ["image_id", "coarse_score"], str(anchor_pool))
        anchors = choose_anchors(pool, exclude=excluded_ids(selection), max_distance=anchor_max_distance,
                                 per_level=anchors_per_level)
        return anchors, selection, f"pool {anchor_pool} (photos not in the selection)"
    if "coarse_score" not in selection.columns:
        return pd.DataFrame(columns=["image_id", "score", "level", "source"]), selection, "none"
    anchors = choose_anchors(selection, max_distance=anchor_max_distance, per_level=anchors_per_level)
    rest = selection[~selection["image_id"].isin(anchors["image_id"])]
    return anchors, rest, "set aside from the selection (not sent as tasks)"


def run_export(selection_parquet: Path | str, *, images_root: Path | str, url_prefix: str | None = None,
               local_files: bool = False, document_root: Path | str | None = None, anchors: Path | str | None = None,
               anchor_pool: Path | str | None = None, anchors_per_level: int = 1,
               anchor_max_distance: float = 0.25, overlap: int = 3, project_title: str = DEFAULT_TITLE,
               offline: Path | str | None = None, url: str | None = None, api_key: str | None = None,
               log: Callable[[str], None] = lambda _: None) -> StageSummary:
    """Export the selection to a Label Studio project (or, with ``offline``, to tasks.json + label_config.xml).

    Anchors (``icaa.annotation.anchors``) come from the ``anchors`` table, else from ``anchor_pool`` (photos not in
    the selection), else are set aside from the selection and not sent as tasks.
    """
    from icaa.annotation.labelstudio import (LOCAL_FILES_HELP, build_tasks, image_url, instructions_html,
                                             label_config)
    clock = Stopwatch()
    if overlap < 1:
        raise IcaaError(f"overlap must be at least 1 rating per task, got {overlap}")
    if (url_prefix is None) == (not local_files):
        raise IcaaError("give exactly one of --url-prefix URL or --local-files")
    selection = read_table(selection_parquet)
    require_columns(selection, ["image_id"], str(selection_parquet))
    duplicated = selection["image_id"][selection["image_id"].duplicated()]
    if len(duplicated):
        raise IcaaError(f"{selection_parquet}: {len(duplicated)} duplicated image_id(s), e.g. {duplicated.iloc[0]}")
    images_root = Path(images_root).resolve()
    missing = [i for i in selection["image_id"] if not (images_root / i).is_file()]
    if missing:
        raise IcaaError(f"{len(missing)} image(s) of the selection are not under {images_root}, e.g. {missing[0]}; "
                        f"pass the directory the image_ids are relative to as --images-root")
    anchor_table, selection, anchor_origin = _anchors(
        selection, anchors_file=Path(anchors) if anchors else None,
        anchor_pool=Path(anchor_pool) if anchor_pool else None, anchors_per_level=anchors_per_level,
        anchor_max_distance=anchor_max_distance)
    missing = [i for i in anchor_table["image_id"] if not (images_root / i).is_file()]
    if missing:
        raise IcaaError(f"{len(missing)} anchor image(s) are not under {images_root}, e.g. {missing[0]}; anchors "
                        f"are served from --images-root like the photos")
    local_prefix = None
    if local_files:
        root = Path(document_root).resolve() if document_root else images_root.parent
        if root == images_root or root not in images_root.parents:
            raise IcaaError(f"--document-root {root} must be a strict parent of the image root {images_root}. "
                            f"{LOCAL_FILES_HELP}")
        local_prefix = images_root.relative_to(root).as_posix()
        log(f"local files: start the server with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
            f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}")

    def url_for(image_id: str) -> str:
        return image_url(image_id, url_prefix=url_prefix, local_files_prefix=local_prefix)

    counts: dict[str, Any] = {"photos": len(selection), "anchors": len(anchor_table)}
    figures: dict[str, Any] = {
        "anchors_from": anchor_origin,
        "anchor_ids": [f"{row.level:g}: {row.image_id}" for row in anchor_table.itertuples(index=False)],
        "overlap": overlap}
    if offline is not None:
        out = Path(offline)
        tasks = build_tasks(selection, url_for)
        atomic_write_json(out / "tasks.json", tasks)
        atomic_write_text(out / "label_config.xml", label_config())
        atomic_write_text(out / "instructions.html", instructions_html(anchor_table, url_for))
        counts["tasks_written"] = len(tasks)
        figures["mode"] = "offline"
        outputs = {"outputs": [str(out / n) for n in ("tasks.json", "label_config.xml", "instructions.html")]}
    else:
        from icaa.annotation.labelstudio import connect, export_to_project
        if not url:
            raise IcaaError("no Label Studio URL: set LABEL_STUDIO_URL or --url (or use --offline DIR)")
        client = connect(url, api_key)
        result = export_to_project(client, url, selection, title=project_title, overlap=overlap, url_for=url_for,
                                   anchors=anchor_table,
                                   local_files_path=str(images_root) if local_files else None)
        counts.update(tasks_added=result.pop("tasks_added"), tasks_present=result.pop("tasks_present"))
        figures.update(mode="server", url=url, **result)
        outputs = {}
    return StageSummary("annotate export", counts=counts, figures=figures, outputs=outputs, seconds=clock.seconds())


def run_import(output: Path | str, *, from_export: Path | str | None = None, rejects: Path | str | None = None,
               project_title: str = DEFAULT_TITLE, url: str | None = None, api_key: str | None = None,
               page_size: int = 100, on_page: Callable[[int], None] | None = None,
               pseudonym_key: str | None = None) -> StageSummary:
    """Pull every annotation (server or export file), validate, and upsert into ``output`` (incremental).

    ``rater`` is the annotator's e-mail (from the server's user list), ``user<id>`` where an export file gives only
    the id, or, with ``pseudonym_key``, a stable pseudonym of either (``icaa.annotation.ratings.pseudonym``).
    """
    from icaa.annotation.ratings import merge_ratings, parse_tasks, pseudonym
    clock = Stopwatch()
    output = Path(output)
    rejects_path = Path(rejects) if rejects else output.with_name("annotation_rejects.parquet")
    if rejects_path.resolve() == output.resolve():
        raise IcaaError(f"--rejects must differ from the output {output}")
    if pseudonym_key is not None and len(pseudonym_key) < 16:
        raise IcaaError("the rater pseudonym key (ICAA_RATER_PSEUDONYM_KEY) must be at least 16 characters")
    existing = read_table(output) if output.exists() else None
    users: dict[int, str] = {}
    if from_export is not None:
        from icaa.annotation.labelstudio import iter_export_file
        tasks = list(iter_export_file(Path(from_export)))
        source = str(from_export)
    else:
        from icaa.annotation.labelstudio import connect, fetch_tasks
        if not url:
            raise IcaaError("no Label Studio URL: set LABEL_STUDIO_URL or --url (or use --from-export FILE)")
        client = connect(url, api_key)
        tasks, users = fetch_tasks(client, url, title=project_title, page_size=page_size, on_page=on_page)
        source = url
    fetched, rejected = parse_tasks(tasks, users)
    if pseudonym_key is not None:
        for table in (fetched, rejected):
            table["rater"] = table["rater"].map(lambda r: pseudonym(r, pseudonym_key) if isinstance(r, str) else r)
    merged, counts = merge_ratings(existing, fetched, rejected["annotation_id"].dropna().astype(int))
    # Both checked before either is written; rejects first: a crash between the writes leaves the old ratings,
    # and a re-run rewrites both.
    write_tables((rejected, rejects_path, ANNOTATION_REJECTS), (merged, output, RATINGS))
    return StageSummary(
        "annotate import",
        counts={"tasks": len(tasks), "annotations_valid": len(fetched), "annotations_rejected": len(rejected),
                "rejects_by_reason": {k: int(v) for k, v in rejected["reason"].value_counts().items()},
                **counts, "ratings_total": len(merged), "images": int(merged["image_id"].nunique()),
                "raters": int(merged["rater"].nunique())},
        figures={"source": source, "rater_ids": "pseudonyms" if pseudonym_key else
                 ("e-mails" if users else "user<id> (the export file gives ids only)")},
        outputs={"output": str(output), "rejects_table": str(rejects_path)}, seconds=clock.seconds())
