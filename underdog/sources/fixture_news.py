"""The bundled sample of FX headlines and posts (2024-03-08 .. 2024-03-12), written for this
project: the offline default, so the demo and the tests have sentiment without any API key.

fixtures/news_sample.json: {"items": [{"id", "kind": "news" | "post", "outlet", "title",
"body", "published_at": ISO 8601 UTC, "url"}]}.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

from underdog.sources.documents import Document, parse_time

SOURCE = "fixture"
PATH = Path(__file__).with_name("fixtures") / "news_sample.json"
KINDS = ("news", "post")


@cache
def _items() -> tuple[tuple[str, Document], ...]:
    data = json.loads(PATH.read_text())
    return tuple(
        (item["kind"], Document(source=SOURCE, item_id=item["id"], title=item["title"],
                                body=item.get("body", ""),
                                published_at=parse_time(item["published_at"]),
                                url=item.get("url")))
        for item in data["items"]
    )


def fetch_sample(start: datetime, end: datetime, *, kind: str | None = None) -> list[Document]:
    """The sample's items of `kind` (news, post; None: both) published in [start, end)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return [d for k, d in _items() if (kind is None or k == kind)
            and start <= d.published_at < end]
