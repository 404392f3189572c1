"""icaa.annotation: the Label Studio round trip, rater screening and MOS."""

__all__: list[str] = []
