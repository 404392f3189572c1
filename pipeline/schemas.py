"""Every table passed between stages, as one pyarrow schema each, with each column's meaning.

A column's metadata holds ``description`` and, where they apply, ``unit``, ``range`` and
``direction`` (``higher_better`` / ``lower_better``), so that ``describe_schema`` can document the
table. Stages cast their output to these schemas when writing; the docs in README are generated from here.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["column", "describe_schema", "SCHEMAS", "REJECTS"]


def column(name: str, dtype: pa.DataType, description: str, *, unit: str | None = None,
           value_range: str | None = None, direction: str | None = None, nullable: bool = True) -> pa.Field:
    """A schema field carrying its documentation as metadata."""
    metadata = {"description": description}
    if unit:
        metadata["unit"] = unit
    if value_range:
        metadata["range"] = value_range
    if direction:
        metadata["direction"] = direction
    return pa.field(name, dtype, nullable=nullable, metadata=metadata)


def describe_schema(schema: pa.Schema) -> str:
    """A Markdown table of a schema's columns."""
    lines = ["| column | type | meaning | unit | range |", "| --- | --- | --- | --- | --- |"]
    for field in schema:
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        lines.append(f"| `{field.name}` | {field.type} | {meta.get('description', '')} | "
                     f"{meta.get('unit', '')} | {meta.get('range', '')} |")
    return "\n".join(lines)


#: Rows a stage could not use, one per input row, with a code from the stage's closed set of reasons.
REJECTS = pa.schema([
    column("image_id", pa.string(), "id of the rejected row (relative path under the image root)", nullable=False),
    column("path", pa.string(), "absolute path of the file, when there is one"),
    column("stage", pa.string(), "stage that rejected the row", nullable=False),
    column("reason", pa.string(), "code from the stage's closed set (e.g. truncated, not_an_image)", nullable=False),
    column("detail", pa.string(), "human-readable detail (the decoder's message, sizes, ...)"),
])

#: Name -> schema of every table. Each stage module registers its own tables here.
SCHEMAS: dict[str, pa.Schema] = {"rejects": REJECTS}
