"""Reddit through the real PRAW client, pointed at a local server that answers its
application-only OAuth token request and /r/<sub>/new listings like Reddit does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.sources.json_server import Answer, Api, serve_api
from underdog.sources.documents import MissingCredentials, RateLimited, SourceUnavailable
from underdog.sources.reddit import client, fetch_posts

START, END = datetime(2024, 3, 11, tzinfo=UTC), datetime(2024, 3, 12, tzinfo=UTC)
TOKEN = Answer(200, {"access_token": "eyJhbGciOi.test-token", "token_type": "bearer",
                     "expires_in": 86400, "scope": "*"})
RATE = {"x-ratelimit-remaining": "995.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "300"}


def post(post_id: str, created: datetime, sub: str = "forex", **extra: object) -> dict:
    return {"kind": "t3", "data": {
        "id": post_id, "name": f"t3_{post_id}", "subreddit": sub,
        "subreddit_name_prefixed": f"r/{sub}", "author": "pip_hunter",
        "title": f"Long EUR/USD from 1.0950 ({post_id})",
        "selftext": "Took a long on the retest. Target is the January high.",
        "created_utc": created.timestamp(), "created": created.timestamp(),
        "permalink": f"/r/{sub}/comments/{post_id}/long_eurusd/",
        "url": f"https://www.reddit.com/r/{sub}/comments/{post_id}/long_eurusd/",
        "score": 12, "num_comments": 4, "stickied": False, "over_18": False, "is_self": True,
        **extra}}


def listing(*children: dict, after: str | None = None) -> Answer:
    return Answer(200, {"kind": "Listing", "data": {
        "after": after, "dist": len(children), "modhash": None, "geo_filter": "",
        "children": list(children), "before": None}}, RATE)


@pytest.fixture
def api() -> Iterator[Api]:
    with serve_api() as served:
        served.route("/api/v1/access_token", TOKEN, method="POST")
        yield served


def fetch(api: Api, subreddits: list[str], **kwargs: object):
    reddit = client(client_id="app-id", client_secret="app-secret",
                    user_agent="python:underdog-tests:v0.1", base_url=api.base_url)
    return fetch_posts(START, END, reddit=reddit, subreddits=subreddits,
                       **{"tries": 3, "backoff_s": 0.01, **kwargs})


def test_application_only_oauth_then_the_new_listing_back_to_the_window(api: Api) -> None:
    api.route("/r/forex/new", listing(
        post("1bz9a1", datetime(2024, 3, 12, 0, 5, tzinfo=UTC)),  # after the window
        post("1bz8k2", datetime(2024, 3, 11, 15, 0, tzinfo=UTC), selftext="[removed]"),
        post("1bz7c3", datetime(2024, 3, 11, 9, 30, tzinfo=UTC)),
        post("1bz6d4", datetime(2024, 3, 10, 22, 0, tzinfo=UTC)),  # before: the end of it
        after="t3_1bz6d4"))
    docs = fetch(api, ["forex"])
    assert [d.item_id for d in docs] == ["1bz8k2", "1bz7c3"]
    removed, kept = docs
    assert removed.body == "" and kept.body.startswith("Took a long")
    assert kept.source == "reddit" and kept.title == "Long EUR/USD from 1.0950 (1bz7c3)"
    assert kept.published_at == datetime(2024, 3, 11, 9, 30, tzinfo=UTC)
    assert kept.url == "https://www.reddit.com/r/forex/comments/1bz7c3/long_eurusd/"
    [token] = api.calls("/api/v1/access_token")
    assert token.basic_auth == ("app-id", "app-secret")
    assert token.form["grant_type"] == "client_credentials"
    [page] = api.calls("/r/forex/new")  # the listing ended inside the window: no next page
    assert page.headers["authorization"] == "bearer eyJhbGciOi.test-token"
    assert page.headers["user-agent"].startswith("python:underdog-tests:v0.1")


def test_pages_through_after_and_reads_every_subreddit(api: Api) -> None:
    api.route("/r/forex/new",
              listing(post("a1", datetime(2024, 3, 11, 20, tzinfo=UTC)), after="t3_a1"),
              listing(post("a2", datetime(2024, 3, 11, 10, tzinfo=UTC))))
    api.route("/r/economics/new",
              listing(post("b1", datetime(2024, 3, 11, 12, tzinfo=UTC), sub="economics")))
    docs = fetch(api, ["forex", "economics"])
    assert [d.item_id for d in docs] == ["a1", "b1", "a2"]  # newest first
    assert api.calls("/r/forex/new")[1].query["after"] == "t3_a1"


def test_a_429_is_retried_with_backoff(api: Api) -> None:
    api.route("/r/forex/new", Answer(429, {"message": "Too Many Requests", "error": 429}),
              listing(post("a1", datetime(2024, 3, 11, 20, tzinfo=UTC))))
    assert [d.item_id for d in fetch(api, ["forex"])] == ["a1"]
    api.route("/r/forex/new", Answer(429, {"message": "Too Many Requests", "error": 429}))
    with pytest.raises(RateLimited, match="429"):
        fetch(api, ["forex"])


def test_refused_credentials_are_reported(api: Api) -> None:
    api.route("/api/v1/access_token", Answer(401, {"message": "Unauthorized", "error": 401}),
              method="POST")
    with pytest.raises(SourceUnavailable, match="refused"):
        fetch(api, ["forex"])


def test_missing_credentials_skip_the_source() -> None:
    with pytest.raises(MissingCredentials, match="UNDERDOG_REDDIT_CLIENT_ID"):
        client(client_id=None, client_secret="x", user_agent="ua")
