"""Symbol tagging: which instruments a headline or post is about, from a keyword map.

The map is symbol -> keywords; a keyword matches case-insensitively as a whole word (or
phrase), so "euro" tags "Euro slips" but not "Europe". The defaults name each pair and its
base currency's words (currency, central bank, its governor). US-dollar and Fed words are
left out on purpose: they concern every USD pair, in opposite directions, so they would tag
nearly every item without saying which way a pair moves. A JSON file
(UNDERDOG_SENTIMENT_KEYWORDS_FILE) replaces the map as a whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "EURUSD": ("EUR/USD", "EURUSD", "EUR-USD", "euro", "euros", "eurozone", "euro zone",
               "euro area", "ECB", "European Central Bank", "Lagarde", "fiber"),
    "GBPUSD": ("GBP/USD", "GBPUSD", "GBP-USD", "cable", "sterling", "pound", "pounds",
               "BoE", "Bank of England", "Bailey", "gilts", "UK inflation"),
    "USDJPY": ("USD/JPY", "USDJPY", "USD-JPY", "yen", "BoJ", "Bank of Japan", "Ueda"),
    "AUDUSD": ("AUD/USD", "AUDUSD", "AUD-USD", "aussie", "Australian dollar", "RBA",
               "Reserve Bank of Australia"),
    "USDCHF": ("USD/CHF", "USDCHF", "USD-CHF", "Swiss franc", "swissie", "SNB",
               "Swiss National Bank"),
    "USDCAD": ("USD/CAD", "USDCAD", "USD-CAD", "loonie", "Canadian dollar", "BoC",
               "Bank of Canada", "Macklem"),
    "NZDUSD": ("NZD/USD", "NZDUSD", "NZD-USD", "kiwi", "New Zealand dollar", "RBNZ"),
    "EURGBP": ("EUR/GBP", "EURGBP", "EUR-GBP"),
    "EURJPY": ("EUR/JPY", "EURJPY", "EUR-JPY"),
    "GBPJPY": ("GBP/JPY", "GBPJPY", "GBP-JPY"),
    "XAUUSD": ("XAU/USD", "XAUUSD", "gold", "bullion"),
}

# Added to the pairs in the search query of NewsAPI and GNews (both cap the query length).
QUERY_EXTRA = ("forex",)


@dataclass(frozen=True)
class Tagger:
    """Compiled keyword map: `tags(text)` gives the symbols a text is about, sorted."""

    patterns: dict[str, re.Pattern[str]]

    @classmethod
    def from_map(cls, keywords: Mapping[str, Iterable[str]]) -> Tagger:
        return cls({symbol.upper(): _pattern(words) for symbol, words in keywords.items()
                    if list(words)})

    def tags(self, text: str) -> list[str]:
        return sorted(s for s, pattern in self.patterns.items() if pattern.search(text))

    @property
    def symbols(self) -> list[str]:
        return sorted(self.patterns)


def _pattern(words: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so "euro zone" wins over "euro"; no letter or digit on either side.
    alternatives = sorted((re.escape(w.strip()) for w in words if w.strip()), key=len,
                          reverse=True)
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(alternatives) + r")(?![A-Za-z0-9])",
                      re.IGNORECASE)


def load_keywords(path: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """The map from a JSON file ({"EURUSD": ["EUR/USD", ...]}), or the defaults."""
    if not path:
        return dict(DEFAULT_KEYWORDS)
    data = json.loads(Path(path).expanduser().read_text())
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(w, str) for w in v) for v in data.values()
    ):
        raise ValueError(f"{path}: expected a JSON object of symbol -> list of keywords")
    return {str(k).upper(): tuple(v) for k, v in data.items()}


def tagger(path: str | Path | None = None) -> Tagger:
    return Tagger.from_map(load_keywords(path))


def search_query(symbols: Iterable[str]) -> str:
    """`"EUR/USD" OR "GBP/USD" OR forex`: what the news APIs are asked for."""
    pairs = [f'"{s[:3]}/{s[3:]}"' for s in symbols if len(s) == 6]
    return " OR ".join([*pairs, *QUERY_EXTRA])
