"""Operations: freshness of every table, `underdog health`, the Prometheus exporter, logging.

One definition of "stale" (`freshness.FEEDS`) serves `underdog health`, the exporter's
`underdog_feed_stale` and the Dagster checks of `table_freshness`, so the three cannot disagree.
"""
