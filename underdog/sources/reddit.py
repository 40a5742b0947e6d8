"""Reddit posts through PRAW: the newest submissions of some subreddits, read-only.

PRAW authenticates application-only (client credentials: POST /api/v1/access_token with
grant_type=client_credentials and HTTP basic auth) and reads /r/<sub>/new listings
({"kind": "Listing", "data": {"after", "children": [{"kind": "t3", "data": {...}}]}}).
PRAW follows Reddit's x-ratelimit-* headers itself and retries some 5xx; a 429, or a 5xx
that outlasts its retries, is retried here with backoff, then the source gives up for
this run. `base_url` (UNDERDOG_REDDIT_BASE_URL) replaces both of PRAW's hosts.

A listing reaches back about 1000 posts: a backfill of old days gets what is still listed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import praw
import prawcore
import requests

from underdog.reference.endpoints import REDDIT_WEB_URL as WEB_URL
from underdog.sources.documents import (
    Document,
    MissingCredentials,
    RateLimited,
    SourceUnavailable,
    clean,
)
from underdog.sources.http import retry_policy

SOURCE = "reddit"
REMOVED = ("[removed]", "[deleted]")
_TRANSIENT = (prawcore.TooManyRequests, prawcore.ServerError, prawcore.RequestException,
              requests.ConnectionError, requests.Timeout)


def client(*, client_id: str | None, client_secret: str | None, user_agent: str,
           base_url: str | None = None, timeout_s: float = 30.0) -> praw.Reddit:
    """A read-only PRAW client; `base_url` replaces Reddit's oauth and www hosts."""
    if not client_id or not client_secret:
        raise MissingCredentials(
            "reddit: UNDERDOG_REDDIT_CLIENT_ID and UNDERDOG_REDDIT_CLIENT_SECRET are not set")
    hosts = {}
    if base_url:
        base = base_url.rstrip("/")
        hosts = {"oauth_url": base, "reddit_url": base, "short_url": base}
    return praw.Reddit(client_id=client_id, client_secret=client_secret, user_agent=user_agent,
                       check_for_updates=False, check_for_async=False, timeout=timeout_s,
                       **hosts)


def fetch_posts(
    start: datetime,
    end: datetime,
    *,
    reddit: praw.Reddit,
    subreddits: list[str],
    limit: int = 1000,
    tries: int = 4,
    backoff_s: float = 1.0,
) -> list[Document]:
    """Posts created in [start, end) in `subreddits`, newest first, one list."""
    posts: dict[str, Document] = {}
    for name in subreddits:
        for post in _with_retries(_listing, reddit, name, start, end, limit, tries=tries,
                                  backoff_s=backoff_s):
            posts.setdefault(post.item_id, post)  # a crosspost listed twice is one post
    return sorted(posts.values(), key=lambda d: d.published_at, reverse=True)


def _with_retries(fn, *args, tries: int, backoff_s: float) -> list[Document]:
    # PRAW raises its own errors, not requests': the shared policy, with PRAW's transients.
    retrying = retry_policy(tries, backoff_s, lambda exc: isinstance(exc, _TRANSIENT))
    try:
        return retrying(fn, *args)
    except prawcore.TooManyRequests as exc:
        raise RateLimited(f"reddit: HTTP 429 after {tries} attempts") from exc
    except _TRANSIENT as exc:
        raise SourceUnavailable(f"reddit: {type(exc).__name__}: {exc}") from exc
    except (prawcore.OAuthException, prawcore.ResponseException, prawcore.Forbidden) as exc:
        raise SourceUnavailable(f"reddit: refused: {type(exc).__name__}: {exc}") from exc


def _listing(reddit: praw.Reddit, name: str, start: datetime, end: datetime,
             limit: int) -> list[Document]:
    """One subreddit's /new listing back to `start` (it is sorted newest first)."""
    posts = []
    for submission in reddit.subreddit(name).new(limit=limit):
        created = datetime.fromtimestamp(submission.created_utc, tz=UTC)
        if created >= end:
            continue
        if created < start:
            break
        posts.append(_document(submission, created))
    return posts


def _document(submission: praw.models.Submission, created: datetime) -> Document:
    body = submission.selftext or ""
    return Document(source=SOURCE, item_id=submission.id, title=clean(submission.title),
                    body="" if body.strip() in REMOVED else clean(body), published_at=created,
                    url=WEB_URL + submission.permalink)
