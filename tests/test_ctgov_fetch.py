"""fetch_study and search against a loopback server replaying recorded responses, including every failure mode."""

import json
import socket

import pytest
import requests
from pytest_socket import SocketConnectBlockedError

from harvest import http
from harvest.errors import BadIdentifier, NotFound, ParseError, UpstreamError
from harvest.registries import ctgov

from .conftest import fixture_bytes
from .loopback import Reply

STUDY = fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
PATH = "/ctgov/studies/NCT00791778"


def test_network_is_blocked_in_tests():
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("93.184.216.34", 80), timeout=1)


@pytest.mark.parametrize("bad", ["NCT123", "nct0079177", "NCT007917780", "12345678", "", "NCT0079177X", "NCT 00791778"])
def test_malformed_identifier_is_refused_before_any_request(server, bad):
    with pytest.raises(BadIdentifier, match="NCT followed by 8 digits"):
        ctgov.fetch_study(bad)
    assert server.requests == []


def test_fetch_is_case_insensitive_and_keeps_the_body(server):
    server.route(PATH, Reply(200, STUDY))
    fetched = ctgov.fetch_study("nct00791778")
    assert fetched.key == "NCT00791778" and fetched.body == STUDY and fetched.status == 200
    assert fetched.url.startswith(server.url + PATH)


def test_alias_redirect_is_followed(server):
    server.route("/ctgov/studies/NCT00000001", Reply(301, b"", {"Location": PATH + "?format=json"}))
    server.route(PATH, Reply(200, STUDY))
    fetched = ctgov.fetch_study("NCT00000001")
    assert fetched.url.startswith(server.url + PATH) and ctgov.parse_study(fetched.body)["nct_id"] == "NCT00791778"


def test_404_is_not_found(server):
    server.route("/ctgov/studies/NCT09999999", Reply(404, b'{"message": "not found"}'))
    with pytest.raises(NotFound, match=r"ClinicalTrials.gov NCT09999999: not found"):
        ctgov.fetch_study("NCT09999999")


def test_429_with_retry_after_then_success(server):
    server.route(PATH, Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, STUDY))
    assert ctgov.fetch_study("NCT00791778").body == STUDY
    assert server.count(PATH) == 2


def test_500_storm_gives_up_with_a_clear_message(server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "3")
    server.route(PATH, Reply(500, b"oops"))
    with pytest.raises(UpstreamError,
                       match=r"^ClinicalTrials.gov NCT00791778: upstream failure: HTTP 500 from .* after retries$"):
        ctgov.fetch_study("NCT00791778")
    assert server.count(PATH) == 4


def test_read_timeout(server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "0")
    server.route(PATH, Reply(200, STUDY, delay=2))
    with pytest.raises(UpstreamError, match="timed out"):
        ctgov.fetch_study("NCT00791778")


def test_truncated_body_under_full_content_length(server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "0")
    server.route(PATH, Reply(200, STUDY, truncate=True))
    with pytest.raises(UpstreamError, match="NCT00791778"):
        ctgov.fetch_study("NCT00791778")


def test_connection_reset(server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "0")
    server.route(PATH, Reply(reset=True))
    with pytest.raises(UpstreamError, match="NCT00791778: upstream failure"):
        ctgov.fetch_study("NCT00791778")


def test_json_that_is_not_a_study(server):
    server.route(PATH, Reply(200, b'{"studies": [], "nextPageToken": null}'))
    with pytest.raises(ParseError, match="not a ClinicalTrials.gov study"):
        ctgov.parse_study(ctgov.fetch_study("NCT00791778").body, "NCT00791778")


def test_search_follows_next_page_token_to_the_end(server):
    page1 = fixture_bytes("ctgov", "v2_search_page1_phelan_limit5_biomcp.json")
    page2 = json.loads(fixture_bytes("ctgov", "v2_search_page2_phelan_next_biomcp.json"))
    token = json.loads(page1)["nextPageToken"]
    last = json.dumps({**page2, "nextPageToken": None}).encode()  # the recorded page 2 has a further token; end here
    server.route("/ctgov/studies", Reply(200, page1), Reply(200, last))
    pages = list(ctgov.search(page_size=5, query_cond="Phelan-McDermid Syndrome", fields=["NCTId", "BriefTitle"]))
    assert len(pages) == 2
    (_, first), (_, second) = server.requests
    assert (first["query.cond"] == ["Phelan-McDermid Syndrome"] and first["pageSize"] == ["5"]
            and "pageToken" not in first)
    assert second["pageToken"] == [token] and second["fields"] == ["NCTId,BriefTitle"]
    studies = [s for page in pages for s in ctgov.parse_search_page(page.body)["studies"]]
    assert len(studies) == 10 and json.loads(page1)["totalCount"] == 21


def test_search_page_size_is_bounded(server):
    with pytest.raises(BadIdentifier, match="page size"):
        next(ctgov.search(page_size=1001))
    assert server.requests == []


def test_secrets_never_reach_a_stored_url(server, monkeypatch):
    server.route(PATH, Reply(200, STUDY))
    fetched = http.get(ctgov.SOURCE, "NCT00791778", "/studies/NCT00791778",
                       params={"api_key": "SECRET", "email": "me@x.org", "format": "json"})
    assert "SECRET" not in fetched.url and "me@x.org" not in fetched.url and "format=json" in fetched.url
    assert http.public_url("https://h/p?api_key=1&tool=trial-kb&mailto=a@b") == "https://h/p?tool=trial-kb"


def test_user_agent_names_tool_and_contact(server, monkeypatch):
    monkeypatch.setenv("KB_CONTACT_EMAIL", "curator@example.org")
    seen = {}

    def capture(self, request, **kwargs):
        seen.update(request.headers)
        raise requests.exceptions.ConnectionError("stop")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", capture)
    with pytest.raises(UpstreamError):
        ctgov.fetch_study("NCT00791778")
    assert seen["User-Agent"].startswith("trial-kb/") and "curator@example.org" in seen["User-Agent"]
