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
    """The source failed: 429/5xx after retries, timeout, connection error."""

    kind = "upstream failure"


class ParseError(HarvestError):
    """The response arrived but is not what the source promises (truncated, malformed, wrong shape)."""

    kind = "parse failure"
