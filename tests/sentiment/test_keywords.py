"""Symbol tagging by the keyword map: whole words, any case, replaceable by a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from underdog.sentiment.tagging import Tagger, load_keywords, search_query, tagger


def test_pairs_currencies_and_central_banks_tag_their_symbols() -> None:
    tags = tagger().tags
    assert tags("EUR/USD climbs as ECB's Lagarde signals patience") == ["EURUSD"]
    assert tags("Sterling and the euro slip; eurusd and gbpusd lower") == ["EURUSD", "GBPUSD"]
    assert tags("Yen surges as BoJ exit bets build") == ["USDJPY"]
    assert tags("Europe's stocks: Eurostoxx up, Euronext flat") == []  # whole words only
    assert tags("Dollar steady ahead of US CPI; Fed's Powell speaks") == []  # USD: no pair


def test_a_json_file_replaces_the_map(tmp_path: Path) -> None:
    path = tmp_path / "keywords.json"
    path.write_text(json.dumps({"eurusd": ["single currency"], "XAUUSD": ["gold"]}))
    assert load_keywords(path) == {"EURUSD": ("single currency",), "XAUUSD": ("gold",)}
    assert tagger(path).tags("The single currency and gold rise") == ["EURUSD", "XAUUSD"]
    path.write_text(json.dumps({"EURUSD": "euro"}))
    with pytest.raises(ValueError, match="symbol -> list"):
        load_keywords(path)


def test_longer_phrases_win_and_queries_name_the_pairs() -> None:
    assert Tagger.from_map({"EURUSD": ["euro", "euro zone"]}).tags("the euro zone") == ["EURUSD"]
    assert search_query(["EURUSD", "GBPUSD"]) == '"EUR/USD" OR "GBP/USD" OR forex'
