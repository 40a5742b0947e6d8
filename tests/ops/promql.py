"""The metric names a PromQL expression reads (label values and strings left out)."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_LABELS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_NAME = re.compile(r"(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)")
KEYWORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "rate", "irate", "increase", "time",
    "histogram_quantile", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
    "abs", "clamp_min", "clamp_max", "delta", "deriv", "topk", "bottomk", "offset", "bool",
    "label_replace", "vector", "scalar", "le",
}


def metric_names(expr: str) -> set[str]:
    text = _RANGE.sub("", _LABELS.sub("", _STRING.sub("", expr)))
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    return {n for n in _NAME.findall(text) if n not in KEYWORDS and not n[0].isdigit()
            and not re.fullmatch(r"[0-9.e+-]+", n)}
