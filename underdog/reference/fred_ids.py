"""FRED series ids in FRED's own alphabet, checked before an id goes into a request URL.

fredapi pastes the id into the query string unencoded, so `VIXCLS&file_type=json` would add
query parameters; FRED's ids (VIXCLS, T10Y2Y, A191RL1Q225SBEA, ...) are upper-case letters,
digits and underscores, so anything else is refused before any request.
"""

from __future__ import annotations

import re

SERIES_ID = re.compile(r"[A-Z0-9_]{1,64}")


def series_id(value: str) -> str:
    """`value` upper-cased, or ValueError saying what a FRED series id looks like."""
    normal = value.strip().upper()
    if not SERIES_ID.fullmatch(normal):
        raise ValueError(f"{value!r} is not a FRED series id (letters, digits and _, "
                         f"like VIXCLS or T10Y2Y)")
    return normal
