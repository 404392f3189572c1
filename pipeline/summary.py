"""What a stage run did, in one shape for every stage: ``run_<stage>`` returns a :class:`StageSummary`.

A summary holds the stage's name, its counts (rows in and out, rejects by reason), the other figures it
reports (settings used, ratios, sentences), the files it wrote and the time it took. It reads like the
dict it prints (``summary["selected"]``), and ``icaa-data`` prints every stage's summary the same way:
the stage's name, then one ``key: value`` line per entry (counts, figures, outputs, seconds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StageSummary", "Stopwatch"]


@dataclass(frozen=True)
class StageSummary(Mapping[str, Any]):
    """The outcome of one ``run_<stage>`` call.

    Parameters
    ----------
    stage
        The command's name as typed (``scan``, ``crawl popularity``, ``annotate import``).
    counts
        How many rows came in, went out, were rejected (by reason) or skipped.
    figures
        Everything else worth reporting: settings in force, ratios, distributions, one-sentence verdicts.
    outputs
        What the run wrote: the name printed for each file or folder (``output``, ``rejects_table``,
        ``metrics``) and its path.
    seconds
        Wall time of the run, rounded to 0.01 s; None when not measured.
    dry_run
        True when the run only planned (wrote nothing, called nothing).
    """

    stage: str
    counts: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    dry_run: bool = False

    @property
    def title(self) -> str:
        """The heading printed above the entries: the stage, marked when it was a dry run."""
        return f"{self.stage} (dry run)" if self.dry_run else self.stage

    def entries(self) -> dict[str, Any]:
        """Every entry in print order: counts, figures, outputs, then seconds."""
        timing = {} if self.seconds is None else {"seconds": self.seconds}
        return {**self.counts, **self.figures, **self.outputs, **timing}

    def __getitem__(self, key: str) -> Any:
        return self.entries()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self.entries())

    def lines(self) -> list[str]:
        """The printed form: the title, then one indented ``key: value`` line per entry.

        >>> StageSummary("fuse", counts={"rejects_by_reason": {}, "classes": {"a": 1, "b": 3}}).lines()
        ['fuse:', '  rejects_by_reason: none', '  classes: b 3, a 1']
        """
        return [f"{self.title}:", *(f"  {key}: {_printed(value)}" for key, value in self.entries().items())]


#: A tally with more keys than this prints its largest ones and how many more there are.
_TALLY_SHOWN = 10


def _printed(value: Any) -> str:
    """A tally (name -> number) largest first, an empty one as "none"; anything else as ``str`` gives it."""
    if isinstance(value, Mapping):
        if not value:
            return "none"
        if all(isinstance(number, (int, float)) and not isinstance(number, bool) for number in value.values()):
            ranked = sorted(value.items(), key=lambda item: -item[1])
            shown = ", ".join(f"{name} {number}" for name, number in ranked[:_TALLY_SHOWN])
            hidden = len(ranked) - _TALLY_SHOWN
            return shown + (f" and {hidden} more" if hidden > 0 else "")
    return str(value)


class Stopwatch:
    """Seconds since creation, rounded as summaries print them: ``Stopwatch().seconds()``."""

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self._started, 2)
