"""The one HTTP layer every harvester uses.

`get` sends a GET with a User-Agent naming the tool and a contact address, at each source's rate, and answers a
`Fetched` or raises one `HarvestError` naming the source and the record. Its rules:

- **Bounded time.** One request, whatever happens (connect, redirects, retries and their waits, the whole body), ends
  within KB_REQUEST_DEADLINE seconds (default 120): a watchdog cuts the connection when the deadline passes, so a
  server trickling one byte a second is abandoned. A stop request (`interrupt`, called by `kb refresh` on SIGTERM or
  SIGINT) gives the request in flight STOP_GRACE seconds to finish, then cuts it and raises `Interrupted`.
- **Bounded memory.** The body is streamed and counted after decompression; past KB_MAX_BODY_BYTES (default 64 MiB)
  the request is abandoned (a gzip body that inflates to gigabytes is never held).
- **Retry only what can succeed**: 429 and 5xx answers, timeouts, a connection dropped mid-answer (KB_RETRIES,
  backoff KB_BACKOFF × 1, 2, 4, … s, or the server's `Retry-After`). A name that does not resolve and a refused
  connection fail at once, without retry: offline, a build fails in seconds.
- **Pauses are per host.** A retry's wait pauses every request to that host. A `Retry-After` longer than
  KB_MAX_RETRY_AFTER (default 60 s), or KB_HOST_FAILURES (default 3) failed requests in a row, pauses the host for
  that long (KB_HOST_PAUSE, default 600 s, for failures): until then a request to it raises `HostPaused` at once,
  which `kb refresh` takes as the sign to stop and leave the rest for the next run.
- **Secrets never leave.** Secret query parameters (API keys, contact addresses) are dropped from every URL kept or
  shown, and the secret values themselves (NCBI_API_KEY, KB_CONTACT_EMAIL, CINII_APPID and any secret parameter), plain
  or percent-encoded, are replaced by "(hidden)" in every URL, message and kept body (a redirect may carry the
  original query inside another parameter; a response may echo it).

Each source (declared in its module, registered in `harvest.sources`) names the environment variable that overrides
its base URL, so that a mirror or a local test server can stand in.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from urllib3.exceptions import DecodeError, NewConnectionError, ReadTimeoutError, SSLError

from harvest import VERSION, transport
from harvest.errors import HarvestError, HostPaused, Interrupted, NotFound, UpstreamError
from harvest.transport import interrupt, resume, setting  # noqa: F401 (the HTTP layer's API: kb.schedule stops it)

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECTS = (301, 302, 303, 307, 308)
SECRET_PARAMS = {"api_key", "email", "mailto", "apikey", "key", "appid"}
SECRET_ENV = ("NCBI_API_KEY", "KB_CONTACT_EMAIL", "CINII_APPID")  # values hidden wherever they appear
HIDDEN = "(hidden)"
CHUNK = 64 * 1024  # body bytes per read, after decompression
MAX_REDIRECTS = 10


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


# --- secrets ---------------------------------------------------------------------------------------------------------


def _secret_values(params: dict | None = None) -> list[str]:
    """The configured secret values and those of secret parameters (4 characters or more: shorter ones would hide
    ordinary text), longest first."""
    values = [os.environ.get(name, "") for name in SECRET_ENV]
    values += [str(v) for k, v in (params or {}).items() if k.lower() in SECRET_PARAMS]
    return sorted({v.strip() for v in values if len(v.strip()) >= 4}, key=len, reverse=True)


def _encoded(char: str) -> str:
    """A regex for `char` written plainly or percent-encoded, once or more (%40, %2540, ...)."""
    encodings = ["".join(f"%(?:25)*{b:02x}" for b in char.encode())] + [r"\+"] * (char == " ")
    return "(?:" + "|".join([re.escape(char), *encodings]) + ")"


@functools.lru_cache(maxsize=32)
def _secret_regex(values: tuple[str, ...]) -> re.Pattern | None:
    return re.compile("|".join("".join(map(_encoded, v)) for v in values), re.IGNORECASE) if values else None


def redact(text: str, params: dict | None = None) -> str:
    """`text` with every secret value (see `_secret_values`), plain or percent-encoded, replaced by (hidden)."""
    regex = _secret_regex(tuple(_secret_values(params)))
    return regex.sub(HIDDEN, text) if regex else text


def _redact_bytes(body: bytes, params: dict | None) -> bytes:
    """`body` with the secret values hidden (a response may echo the request, e.g. CiNii's `@id`). The full search
    (0.5 s a megabyte) runs only on a body holding the longest unencoded part of a value (letters, digits, -._~,
    which URL encoders leave alone), as written, lower- or upper-cased."""
    values = _secret_values(params)
    anchors = {case(max(re.findall(r"[\w.~-]+", v), key=len, default=v)).encode()
               for v in values for case in (str, str.lower, str.upper)}
    if not any(anchor in body for anchor in anchors):
        return body
    return _bytes_regex(_secret_regex(tuple(values)).pattern).sub(HIDDEN.encode(), body)


@functools.lru_cache(maxsize=32)
def _bytes_regex(pattern: str) -> re.Pattern:
    return re.compile(pattern.encode(), re.IGNORECASE)


def public_url(url: str, params: dict | None = None) -> str:
    """`url` without secret query parameters and with secret values hidden, fit to store and to log."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    return redact(urlunsplit(parts._replace(query=urlencode(query))), params)


_SECRET_IN_TEXT = re.compile(r"\b(" + "|".join(SECRET_PARAMS) + r")=[^&\s'\")]*", re.IGNORECASE)


def _reason(exc: BaseException, params: dict | None = None) -> str:
    """A requests/urllib3 error as a short phrase, with secret query values and secret values hidden."""
    return redact(_SECRET_IN_TEXT.sub(rf"\1={HIDDEN}", str(exc) or type(exc).__name__), params)[:300]


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


request_count = 0  # requests sent by `get` (its retries and redirects not counted again)


def reset_hosts() -> None:
    """Forget every host's rate slot, pause and failures (tests; a long-lived process keeps them)."""
    transport.hosts.reset()


class _Retry(Exception):
    """A failure that may succeed if asked again: `reason` for the final message, `what` failed ("HTTP 429"), and
    the server's `wait` (Retry-After) if it gave one."""

    def __init__(self, reason: str, wait: float | None = None, what: str = ""):
        super().__init__(reason)
        self.reason, self.wait, self.what = reason, wait, what or reason


class _Call:
    """One call of `get`: its settings (read once), deadline, secrets and watchdog."""

    def __init__(self, source: Source, key: str, params: dict | None):
        self.source, self.key, self.params = source, key, params
        self.limit = setting("KB_REQUEST_DEADLINE", 120)
        self.deadline = time.monotonic() + self.limit
        self.retries, self.backoff = int(setting("KB_RETRIES", 5)), setting("KB_BACKOFF", 1)
        self.connect, self.read = setting("KB_CONNECT_TIMEOUT", 10), setting("KB_READ_TIMEOUT", 60)
        self.max_wait = setting("KB_MAX_RETRY_AFTER", 60)
        self.cap = int(setting("KB_MAX_BODY_BYTES", 64 * 2**20))
        self.flight: transport.Flight | None = None
        self.sent = False  # whether a request went out (one paused or stopped before it is not counted)

    def error(self, reason: str, kind: type = UpstreamError, host: str | None = None) -> HarvestError:
        """The error to raise, secrets hidden; naming `host` counts a failed request to it."""
        if host is not None:
            transport.hosts.failed(host)
        return kind(self.source.name, self.key, redact(reason, self.params))

    def ended(self, why: str, received: int, host: str) -> HarvestError:
        """The error of a request that must end: a stop's grace is over, or the deadline passed."""
        if why == "stop":
            return self.error(f"stopped by {transport.stop_reason() or 'a stop request'} while waiting for the "
                              f"response ({received:,} bytes received); nothing of it kept", Interrupted)
        return self.error(f"no complete response within {self.limit:g} s (KB_REQUEST_DEADLINE; {received:,} bytes "
                          "received); abandoned", host=host)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, ending at once with Interrupted when a stop is requested."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if transport.stop_reason():
                raise self.error(f"stopped by {transport.stop_reason()} while waiting to retry; nothing kept",
                                 Interrupted)
            time.sleep(min(left, 0.05))

    def wait_for(self, host: str, last: str) -> None:
        """Wait for the host's next slot; HostPaused if it is paused for longer than a request waits."""
        wait, why = transport.hosts.slot(host, self.source.rate)
        if why and wait > self.max_wait:
            raise self.error(f"{host} is paused until {transport.clock(wait)} ({why}); no request sent", HostPaused)
        if wait > self.deadline - time.monotonic():
            raise self.error(f"{last or 'waiting for ' + host}; gave up: the next try would start after the "
                             f"{self.limit:g} s deadline (KB_REQUEST_DEADLINE)", host=host)
        self.sleep(wait)

    def timeouts(self) -> tuple[float, float]:
        left = max(0.01, self.deadline - time.monotonic())
        return min(self.connect, left), min(self.read, left)

    def transport_error(self, exc: BaseException, host: str, received: int = 0) -> Exception:
        """The error to raise (or _Retry) for an exception raised while talking to `host`."""
        if why := self.flight.cut or transport.due(self.deadline):
            return self.ended(why, received, host)
        found = list(transport.causes(exc))

        def has(*types) -> bool:
            return any(isinstance(c, types) for c in found)

        reason = _reason(exc, self.params)
        if has(socket.gaierror):
            return self.error(f"cannot resolve {host} (no network, or no such name); not retried", host=host)
        if has(ConnectionRefusedError):
            return self.error(f"connection to {host} refused; not retried", host=host)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return _Retry(f"connection to {host} timed out after {self.timeouts()[0]:g} s")
        if has(ReadTimeoutError, TimeoutError, requests.exceptions.ReadTimeout):
            return _Retry(f"timed out after {self.read:g} s")
        if has(NewConnectionError):
            return self.error(f"cannot connect to {host} ({reason}); not retried", host=host)
        if has(SSLError, requests.exceptions.SSLError):
            return self.error(f"TLS failure with {host} ({reason}); not retried", host=host)
        if has(DecodeError, requests.exceptions.ContentDecodingError):
            return self.error(f"undecodable response ({reason})", host=host)
        return _Retry(f"truncated or dropped response ({reason})")

    def body(self, response: requests.Response, host: str) -> bytes:
        """The decompressed body, read a chunk at a time (each read returns what one socket read gave, so a trickle
        is seen), checking the deadline, a stop and the size cap between chunks."""
        too_large = (f"response larger than {self.cap:,} bytes once decompressed (KB_MAX_BODY_BYTES); abandoned, "
                     "nothing kept")
        length, encoding = response.headers.get("Content-Length", ""), response.headers.get("Content-Encoding")
        if length.isdigit() and int(length) > self.cap and encoding in (None, "identity"):
            raise self.error(too_large)
        self.flight.attach(transport.response_socket(response))
        body = bytearray()
        while True:
            if why := self.flight.cut or transport.due(self.deadline):
                raise self.ended(why, len(body), host)
            try:
                chunk = response.raw.read1(CHUNK, decode_content=True)
            except Exception as exc:
                raise self.transport_error(exc, host, len(body)) from None
            if not chunk:
                return bytes(body)
            if len(body) + len(chunk) > self.cap:
                raise self.error(too_large)
            body += chunk

    def run(self, url: str, accept: str) -> Fetched:
        """Send, follow redirects, retry what may succeed (each wait pausing the host), until done or given up."""
        params, tries, hops, last = self.params, 0, 0, ""
        while True:
            host = urlsplit(url).netloc
            self.wait_for(host, last)
            tries += 1
            try:
                outcome = self.exchange(url, params, accept, host)
            except _Retry as retry:
                last = retry.reason + (f" ({tries} tries)" if tries > 1 else "")
                wait = retry.wait if retry.wait is not None else min(self.backoff * 2 ** (tries - 1), self.max_wait)
                if wait > self.max_wait:
                    why = (f"{retry.what} with Retry-After {wait:g} s, more than KB_MAX_RETRY_AFTER "
                           f"({self.max_wait:g} s)")
                    transport.hosts.pause(host, wait, why)
                    raise self.error(f"{host} answered {why}: not asked again until {transport.clock(wait)}",
                                     HostPaused) from None
                if tries > self.retries:
                    final = retry.reason + " after retries" if retry.reason.startswith("HTTP ") else last
                    raise self.error(final, host=host) from None
                transport.hosts.pause(host, wait, f"{retry.what}, retry in {wait:g} s")
                continue
            if isinstance(outcome, Fetched):
                return outcome
            hops += 1
            if hops > MAX_REDIRECTS:
                raise self.error(f"more than {MAX_REDIRECTS} redirects, the last to {public_url(outcome, self.params)}")
            url, params = outcome, None

    def exchange(self, url: str, params: dict | None, accept: str, host: str) -> Fetched | str:
        """One request: the Fetched, or the URL a redirect points to; raises _Retry or the error."""
        self.sent = True
        try:
            response = transport.session(user_agent()).get(
                url, params=params, timeout=self.timeouts(), stream=True, allow_redirects=False,
                headers={"Accept": accept} if accept else {})
        except requests.exceptions.RequestException as exc:
            raise self.transport_error(exc, host) from None
        try:
            shown, status = public_url(response.url, self.params), response.status_code
            if status in RETRY_STATUSES:
                raise _Retry(f"HTTP {status} from {shown}", transport.retry_after(response), f"HTTP {status}")
            transport.hosts.ok(host)
            if status in REDIRECTS and response.headers.get("Location"):
                return urljoin(response.url, response.headers["Location"])
            if status == 404:
                raise self.error(f"HTTP 404 from {shown}", NotFound)
            if status >= 400:
                raise self.error(f"HTTP {status} from {shown}")
            body = self.body(response, host)
            self.flight.detach()
            response.raw.release_conn()
            return Fetched(source=self.source.name, key=self.key, url=shown, status=status,
                           body=_redact_bytes(body, self.params), content_type=response.headers.get("Content-Type", ""))
        finally:
            self.flight.detach()
            response.close()


def get(source: Source, key: str, path: str = "", params: dict | None = None, accept: str = "") -> Fetched:
    """GET `source.base_url + path` for record `key` under the rules of this module; raise NotFound on 404,
    HostPaused when the host is paused, Interrupted on a stop request and UpstreamError on any other failure."""
    global request_count
    call = _Call(source, key, params)
    if transport.stop_reason():
        raise call.error(f"stopped by {transport.stop_reason()}; not sent", Interrupted)
    call.flight = transport.Flight(call.deadline)
    try:
        return call.run(source.base_url + path, accept)
    finally:
        call.flight.land()
        request_count += call.sent
