"""The sentiment assets' partitions: one per UTC day, today's included.

The 15-minute schedule materializes the day in progress, which the shared DAILY definition
(complete days only) does not have yet: end_offset=1 adds it. Days map one to one onto
DAILY's, so downstream daily assets (state_vectors) read the same windows.
"""

import dagster as dg

SENTIMENT_DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC",
                                               end_offset=1)
