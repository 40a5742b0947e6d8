"""Ticks stored as integers and scales; the view `underdog.tick_values` reads them back.

Before: bid, ask, volumes as float8 and available_at as a second timestamp. The columnstore
compresses float8 with XOR (Gorilla): decimal prices and volumes cost 5-8 bytes each, and a
tick 37.5 bytes (one more went to a bloom filter on the key's time and seq). After:
`bid_units`/`ask_units` at `price_scale` decimals, volumes at `volume_scale`,
`available_lag_us` = available_at - time; delta-of-delta encoding makes a tick about 10
bytes (bench/storage.py). `tick_values` gives the old columns, value for value
(units::float8 / 10^scale is the double nearest the decimal, see underdog.store.decimals).

Existing rows are carried over: per row the smallest scale that gives each value back
exactly, per symbol and day the largest of those. A value that no scale up to 15 gives back
stops the migration (nothing is rounded). The table is rebuilt under the same name; on
TimescaleDB it is a hypertable again with the same chunk, columnstore and retention
settings as 0002 gave it.

Revision ID: 0010
Revises: 0007
"""

from alembic import op
from sqlalchemy import text

from underdog.store.offline.decimals import MAX_SCALE, SQL_POW10, sql_value

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

P = SQL_POW10

SCALE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION underdog.decimal_scale(v float8) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT min(d)::smallint FROM generate_series(0, {MAX_SCALE}) AS d
    WHERE abs(round(v * ({P})[d + 1])) < 2::float8 ^ 53
      AND round(v * ({P})[d + 1]) / ({P})[d + 1] = v
$$;
COMMENT ON FUNCTION underdog.decimal_scale(float8) IS
    'smallest d <= {MAX_SCALE} with round(v * 10^d) / 10^d = v exactly; NULL if none';
"""

NEW_TABLE = """
CREATE TABLE underdog.ticks_units (
    symbol            text        NOT NULL,
    time              timestamptz NOT NULL,
    seq               bigint      NOT NULL,
    price_scale       smallint    NOT NULL,
    bid_units         bigint      NOT NULL,
    ask_units         bigint      NOT NULL,
    volume_scale      smallint    NOT NULL,
    bid_volume_units  bigint,
    ask_volume_units  bigint,
    available_lag_us  bigint      NOT NULL,
    PRIMARY KEY (symbol, time, seq)
);
"""

TIMESCALE = [
    "SELECT create_hypertable('underdog.ticks_units', by_range('time', INTERVAL '1 day'))",
    # No automatic sparse indexes: the primary key made a bloom filter on (time, seq) that
    # cost a byte a tick (10 % of it), and no read looks a tick up by (time, seq).
    "ALTER TABLE underdog.ticks_units SET (timescaledb.enable_columnstore = true,"
    " timescaledb.segmentby = 'symbol', timescaledb.orderby = 'time DESC, seq DESC',"
    " timescaledb.sparse_index = '')",
]
POLICIES = [
    "CALL add_columnstore_policy('underdog.ticks', after => INTERVAL '7 days',"
    " if_not_exists => TRUE)",
    "SELECT add_retention_policy('underdog.ticks', drop_after => (SELECT keep FROM"
    " underdog.retention_policies WHERE table_name = 'ticks'), if_not_exists => TRUE)",
]


def _scaled(units: str, value: str, scale: str) -> str:
    return f"round({value} * ({P})[{scale} + 1])::bigint AS {units}"


CARRY_OVER = f"""
INSERT INTO underdog.ticks_units
SELECT symbol, time, seq, ps, {_scaled("bid_units", "bid", "ps")},
       {_scaled("ask_units", "ask", "ps")}, vs,
       {_scaled("bid_volume_units", "bid_volume", "vs")},
       {_scaled("ask_volume_units", "ask_volume", "vs")},
       (extract(epoch FROM available_at - time) * 1000000)::bigint
FROM (
    SELECT t.*,
           max(greatest(underdog.decimal_scale(bid), underdog.decimal_scale(ask)))
               OVER day AS ps,
           coalesce(max(greatest(underdog.decimal_scale(bid_volume),
                                 underdog.decimal_scale(ask_volume))) OVER day, 0) AS vs
    FROM underdog.ticks t
    WINDOW day AS (PARTITION BY symbol, date_trunc('day', time, 'UTC'))
) scaled
"""

# Rows with a value no scale up to MAX_SCALE gives back: must be none.
UNSCALABLE = """
SELECT count(*) FROM underdog.ticks
WHERE underdog.decimal_scale(bid) IS NULL OR underdog.decimal_scale(ask) IS NULL
   OR (bid_volume IS NOT NULL AND underdog.decimal_scale(bid_volume) IS NULL)
   OR (ask_volume IS NOT NULL AND underdog.decimal_scale(ask_volume) IS NULL)
"""

# Rows whose values the carried-over units do not give back exactly: must be none.
UNEQUAL = """
SELECT count(*) FROM underdog.ticks o JOIN underdog.tick_values n USING (symbol, time, seq)
WHERE (o.bid, o.ask, o.available_at) IS DISTINCT FROM (n.bid, n.ask, n.available_at)
   OR (o.bid_volume, o.ask_volume) IS DISTINCT FROM (n.bid_volume, n.ask_volume)
"""


def view(source: str) -> str:
    return f"""
CREATE OR REPLACE VIEW underdog.tick_values AS
SELECT symbol, time, seq,
       {sql_value("bid_units", "price_scale")} AS bid,
       {sql_value("ask_units", "price_scale")} AS ask,
       {sql_value("bid_volume_units", "volume_scale")} AS bid_volume,
       {sql_value("ask_volume_units", "volume_scale")} AS ask_volume,
       time + available_lag_us * interval '1 microsecond' AS available_at
FROM {source};
COMMENT ON VIEW underdog.tick_values IS
    'ticks as values: the columns writers take (underdog.store.tables.TICKS), exactly';
"""


def _scalar(query: str) -> object:
    return op.get_bind().execute(text(query)).scalar()


def _is_hypertable() -> bool:
    if not _scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
        return False
    return bool(_scalar("SELECT count(*) FROM timescaledb_information.hypertables"
                        " WHERE hypertable_schema = 'underdog' AND hypertable_name = 'ticks'"))


def upgrade(reader_role: str = "underdog_reader", **context) -> None:
    op.execute(SCALE_FUNCTION)
    op.execute("REVOKE EXECUTE ON FUNCTION underdog.decimal_scale(float8) FROM PUBLIC")
    already = _scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                      " 'underdog' AND table_name = 'ticks' AND column_name = 'bid_units'")
    if already:  # a database made at this revision: only the view may be missing
        op.execute(view("underdog.ticks"))
        return
    if unscalable := _scalar(UNSCALABLE):
        raise RuntimeError(f"0010: {unscalable} ticks have a value with more than {MAX_SCALE}"
                           " decimals; not migrated")
    hypertable = _is_hypertable()
    op.execute(NEW_TABLE)
    for statement in TIMESCALE if hypertable else []:
        op.execute(statement)
    op.execute(CARRY_OVER)
    op.execute(view("underdog.ticks_units"))
    if unequal := _scalar(UNEQUAL):
        raise RuntimeError(f"0010: {unequal} ticks would not read back exactly; not migrated")
    op.execute("DROP TABLE underdog.ticks")
    op.execute("ALTER TABLE underdog.ticks_units RENAME TO ticks")  # the view follows it
    op.execute("ALTER INDEX underdog.ticks_units_pkey RENAME TO ticks_pkey")
    for statement in POLICIES if hypertable else []:
        op.execute(statement)
    op.execute(f"GRANT SELECT ON underdog.ticks, underdog.tick_values TO {reader_role}")
