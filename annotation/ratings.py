"""Label Studio tasks/annotations -> one validated row per rating, and the incremental merge (pure functions).

Label Studio validates almost nothing in an annotation's ``result`` (it accepted a rating of 11 on a 10-star scale,
unknown ``from_name``s and more annotations than the overlap; ``../shared/notes/ecosystem.md`` 1.6, 1.8), so every
value is checked here and every annotation not used lands in the rejects with a code from ``REJECT_REASONS``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any, Iterable, Mapping

import pandas as pd

from icaa.pipeline.rejects import reasons_of
from icaa.pipeline.schemas import ANNOTATION_REJECTS, RATINGS, bounds

__all__ = ["REJECT_REASONS", "RATING_COLUMNS", "parse_tasks", "merge_ratings", "rater_name", "pseudonym",
           "COLOR_RANGE", "OVERALL_RANGE", "CONFIDENCE_RANGE"]

#: The rating controls of the labelling config, as ratings.parquet names its columns.
KNOWN_FIELDS = {"color", "overall", "confidence"}
#: Accepted (low, high) of each rating, from the declaration of ratings.parquet (``schemas.RATINGS``).
COLOR_RANGE, OVERALL_RANGE, CONFIDENCE_RANGE = (bounds(RATINGS.field(name)) for name in ("color", "overall",
                                                                                           "confidence"))

#: Closed set of reasons an annotation is not used (rejects table, ``reason`` column), from the registry.
REJECT_REASONS: dict[str, str] = reasons_of("annotate")

RATING_COLUMNS: list[str] = RATINGS.names
_REJECT_COLUMNS: list[str] = ANNOTATION_REJECTS.names


def rater_name(completed_by: Any, users: Mapping[int, str] | None = None) -> str | None:
    """Who rated: the e-mail of Label Studio's ``completed_by`` (from ``users``, id -> e-mail, or an expanded
    user object), else ``user<id>`` (a JSON export file carries the id only)."""
    if completed_by is None:
        return None
    if isinstance(completed_by, dict):
        if completed_by.get("email"):
            return completed_by["email"]
        completed_by = completed_by.get("id")
        if completed_by is None:
            return None
    user_id = int(completed_by)
    if users and users.get(user_id):
        return str(users[user_id])
    return f"user{user_id}"


def pseudonym(rater: str, key: str) -> str:
    """A stable pseudonym for a rater: ``r-`` and the first 16 hex digits of HMAC-SHA256(key, rater).

    The same key gives the same pseudonym in every import; without the key the e-mail cannot be recovered by
    hashing guessed addresses. The key is a secret (``ICAA_RATER_PSEUDONYM_KEY``).
    """
    return "r-" + hmac.new(key.encode("utf-8"), rater.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _value(item: dict) -> Any:
    value = item.get("value") or {}
    for key in ("rating", "number"):
        if key in value:
            return value[key]
    if "choices" in value and value["choices"]:
        return value["choices"][0]
    return None


def _number(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_tasks(tasks: Iterable[dict], users: Mapping[int, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label Studio tasks (export JSON or API, each with ``annotations``) -> (ratings, rejects).

    ``users`` maps Label Studio user ids to e-mails (``rater_name``).

    ratings: ``RATING_COLUMNS``, one row per valid annotation (the latest per rater and task).
    rejects: ``image_id, task_id, annotation_id, rater, reason, detail``, one row per annotation not used.
    """
    rows, rejects = [], []
    for task in tasks:
        data = task.get("data") or {}
        image_id = data.get("image_id")
        task_id = task.get("id")
        for annotation in task.get("annotations") or []:
            rater = rater_name(annotation.get("completed_by"), users)
            base = {"image_id": image_id, "task_id": task_id, "annotation_id": annotation.get("id"),
                    "rater": rater}
            problems: list[tuple[str, str]] = []
            if annotation.get("was_cancelled"):
                problems.append(("cancelled", "skipped by the rater"))
            if not image_id:
                problems.append(("no_image_id", f"task {task_id} has no data.image_id"))
            if rater is None:
                problems.append(("no_rater", "completed_by is empty"))
            values: dict[str, Any] = {}
            for item in annotation.get("result") or []:
                name = item.get("from_name")
                if name not in KNOWN_FIELDS:
                    problems.append(("unknown_field", f"from_name={name!r}"))
                    continue
                values[name] = _value(item)
            checks = (("color", COLOR_RANGE, True), ("overall", OVERALL_RANGE, True),
                      ("confidence", CONFIDENCE_RANGE, False))
            parsed = {}
            for name, (low, high), integer in checks:
                if values.get(name) is None:
                    problems.append((f"missing_{name}", f"no {name} in the result"))
                    continue
                number = _number(values[name])
                if number is None or not low <= number <= high or (integer and number != int(number)):
                    problems.append((f"{name}_out_of_range", f"{name}={values[name]} outside {low}..{high}"))
                    continue
                parsed[name] = number
            if problems:
                reason, _ = problems[0]
                detail = "; ".join(d for _, d in problems)
                rejects.append({**base, "reason": reason, "detail": f"annotation {base['annotation_id']}: {detail}"})
                continue
            rows.append({**base, "color": int(parsed["color"]), "overall": int(parsed["overall"]),
                         "confidence": float(parsed["confidence"]), "lead_time": _number(annotation.get("lead_time")),
                         "created_at": annotation.get("created_at"),
                         "updated_at": annotation.get("updated_at") or annotation.get("created_at")})
    ratings = _frame(rows)
    if not ratings.empty:
        ratings = ratings.sort_values(["image_id", "rater", "updated_at", "annotation_id"])
        latest = ~ratings.duplicated(["task_id", "rater"], keep="last")
        for _, row in ratings[~latest].iterrows():
            rejects.append({"image_id": row["image_id"], "task_id": row["task_id"],
                            "annotation_id": row["annotation_id"], "rater": row["rater"], "reason": "superseded",
                            "detail": f"annotation {row['annotation_id']}: a later annotation by {row['rater']} "
                                      f"on task {row['task_id']} is used"})
        ratings = ratings[latest].reset_index(drop=True)
    rejected = pd.DataFrame(rejects, columns=_REJECT_COLUMNS)
    return ratings, rejected


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RATING_COLUMNS)
    for name in ("created_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame.astype({"task_id": "int64", "annotation_id": "int64", "color": "int64", "overall": "int64",
                         "confidence": "float64", "lead_time": "float64"})


def merge_ratings(existing: pd.DataFrame | None, fetched: pd.DataFrame,
                  invalid_annotation_ids: Iterable[int] = ()) -> tuple[pd.DataFrame, dict[str, int]]:
    """Incremental import: upsert ``fetched`` into ``existing`` by ``annotation_id``.

    New annotations are added, those with a newer ``updated_at`` replace the old row, unchanged ones are kept as
    they were; annotations no longer on the server are kept (an import never deletes ratings); an annotation whose
    edit made it invalid (``invalid_annotation_ids``) leaves the table (it is in the rejects). Returns the table
    sorted by ``annotation_id`` and counts ``added, updated, unchanged, kept_not_fetched, removed_invalid``.
    """
    if existing is None or existing.empty:
        merged = fetched.sort_values("annotation_id").reset_index(drop=True)
        return merged, {"added": len(fetched), "updated": 0, "unchanged": 0, "kept_not_fetched": 0,
                        "removed_invalid": 0}
    existing = existing[RATING_COLUMNS]
    old = existing.set_index("annotation_id")
    new = fetched.set_index("annotation_id")
    invalid = set(int(i) for i in invalid_annotation_ids) & set(old.index)
    common = old.index.intersection(new.index)
    changed = common[new.loc[common, "updated_at"].to_numpy() != old.loc[common, "updated_at"].to_numpy()]
    added = new.index.difference(old.index)
    not_fetched = old.index.difference(new.index).difference(pd.Index(sorted(invalid), dtype=old.index.dtype))
    merged = pd.concat([old.loc[not_fetched], new.loc[common.union(added)]])
    merged = merged.reset_index().sort_values("annotation_id").reset_index(drop=True)[RATING_COLUMNS]
    return merged, {"added": len(added), "updated": len(changed), "unchanged": len(common) - len(changed),
                    "kept_not_fetched": len(not_fetched), "removed_invalid": len(invalid)}
