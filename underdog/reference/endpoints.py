"""Where each outside API and the MT5 bridge answer by default: stated once, here.

`underdog.config` uses these as the settings' defaults and each source module as its
client's default; nothing else restates them. A leaf module, cheap to import (the settings
import it, not the source modules with their HTTP and numeric libraries).
"""

from __future__ import annotations

DUKASCOPY_URL = "https://datafeed.dukascopy.com/datafeed"
FRED_URL = "https://api.stlouisfed.org/fred"
EDGAR_URL = "https://data.sec.gov"  # the submissions API
EDGAR_ARCHIVES_URL = "https://www.sec.gov"  # the filings themselves
ALPHAVANTAGE_URL = "https://www.alphavantage.co"
NEWSAPI_URL = "https://newsapi.org/v2"
GNEWS_URL = "https://gnews.io/api/v4"
REDDIT_WEB_URL = "https://www.reddit.com"

# The MT5 bridges' sockets: MQL5-JSON-API (system REQ/REP, data PUSH/PULL, live PUSH/PULL)
# and the DWX connector (market data PUB/SUB, commands PUSH/PULL).
MT5_HOST = "127.0.0.1"
MT5_SYS_PORT = 15555
MT5_DATA_PORT = 15556
MT5_LIVE_PORT = 15557
DWX_PUB_PORT = 32770
DWX_PUSH_PORT = 32768
