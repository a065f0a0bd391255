"""The one HTTP layer every harvester uses.

A shared `requests.Session` with connect/read timeouts, urllib3 `Retry` on 429/5xx (GET only, exponential backoff,
`Retry-After` honoured up to a cap), a per-host rate limit and a User-Agent naming the tool and a contact address.
Each source (declared in its module, registered in `harvest.sources`) names the environment variable that overrides
its base URL, so that a mirror or a local test server can stand in. Secrets sent as query parameters (API keys,
contact addresses) never leave this module in a URL.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from harvest import VERSION
from harvest.errors import NotFound, UpstreamError

RETRY_STATUSES = (429, 500, 502, 503, 504)
SECRET_PARAMS = {"api_key", "email", "mailto", "apikey", "key", "appid"}


@dataclass(frozen=True)
class Source:
    """A remote service: its display name, the environment variable that overrides its base URL, and its rate."""

    name: str
    env: str
    default_url: str
    per_second: float

    @property
    def base_url(self) -> str:
        return os.environ.get(self.env, self.default_url).rstrip("/")

    @property
    def rate(self) -> float:
        """Requests per second; KB_<SOURCE>_RATE overrides it (e.g. for a local mirror)."""
        return float(os.environ.get(self.env.removesuffix("_URL") + "_RATE", self.per_second))



def contact_email() -> str:
    return os.environ.get("KB_CONTACT_EMAIL", "")


def user_agent() -> str:
    email = contact_email()
    return f"trial-kb/{VERSION} ({'mailto:' + email if email else 'set KB_CONTACT_EMAIL to give a contact'})"


def public_url(url: str) -> str:
    """`url` without secret query parameters, fit to store and to log."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Fetched:
    """One HTTP response as it is kept in `snapshots`."""

    source: str
    key: str
    url: str
    status: int
    body: bytes
    content_type: str = ""
    fetched_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class _CappedRetry(Retry):
    """Retry that never sleeps longer than KB_MAX_RETRY_AFTER seconds for one `Retry-After`."""

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, float(os.environ.get("KB_MAX_RETRY_AFTER", "60")))


class _Throttle:
    """Keeps at least 1/rate seconds between two requests to the same host."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, per_second: float) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + 1 / per_second
        time.sleep(max(0.0, start - now))


@functools.lru_cache(maxsize=4)
def _session(retries: int, backoff: float, agent: str) -> requests.Session:
    """The shared session (one per retry configuration, so tests can shorten the backoff)."""
    retry = _CappedRetry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = agent
    return session


_throttle = _Throttle()
request_count = 0


def get(source: Source, key: str, path: str = "", params: dict | None = None, accept: str = "") -> Fetched:
    """GET `source.base_url + path` for record `key`; raise NotFound on 404 and UpstreamError on any other failure."""
    global request_count
    url = source.base_url + path
    timeout = (float(os.environ.get("KB_CONNECT_TIMEOUT", "10")), float(os.environ.get("KB_READ_TIMEOUT", "60")))
    _throttle.wait(urlsplit(url).netloc, source.rate)
    request_count += 1
    try:
        session = _session(int(os.environ.get("KB_RETRIES", "5")), float(os.environ.get("KB_BACKOFF", "1")),
                           user_agent())
        response = session.get(url, params=params, timeout=timeout, headers={"Accept": accept} if accept else {})
        body = response.content
    except requests.exceptions.Timeout:
        raise UpstreamError(source.name, key, f"timed out after {timeout[1]:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        if isinstance(getattr(exc.args[0] if exc.args else None, "reason", None), ReadTimeoutError):
            raise UpstreamError(source.name, key, f"timed out after {timeout[1]:g} s") from None
        raise UpstreamError(source.name, key, f"connection to {urlsplit(url).netloc} failed") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise UpstreamError(source.name, key, f"truncated or undecodable response ({_reason(exc)})") from None
    except requests.exceptions.RequestException as exc:
        raise UpstreamError(source.name, key, f"request failed ({_reason(exc)})") from None
    if response.status_code == 404:
        raise NotFound(source.name, key, f"HTTP 404 from {public_url(response.url)}")
    if response.status_code >= 400:
        retried = " after retries" if response.status_code in RETRY_STATUSES else ""
        raise UpstreamError(source.name, key, f"HTTP {response.status_code} from {public_url(response.url)}{retried}")
    return Fetched(
        source=source.name,
        key=key,
        url=public_url(response.url),
        status=response.status_code,
        body=body,
        content_type=response.headers.get("Content-Type", ""),
    )


_SECRET_IN_TEXT = re.compile(r"\b(" + "|".join(SECRET_PARAMS) + r")=[^&\s'\")]*", re.IGNORECASE)


def _reason(exc: Exception) -> str:
    """A requests/urllib3 error as a short phrase, with any secret query value blanked."""
    return _SECRET_IN_TEXT.sub(r"\1=(hidden)", str(exc) or type(exc).__name__)[:300]
