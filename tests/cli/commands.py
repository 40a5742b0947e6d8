"""The commands the table-driven CLI tests run: every one that opens the feature store."""

DATABASE_COMMANDS = [
    ["db", "status"], ["db", "retention"],
    ["market", "backfill", "--start", "2024-03-05", "--end", "2024-03-05"],
    ["market", "bars", "EURUSD", "2024-03-05", "2024-03-06"],
    ["features", "build", "--symbol", "EURUSD", "--start", "2024-03-05", "--end", "2024-03-06"],
    ["features", "latest", "EURUSD"],
    ["macro", "fetch", "--source", "fixture"], ["macro", "asof", "VIXCLS", "2024-03-05"],
    ["sentiment", "fetch", "--source", "fixture"],
    ["agent", "train", "--symbol", "EURUSD"], ["agent", "evaluate", "--symbol", "EURUSD"],
    ["agent", "act", "EURUSD"],
]
