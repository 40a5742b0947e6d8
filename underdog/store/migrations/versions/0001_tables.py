"""Schema `underdog`: fact tables, raw documents, dead letters, registry, retention windows.

Every fact table has `time` (when it happened) and `available_at` (when this system could
have known it), except `ohlcv`, whose bars are known at their close (`time` + 1 minute).
Every statement is idempotent (IF NOT EXISTS / OR REPLACE), so a half-applied database
can be migrated again.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FACT_TABLES = """
CREATE TABLE IF NOT EXISTS underdog.ohlcv (
    symbol      text             NOT NULL,
    time        timestamptz      NOT NULL,
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    volume      bigint           NOT NULL,
    spread      double precision NOT NULL,
    source      text             NOT NULL,
    PRIMARY KEY (symbol, time)
);
COMMENT ON TABLE underdog.ohlcv IS
    'M1 bid bars; time = minute start; known at time + 1 minute; volume = tick count';

CREATE TABLE IF NOT EXISTS underdog.ticks (
    symbol        text             NOT NULL,
    time          timestamptz      NOT NULL,
    seq           bigint           NOT NULL,
    bid           double precision NOT NULL,
    ask           double precision NOT NULL,
    bid_volume    double precision,
    ask_volume    double precision,
    available_at  timestamptz      NOT NULL,
    PRIMARY KEY (symbol, time, seq)
);

CREATE TABLE IF NOT EXISTS underdog.sentiment_scores (
    symbol        text             NOT NULL,
    source        text             NOT NULL,
    item_id       text             NOT NULL,
    time          timestamptz      NOT NULL,
    available_at  timestamptz      NOT NULL,
    sentiment     double precision NOT NULL CHECK (sentiment BETWEEN -1 AND 1),
    confidence    double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    label         text             NOT NULL,
    model         text             NOT NULL,
    PRIMARY KEY (symbol, source, item_id, time)
);

CREATE TABLE IF NOT EXISTS underdog.macro_indicators (
    series_id       text             NOT NULL,
    time            timestamptz      NOT NULL,
    realtime_start  date             NOT NULL,
    realtime_end    date,
    value           double precision,
    name            text,
    units           text,
    available_at    timestamptz      NOT NULL,
    PRIMARY KEY (series_id, time, realtime_start)
);
COMMENT ON COLUMN underdog.macro_indicators.value IS 'NULL where the source says missing (".")';

CREATE TABLE IF NOT EXISTS underdog.regime_predictions (
    symbol          text             NOT NULL,
    time            timestamptz      NOT NULL,
    model_version   text             NOT NULL,
    regime          text             NOT NULL CHECK (regime IN ('trend', 'range', 'transition')),
    confidence      double precision NOT NULL,
    p_trend         double precision NOT NULL,
    p_range         double precision NOT NULL,
    p_transition    double precision NOT NULL,
    features        jsonb,
    available_at    timestamptz      NOT NULL,
    PRIMARY KEY (symbol, time, model_version)
);

CREATE TABLE IF NOT EXISTS underdog.state_vectors (
    symbol             text             NOT NULL,
    time               timestamptz      NOT NULL,
    feature_version    integer          NOT NULL,
    close              double precision NOT NULL,
    log_return         double precision NOT NULL,
    atr_pct            double precision NOT NULL,
    macd_hist_pct      double precision NOT NULL,
    rsi                double precision NOT NULL,
    bb_width           double precision NOT NULL,
    sentiment          double precision NOT NULL,
    regime_trend       double precision NOT NULL,
    regime_range       double precision NOT NULL,
    regime_transition  double precision NOT NULL,
    vix                double precision NOT NULL,
    fed_funds          double precision NOT NULL,
    yield_curve        double precision NOT NULL,
    volume_ratio       double precision NOT NULL,
    available_at       timestamptz      NOT NULL,
    PRIMARY KEY (symbol, time, feature_version)
);

CREATE TABLE IF NOT EXISTS underdog.trades (
    time          timestamptz      NOT NULL,
    trade_id      text             NOT NULL,
    strategy      text             NOT NULL,
    symbol        text             NOT NULL,
    side          text             NOT NULL CHECK (side IN ('long', 'short')),
    size          double precision NOT NULL,
    entry_time    timestamptz      NOT NULL,
    entry_price   double precision NOT NULL,
    exit_price    double precision NOT NULL,
    commission    double precision NOT NULL DEFAULT 0,
    pnl           double precision NOT NULL,
    available_at  timestamptz      NOT NULL,
    PRIMARY KEY (time, trade_id)
);
COMMENT ON COLUMN underdog.trades.time IS 'exit time: a trade is a fact once it is closed';

CREATE TABLE IF NOT EXISTS underdog.positions (
    time            timestamptz      NOT NULL,
    strategy        text             NOT NULL,
    symbol          text             NOT NULL,
    size            double precision NOT NULL,
    avg_price       double precision,
    unrealized_pnl  double precision NOT NULL DEFAULT 0,
    available_at    timestamptz      NOT NULL,
    PRIMARY KEY (time, strategy, symbol)
);

CREATE TABLE IF NOT EXISTS underdog.metrics (
    time          timestamptz      NOT NULL,
    strategy      text             NOT NULL,
    name          text             NOT NULL,
    value         double precision,
    available_at  timestamptz      NOT NULL,
    PRIMARY KEY (time, strategy, name)
);

CREATE TABLE IF NOT EXISTS underdog.account_snapshots (
    time          timestamptz      NOT NULL,
    account       text             NOT NULL,
    balance       double precision NOT NULL,
    equity        double precision NOT NULL,
    margin_used   double precision NOT NULL DEFAULT 0,
    available_at  timestamptz      NOT NULL,
    PRIMARY KEY (time, account)
);
"""

PLAIN_TABLES = """
CREATE TABLE IF NOT EXISTS underdog.raw_documents (
    source        text        NOT NULL,
    item_id       text        NOT NULL,
    url           text,
    title         text,
    body          text,
    published_at  timestamptz NOT NULL,
    fetched_at    timestamptz NOT NULL,
    content_hash  text        NOT NULL,
    symbols       text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (source, item_id)
);
CREATE INDEX IF NOT EXISTS raw_documents_content_hash ON underdog.raw_documents (content_hash);

CREATE TABLE IF NOT EXISTS underdog.dead_letters (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,
    target_table  text        NOT NULL,
    reason        text        NOT NULL,
    payload       jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_created_at ON underdog.dead_letters (created_at);

CREATE TABLE IF NOT EXISTS underdog.insider_transactions (
    accession         text             NOT NULL,
    line              integer          NOT NULL,
    issuer_cik        text             NOT NULL,
    issuer            text,
    owner             text,
    security          text,
    derivative        boolean          NOT NULL DEFAULT false,
    transaction_date  date             NOT NULL,
    code              text,
    shares            double precision,
    price             double precision,
    acquired_disposed text,
    owned_after       double precision,
    filed_at          timestamptz      NOT NULL,
    available_at      timestamptz      NOT NULL,
    PRIMARY KEY (accession, line)
);

CREATE TABLE IF NOT EXISTS underdog.model_registry (
    name          text        NOT NULL,
    version       text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    train_start   timestamptz,
    train_end     timestamptz,
    params        jsonb       NOT NULL DEFAULT '{}',
    metrics       jsonb       NOT NULL DEFAULT '{}',
    artifact      bytea,
    PRIMARY KEY (name, version)
);
"""

# One row per fact table: how long its rows are kept. TimescaleDB gets the same windows as
# retention policies; on plain PostgreSQL `underdog.apply_retention()` deletes by them.
RETENTION = """
CREATE TABLE IF NOT EXISTS underdog.retention_policies (
    table_name  text     PRIMARY KEY,
    keep        interval NOT NULL
);
INSERT INTO underdog.retention_policies (table_name, keep) VALUES
    ('ohlcv', '2 years'), ('ticks', '90 days'), ('sentiment_scores', '1 year'),
    ('macro_indicators', '5 years'), ('regime_predictions', '2 years'),
    ('state_vectors', '2 years'), ('trades', '2 years'), ('positions', '2 years'),
    ('metrics', '2 years'), ('account_snapshots', '2 years')
ON CONFLICT (table_name) DO NOTHING;

CREATE OR REPLACE FUNCTION underdog.apply_retention(as_of timestamptz DEFAULT now())
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
    policy record;
    n bigint;
BEGIN
    FOR policy IN SELECT p.table_name, p.keep FROM underdog.retention_policies p
                  ORDER BY p.table_name LOOP
        EXECUTE format('DELETE FROM underdog.%I WHERE time < $1', policy.table_name)
            USING as_of - policy.keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        table_name := policy.table_name;
        deleted := n;
        RETURN NEXT;
    END LOOP;
END $$;
"""


def upgrade(**context) -> None:
    op.execute(FACT_TABLES)
    op.execute(PLAIN_TABLES)
    op.execute(RETENTION)
