"""icaa.pipeline: the stages that build an image-colour-aesthetics dataset.

Each stage is a pure core (rows or arrays in and out), a thin shell that reads its input table,
runs the core per chunk and writes Parquet atomically, and a ``icaa-data`` sub-command.
"""

__all__: list[str] = []
