"""Tables as Dagster table metadata: the UI draws a TableMetadataValue inline on the asset
page, where a markdown table longer than 1000 characters hides behind "[Show Markdown]"."""

from __future__ import annotations

import math
from collections.abc import Mapping

import dagster as dg
import pandas as pd

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}  # numpy dtype kind -> column type


def frame_table(frame: pd.DataFrame, notes: Mapping[str, str] | None = None,
                ) -> dg.TableMetadataValue:
    """`frame` (columns in order, index dropped) as table metadata; `notes`: column
    descriptions, shown by the UI's "Show schema"."""
    notes = notes or {}
    unnamed = [c for c in frame.columns if not isinstance(c, str) or not c]
    if unnamed:
        raise ValueError(f"table metadata needs a string name for every column, got {unnamed}")
    columns = [dg.TableColumn(name, _TYPES.get(frame[name].dtype.kind, "string"),
                              description=notes.get(name)) for name in frame.columns]
    records = [dg.TableRecord({name: _cell(value) for name, value in row.items()})
               for row in frame.to_dict(orient="records")]
    return dg.MetadataValue.table(records, dg.TableSchema(columns=columns))


def _cell(value: object) -> str | int | float | bool | None:
    """A JSON-able cell: numpy scalars as Python ones, NaN (a strategy a fold lacks) as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
