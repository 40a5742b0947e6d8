"""Audits of built state vectors: lookahead, online/offline parity, sanity.

- Lookahead: rebuild with every input truncated at a cutoff c (only what was known at c);
  the rows available by c must come out exactly equal, column by column. A feature that
  peeks at the future changes them, and is named.
- Parity: the online vector of a bar (last 600 bars, facts at its close) equals the
  offline row to 1e-9 relative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from underdog.features.online import vector_at
from underdog.features.registry import FEATURE_NAMES, FEATURES, Feature
from underdog.features.state_vector import Inputs, build
from underdog.store.db import Database


@dataclass
class LookaheadReport:
    cutoffs: int
    rows_compared: int
    violations: int
    columns: list[str] = field(default_factory=list)  # features that differed

    @property
    def passed(self) -> bool:
        return self.violations == 0


def _cutoffs(frame: pd.DataFrame, n: int, seed: int) -> list[pd.Timestamp]:
    closes = frame["available_at"].to_numpy()
    if len(closes) == 0:
        return []
    picks = np.random.default_rng(seed).choice(len(closes), size=min(n, len(closes)),
                                               replace=False)
    return [pd.Timestamp(closes[i]) for i in sorted(picks)]


def lookahead_audit(inputs: Inputs, start: datetime, end: datetime, *, cutoffs: int = 20,
                    seed: int = 0, features: tuple[Feature, ...] = FEATURES,
                    full: pd.DataFrame | None = None) -> LookaheadReport:
    """`full`: `build(inputs, start, end, features, complete_only=False)` when the caller
    built it already (the asset writes its complete rows): not built a second time."""
    # Undefined values are kept: a feature that is NaN without the future is a leak too.
    if full is None:
        full = build(inputs, start, end, features, complete_only=False)
    names = [f.name for f in features]
    report = LookaheadReport(0, 0, 0)
    for cutoff in _cutoffs(full, cutoffs, seed):
        known = full[full["available_at"] <= cutoff]
        rebuilt = build(inputs.truncated(cutoff), start, end, features, complete_only=False)
        report.cutoffs += 1
        report.rows_compared += len(known)
        if not rebuilt.index.equals(known.index):
            report.violations += 1
            if "(rows)" not in report.columns:
                report.columns.append("(rows)")
            continue
        differs = [n for n in names if not np.array_equal(
            rebuilt[n].to_numpy(), known[n].to_numpy(), equal_nan=True)]
        if differs:
            report.violations += 1
            report.columns.extend(d for d in differs if d not in report.columns)
    return report


@dataclass
class ParityReport:
    bars: int
    max_abs_diff: float
    max_rel_diff: float
    worst_column: str | None

    @property
    def passed(self) -> bool:
        return self.bars > 0 and self.max_rel_diff <= 1e-9


def parity_audit(db: Database, symbol: str, offline: pd.DataFrame, *, bars: int = 50,
                 seed: int = 0) -> ParityReport:
    """Compare `bars` random offline rows with the online vector of the same bar."""
    if offline.empty:
        return ParityReport(0, 0.0, 0.0, None)
    picks = np.random.default_rng(seed).choice(len(offline), size=min(bars, len(offline)),
                                               replace=False)
    worst, worst_rel, worst_abs, compared = None, 0.0, 0.0, 0
    for i in sorted(picks):
        online = vector_at(db, symbol, offline.index[i].to_pydatetime())
        if online is None:
            continue
        compared += 1
        for name in FEATURE_NAMES:
            a, b = float(offline.iloc[i][name]), online[name]
            diff = abs(a - b)
            rel = diff / max(abs(a), abs(b), 1e-12)
            worst_abs = max(worst_abs, diff)
            if rel > worst_rel:
                worst, worst_rel = name, rel
    return ParityReport(compared, float(worst_abs), float(worst_rel), worst)


def sanity(frame: pd.DataFrame) -> dict[str, int]:
    """Counts of rows breaking a hard rule (all must be 0)."""
    values = frame[list(FEATURE_NAMES)].to_numpy()
    one_hot = frame[["regime_trend", "regime_range", "regime_transition"]].sum(axis=1)
    return {
        "non_finite": int((~np.isfinite(values)).any(axis=1).sum()),
        "rsi_out_of_range": int(((frame["rsi"] < 0) | (frame["rsi"] > 1)).sum()),
        "one_hot_not_1": int((one_hot != 1).sum()),
        "non_positive_close": int((frame["close"] <= 0).sum()),
    }


@dataclass
class StateAudit:
    lookahead: LookaheadReport
    parity: ParityReport
    sanity: dict[str, int]


def audit_state(db: Database, symbol: str, inputs: Inputs, full: pd.DataFrame,
                frame: pd.DataFrame, start: datetime, end: datetime) -> StateAudit:
    """The three audits of one symbol's built window: `full` (undefined features kept) for
    the lookahead audit, `frame` (its complete rows, as written) for parity and sanity."""
    return StateAudit(lookahead_audit(inputs, start, end, full=full),
                      parity_audit(db, symbol, frame), sanity(frame))
