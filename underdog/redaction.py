"""The one redaction of the project: every message, log line and console print goes through it.

Masked by pattern, without knowing the secret: URL passwords (`scheme://user:pw@host`, a
password holding `@` included), `key=value` and `key: value` credentials (libpq keyword DSNs
with quoted values, `?password=...` query parameters, `X-Api-Key: ...` headers, JSON fields)
and Bearer tokens. Masked by value: the secrets this process knows (the settings' SecretStr
fields, `*_PASSWORD`, `*_SECRET`, `*_TOKEN`, `*_KEY` variables, and the passwords of the DSNs
in `*_URL` / `*_DSN` variables, in whichever form they are written).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

MASK = "***"
# Greedy up to the last "@" before the path: a password may hold a raw "@" (libpq takes it).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s:/@?#]*:)[^\s/?#]+(?=@)", re.I)
_CREDENTIAL = re.compile(
    r"(?P<head>\b(?:api[_-]?key|apikey|access[_-]?token|token|client[_-]?secret|secret|"
    r"(?:ssl)?password|passwd|pwd)\b[\"']?\s*[=:]\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&\"',;)}\]]+)", re.I)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=\-]+", re.I)
_SECRET_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|_KEY)$")
_MIN_SECRET = 4  # shorter values would mask ordinary words


def _masked_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match['head']}{quote}{MASK}{quote}"


def dsn_passwords(dsn: str) -> set[str]:
    """The password of a DSN in any form (URL userinfo, `?password=`, keyword/value), as
    written and as libpq reads it; empty if it has none or cannot be parsed."""
    found: set[str] = set()
    try:
        raw = urlsplit(dsn).password
    except ValueError:
        raw = None
    if raw:
        found |= {raw, unquote(raw)}
    scheme, sep, rest = dsn.partition("://")
    libpq = f"{scheme.split('+')[0]}{sep}{rest}" if sep else dsn  # postgresql+psycopg2://
    try:
        from psycopg import conninfo  # here: settings import this module, keep that light

        password = conninfo.conninfo_to_dict(libpq).get("password")
    except Exception:  # noqa: BLE001 - not a libpq DSN (redis://...) or malformed
        password = None
    if password:
        found.add(str(password))
    return found


def secret_values(environ: dict[str, str] | None = None,
                  extra: Iterable[object] = ()) -> frozenset[str]:
    """The secret strings this process could leak: from the environment and the settings."""
    environ = dict(os.environ if environ is None else environ)
    found: set[str] = set()
    for name, value in environ.items():
        if not value:
            continue
        if _SECRET_ENV.search(name.upper()):
            found.add(value)
        if name.upper().endswith(("_URL", "_DSN")):
            found |= dsn_passwords(value)
    for value in extra:
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")
        passwords = dsn_passwords(text)
        found |= passwords or ({text} if "://" not in text else set())
    return frozenset(v for v in found if len(v) >= _MIN_SECRET)


def _settings_secrets() -> list[SecretStr]:
    try:
        from underdog.config import get_settings

        settings = get_settings()
    except Exception:  # noqa: BLE001 - invalid settings must not break redaction itself
        return []
    return [v for v in vars(settings).values() if isinstance(v, SecretStr)]


@lru_cache(maxsize=1)
def known_secrets() -> tuple[str, ...]:
    # Longest first: a secret that contains another is masked whole.
    return tuple(sorted(secret_values(extra=_settings_secrets()), key=len, reverse=True))


def forget_secrets() -> None:
    """Re-read the secrets (after the environment or settings changed: tests, reloads)."""
    known_secrets.cache_clear()


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every password, key and token in it replaced by ***.

    `secrets`: the values to mask besides the patterns (default: the ones this process knows).
    """
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _CREDENTIAL.sub(_masked_value, text)
    text = _BEARER.sub(lambda m: m["head"] + MASK, text)
    values = known_secrets() if secrets is None else sorted(secrets, key=len, reverse=True)
    for secret in values:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text
