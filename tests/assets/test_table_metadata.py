"""Data frames as Dagster table metadata (drawn inline on the asset page)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from underdog_assets.defs.common.metadata import frame_table


def test_a_frame_becomes_typed_columns_and_plain_records() -> None:
    frame = pd.DataFrame({"fold": [1, 2], "strategy": ["td3", "oracle"],
                          "sharpe": [1.25, np.nan], "deployable": [True, False]})
    table = frame_table(frame, {"sharpe": "annualized"})
    assert [(c.name, c.type, c.description) for c in table.schema.columns] == [
        ("fold", "int", None), ("strategy", "string", None), ("sharpe", "float", "annualized"),
        ("deployable", "bool", None)]
    assert [r.data for r in table.records] == [
        {"fold": 1, "strategy": "td3", "sharpe": 1.25, "deployable": True},
        {"fold": 2, "strategy": "oracle", "sharpe": None, "deployable": False}]  # NaN: no value
    assert all(type(r.data["fold"]) is int for r in table.records)  # not numpy scalars
    # What the event log stores and the UI reads back: the records serialize.
    assert dg.deserialize_value(dg.serialize_value(table)) == table


def test_a_column_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="string name for every column"):
        frame_table(pd.DataFrame([[1.0, 2.0]]))
