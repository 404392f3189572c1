"""Simulated raters for testing MOS estimators and for the demo's simulated Label Studio export.

Kinds of rater, in chosen proportions:

* ``honest``: ``round(truth + N(0, noise_sd))``.
* ``biased``: honest plus an offset of ``+-bias`` (sign drawn per rater) and a scale in ``1 +- scale_spread``
  around the middle of the scale.
* ``lazy``: honest, except that with a probability growing linearly from ``lazy_start`` to ``lazy_end`` over the
  rater's sequence the rater answers the middle score (5 or 6) whatever the image (ICAA17K's "tired annotators
  drift to the middle score", ``../shared/notes/icaa17k-paper.md`` 1.2), quickly (short lead time).
* ``spammer``: uniform integers 1..10.

Every score is an integer clipped to 1..10. The functions are pure and seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RaterDesign", "DENSE", "DENSE_HONEST", "SPARSE", "simulate_ratings", "RATER_KINDS", "annotation_result",
           "to_label_studio_tasks"]

RATER_KINDS = ("honest", "biased", "lazy", "spammer")


@dataclass(frozen=True)
class RaterDesign:
    """A rating study: images, raters, how many images each rater sees, and the mix of rater kinds."""

    n_images: int = 400
    n_raters: int = 60
    images_per_rater: int = 360
    share_honest: float = 0.65
    share_biased: float = 0.10
    share_lazy: float = 0.20
    share_spammer: float = 0.05
    noise_sd: float = 1.0
    bias: float = 1.5
    scale_spread: float = 0.0
    lazy_start: float = 0.2
    lazy_end: float = 0.9
    truth_low: float = 2.0
    truth_high: float = 9.0


#: A lab-like dense design: 400 images, 60 raters x 360 images (54 ratings per image).
DENSE = RaterDesign()
#: The same with honest raters only (the "no worse than +2 %" check).
DENSE_HONEST = RaterDesign(share_honest=1.0, share_biased=0.0, share_lazy=0.0, share_spammer=0.0)
#: A sparse crowd design: 400 images, 60 raters x 120 images (18 ratings per image).
SPARSE = RaterDesign(images_per_rater=120)


def _kinds(design: RaterDesign) -> list[str]:
    shares = np.array([design.share_honest, design.share_biased, design.share_lazy, design.share_spammer])
    counts = np.floor(shares / shares.sum() * design.n_raters + 1e-9).astype(int)
    counts[0] += design.n_raters - counts.sum()
    return [kind for kind, count in zip(RATER_KINDS, counts) for _ in range(count)]


def simulate_ratings(design: RaterDesign = DENSE, *, seed: int = 0,
                     image_ids: list[str] | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Simulate one study.

    Parameters
    ----------
    design : the study.
    seed : random seed; the same seed gives the same ratings.
    image_ids : names of the images (default ``img0000`` ...); its length overrides ``design.n_images``.

    Returns
    -------
    ratings : one row per rating, columns ``image_id, rater, color, overall, confidence, lead_time, order``
        (``order`` = position in the rater's sequence; ``color`` and ``overall`` integers 1..10, confidence 0..1).
    truth : true colour score per image (index ``image_id``).
    kinds : kind per rater (index ``rater``).
    """
    rng = np.random.default_rng(seed)
    ids = list(image_ids) if image_ids is not None else [f"img{k:04d}" for k in range(design.n_images)]
    n_images = len(ids)
    truth = rng.uniform(design.truth_low, design.truth_high, n_images)
    truth_overall = np.clip(truth + rng.normal(0, 0.7, n_images), 1, 10)
    kinds = _kinds(design)
    rater_names = [f"rater{r:03d}" for r in range(len(kinds))]
    per_rater = min(design.images_per_rater, n_images)
    frames = []
    for name, kind in zip(rater_names, kinds):
        seen = rng.permutation(n_images)[:per_rater]
        order = np.arange(per_rater)
        colour = truth[seen] + rng.normal(0, design.noise_sd, per_rater)
        overall = truth_overall[seen] + rng.normal(0, design.noise_sd, per_rater)
        confidence = np.clip(rng.normal(0.75, 0.12, per_rater), 0.05, 1.0)
        lead_time = rng.lognormal(np.log(12.0), 0.4, per_rater)
        if kind == "biased":
            offset = design.bias * rng.choice([-1.0, 1.0])
            scale = 1.0 + rng.uniform(-design.scale_spread, design.scale_spread)
            colour = 5.5 + scale * (colour - 5.5) + offset
            overall = 5.5 + scale * (overall - 5.5) + offset
        elif kind == "lazy":
            p_lazy = design.lazy_start + (design.lazy_end - design.lazy_start) * order / max(per_rater - 1, 1)
            lazy = rng.random(per_rater) < p_lazy
            middle = rng.choice([5.0, 6.0], per_rater)
            colour = np.where(lazy, middle, colour)
            overall = np.where(lazy, middle, overall)
            lead_time = np.where(lazy, rng.lognormal(np.log(3.0), 0.4, per_rater), lead_time)
            confidence = np.where(lazy, np.clip(rng.normal(0.6, 0.1, per_rater), 0.05, 1.0), confidence)
        elif kind == "spammer":
            colour = rng.integers(1, 11, per_rater).astype(float)
            overall = rng.integers(1, 11, per_rater).astype(float)
            lead_time = rng.lognormal(np.log(4.0), 0.5, per_rater)
        frames.append(pd.DataFrame({
            "image_id": [ids[k] for k in seen], "rater": name,
            "color": np.clip(np.rint(colour), 1, 10).astype(int),
            "overall": np.clip(np.rint(overall), 1, 10).astype(int),
            "confidence": np.round(confidence, 2), "lead_time": np.round(lead_time, 2), "order": order,
        }))
    ratings = pd.concat(frames, ignore_index=True)
    return (ratings, pd.Series(truth, index=pd.Index(ids, name="image_id"), name="truth"),
            pd.Series(kinds, index=pd.Index(rater_names, name="rater"), name="kind"))


def _choice(value: float) -> str:
    return f"{value:g}"


def annotation_result(colour: float, overall: float, confidence: float) -> list[dict]:
    """The ``result`` of a Label Studio annotation for our labelling config (three single choices)."""
    return [{"from_name": name, "to_name": "image", "type": "choices", "value": {"choices": [_choice(value)]}}
            for name, value in (("color", colour), ("overall", overall), ("confidence", confidence))]


def to_label_studio_tasks(ratings: pd.DataFrame, image_url, user_ids: dict[str, int], *,
                          with_ids: bool = True, start_time: str = "2026-01-05T09:00:00Z") -> list[dict]:
    """Simulated ratings as Label Studio tasks with embedded annotations (the export JSON format, section 1.5 of
    ``../shared/notes/ecosystem.md``); ``with_ids=False`` leaves out the ids the server assigns (for posting the
    tasks through the import API, which keeps ``completed_by`` and ``lead_time``)."""
    start = pd.Timestamp(start_time)
    tasks, annotation_id = [], 0
    for task_id, (image_id, group) in enumerate(ratings.groupby("image_id", sort=True), start=1):
        annotations = []
        for row in group.itertuples(index=False):
            annotation_id += 1
            when = (start + pd.Timedelta(minutes=int(row.order) * 2 + user_ids[row.rater] % 7)).isoformat()
            annotation = {"completed_by": int(user_ids[row.rater]), "lead_time": float(row.lead_time),
                          "was_cancelled": False,
                          "result": annotation_result(int(row.color), int(row.overall), float(row.confidence))}
            if with_ids:
                annotation.update(id=annotation_id, task=task_id, created_at=when.replace("+00:00", "Z"),
                                  updated_at=when.replace("+00:00", "Z"))
            annotations.append(annotation)
        task = {"data": {"image": image_url(image_id), "image_id": image_id}, "annotations": annotations}
        if with_ids:
            task["id"] = task_id
        tasks.append(task)
    return tasks
