"""Typed harvest errors. Every message names the source and the identifier, on one line."""


class HarvestError(Exception):
    """Base class: `source` is e.g. "ClinicalTrials.gov", `identifier` e.g. "NCT02193698"."""

    kind = "error"

    def __init__(self, source: str, identifier: str, reason: str):
        self.source = source
        self.identifier = identifier
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{source} {identifier}: {self.kind}: {self.reason}")


class BadIdentifier(HarvestError):
    """The identifier is malformed; raised before any request is made."""

    kind = "invalid identifier"


class NotFound(HarvestError):
    """The source answered that it has no such record."""

    kind = "not found"


class UpstreamError(HarvestError):
    """The source failed: 429/5xx after retries, timeout, deadline, connection error, response over the size cap."""

    kind = "upstream failure"


class HostPaused(UpstreamError):
    """The host is left alone for a while: it asked for a longer pause than trial-kb waits (a 429 or 503 with a long
    `Retry-After`) or failed several requests in a row. No request is sent to it until the pause ends."""

    kind = "host paused"


class Interrupted(HarvestError):
    """A stop was requested (SIGTERM or SIGINT during `kb refresh`) while the request was in flight; nothing of its
    response is kept."""

    kind = "interrupted"


class ParseError(HarvestError):
    """The response arrived but is not what the source promises (truncated, malformed, wrong shape)."""

    kind = "parse failure"
