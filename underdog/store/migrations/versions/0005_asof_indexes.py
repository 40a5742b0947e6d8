"""Indexes for point-in-time reads: facts by key and `available_at`.

The state vector joins every fact "as known at t" (`available_at <= t`); without these,
each online update scans a symbol's whole history of scores and labels.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "sentiment_scores_symbol_available": "sentiment_scores (symbol, available_at)",
    "regime_predictions_symbol_available": "regime_predictions (symbol, available_at)",
    "macro_indicators_series_available": "macro_indicators (series_id, available_at)",
    "state_vectors_symbol_version_time": "state_vectors (symbol, feature_version, time DESC)",
}


def upgrade(**context) -> None:
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON underdog.{target}")
