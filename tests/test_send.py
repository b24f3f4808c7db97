"""The one send path and the one retry decision, without sockets.

``MockTransport`` answers in memory, so these tests see every hop a request
took, which hop carried the token, and what the retry decision said. The
hostile-server tests (real sockets) are in ``test_hostile_servers.py``.
"""

from __future__ import annotations

import math
import random
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiocircleci import (
    DEFAULT_MAX_BODY_SIZE,
    Client,
    ConfigurationError,
    ConnectError,
    DecodeError,
    Downloader,
    DownloadRequest,
    Limits,
    MockTransport,
    RedirectError,
    Request,
    Response,
    ResponseTooLarge,
    RetryPolicy,
    Timeout,
)
from aiocircleci._auth import OriginPolicy, Token
from aiocircleci._config import from_env
from aiocircleci._http import origin_of
from aiocircleci._retry import GiveUp, Outcome, Retry, decide
from aiocircleci.errors import IncompleteDownload, TimeoutError

API = "https://circleci.example/api/v2"
TOKEN = "send-path-token-0123456789"
UNLIMITED = Limits(rate=math.inf, burst=100)
FAST = RetryPolicy(backoff_base=0.001, backoff_cap=0.002)
USER = b'{"id": "u1", "login": "octo", "name": "Octo"}'


def _token_of(request: Request) -> str | None:
    value: str | None = request.headers.get("Circle-Token")
    return value


# ---------------------------------------------------------------- the retry decision


def _decide(outcome: Outcome, method: str = "GET", **kw: float) -> Retry | GiveUp:
    args: dict[str, float] = {"attempt": 0, "limited": 0, "elapsed": 0.0, "now": 1e9}
    args.update(kw)
    return decide(
        outcome,
        attempt=int(args["attempt"]),
        limited=int(args["limited"]),
        method=method,
        elapsed=args["elapsed"],
        policy=RetryPolicy(),
        rng=random.Random(1),
        now=args["now"],
        time_left=kw.get("time_left"),
    )


def test_a_429_is_retried_for_any_method_and_cools_down_the_whole_origin() -> None:
    for method in ("GET", "POST"):
        decision = _decide(Outcome(429, retry_after="7"), method)
        assert decision == Retry(7.0, cool_down=True)


def test_a_429_beyond_its_budget_gives_up_with_the_wait_the_server_asked_for() -> None:
    decision = _decide(Outcome(429, retry_after="7"), limited=19)
    assert decision == GiveUp(retry_after=7.0)


def test_a_5xx_or_a_dropped_connection_is_retried_for_get_never_for_post() -> None:
    dropped = ConnectError("server disconnected")
    assert isinstance(_decide(Outcome(503)), Retry)
    assert isinstance(_decide(Outcome(error=dropped)), Retry)
    assert _decide(Outcome(503), "POST") == GiveUp()
    assert _decide(Outcome(error=dropped), "POST") == GiveUp()


def test_a_bad_redirect_or_a_body_too_large_is_never_asked_again() -> None:
    assert _decide(Outcome(error=RedirectError("x"))) == GiveUp()
    assert _decide(Outcome(error=ResponseTooLarge("x"))) == GiveUp()
    assert _decide(Outcome(404)) == GiveUp()


def test_retries_stop_at_max_attempts_and_at_the_calls_deadline() -> None:
    assert _decide(Outcome(503), attempt=4) == GiveUp()
    assert _decide(Outcome(503), time_left=0.0) == GiveUp()
    # A 503 with Retry-After longer than what is left of the deadline: give up now.
    assert _decide(Outcome(503, retry_after="30"), time_left=10.0) == GiveUp()


# ---------------------------------------------------------------- hops and the token


@pytest.mark.anyio
async def test_the_token_goes_hop_by_hop_and_never_to_another_origin() -> None:
    def handler(request: Request) -> Response:
        if request.url.endswith("/me"):
            return MockTransport.response(302, headers={"Location": API + "/me/moved"})
        if request.url.endswith("/moved"):
            return MockTransport.response(307, headers={"Location": "https://elsewhere.example/u"})
        return MockTransport.response(200, USER)

    transport = MockTransport(handler)
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        user = await client.me()
    assert user.login == "octo"
    hops = [(r.url, _token_of(r)) for r in transport.requests]
    assert hops == [
        (API + "/me", TOKEN),
        (API + "/me/moved", TOKEN),  # same origin: still the API
        ("https://elsewhere.example/u", None),
    ]


@pytest.mark.anyio
async def test_a_303_turns_a_post_into_a_get_without_its_body() -> None:
    def handler(request: Request) -> Response:
        if request.method == "POST":
            return MockTransport.response(303, headers={"Location": "/api/v2/me"})
        return MockTransport.response(200, USER)

    transport = MockTransport(handler)
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        await client.request("POST", "/thing", json={"a": 1}, type=dict[str, str])
    assert [(r.method, r.body) for r in transport.requests] == [
        ("POST", b'{"a":1}'),
        ("GET", None),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "location",
    ["ftp://example.com/x", "javascript:alert(1)", "http://127.0.0.1:99999/", "http://[::1"],
)
async def test_a_redirect_to_a_url_that_is_not_http_is_a_redirect_error(location: str) -> None:
    transport = MockTransport(lambda r: MockTransport.response(302, headers={"Location": location}))
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        with pytest.raises(RedirectError):
            await client.me()
    assert len(transport.requests) == 1


@pytest.mark.anyio
async def test_a_redirect_loop_stops_after_five_hops() -> None:
    transport = MockTransport(
        lambda r: MockTransport.response(302, headers={"Location": API + "/me"})
    )
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        with pytest.raises(RedirectError, match="more than 5 redirects"):
            await client.me()
    assert len(transport.requests) == 6


# ---------------------------------------------------------------- bodies


@pytest.mark.anyio
async def test_gzip_is_undone_by_the_send_path_and_an_unknown_encoding_is_a_decode_error() -> None:
    encoding = {"value": "gzip"}

    def handler(request: Request) -> Response:
        body = zlib.compress(USER, wbits=31) if encoding["value"] == "gzip" else USER
        return MockTransport.response(200, body, {"Content-Encoding": encoding["value"]})

    transport = MockTransport(handler)
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        assert (await client.me()).login == "octo"
        encoding["value"] = "br"
        with pytest.raises(DecodeError, match="Content-Encoding"):
            await client.me()
    assert transport.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.anyio
async def test_a_body_longer_than_its_content_length_is_an_error_and_closes_the_stream() -> None:
    transport = MockTransport(lambda r: MockTransport.response(200, USER, {"Content-Length": "10"}))
    async with Client(
        TOKEN, base_url=API, transport=transport, limits=UNLIMITED, retry=FAST
    ) as client:
        with pytest.raises(ConnectError, match="longer than its Content-Length"):
            await client.me()
    # Every answer that broke its framing was closed: its connection is never reused.
    assert transport.closed == transport.requests
    assert len(transport.requests) == FAST.max_attempts  # a GET: retried, every time refused


@pytest.mark.anyio
async def test_an_announced_body_past_the_cap_is_refused_before_it_is_read() -> None:
    size = DEFAULT_MAX_BODY_SIZE + 1
    transport = MockTransport(
        lambda r: MockTransport.response(200, b"", {"Content-Length": str(size)})
    )
    async with Client(TOKEN, base_url=API, transport=transport, limits=UNLIMITED) as client:
        with pytest.raises(ResponseTooLarge):
            await client.me()


# ---------------------------------------------------------------- downloads


class FakeTime:
    """A clock that moves only when someone sleeps: a sleeper first lets every
    other task run (file work takes a thread hop, so a few real milliseconds),
    then moves the clock to its wake-up time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import anyio

        wake = self.now + max(seconds, 0.0)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        self.now = max(self.now, wake)


@pytest.mark.anyio
async def test_a_429_from_an_artifact_host_holds_that_hosts_downloads_only(
    tmp_path: Path,
) -> None:
    clock = FakeTime()
    seen: list[tuple[str, float, int]] = []

    def handler(request: Request) -> Response:
        host = request.url.split("/")[2]
        limited = host == "a.example" and clock.now < 30
        seen.append((host, clock.now, 429 if limited else 200))
        if limited:
            return MockTransport.response(429, headers={"Retry-After": "30"})
        return MockTransport.response(200, b"data", {"Content-Length": "4"})

    requests = [DownloadRequest(f"https://a.example/{n}", f"a{n}") for n in range(3)]
    requests.append(DownloadRequest("https://b.example/0", "b0"))
    async with Downloader(
        tmp_path,
        workers=4,
        transport=MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: 1e9,
    ) as dl:
        for request in requests:
            await dl.submit(request)
    assert dl.report.ok, dl.report.failed
    a_answers = [(t, status) for host, t, status in seen if host == "a.example"]
    b_answers = [(t, status) for host, t, status in seen if host == "b.example"]
    # Every task talking to a.example waited for the one cool-down: nobody
    # asked twice before it ended, and every success came after it.
    assert sum(1 for _, status in a_answers if status == 429) <= 3
    assert all(t >= 30 for t, status in a_answers if status == 200)
    # b.example was never held.
    assert b_answers == [(0.0, 200)], seen


@pytest.mark.anyio
async def test_a_download_longer_than_its_content_length_fails_and_its_stream_is_closed(
    tmp_path: Path,
) -> None:
    transport = MockTransport(
        lambda r: MockTransport.response(200, b"0123456789", {"Content-Length": "4"})
    )
    async with Downloader(tmp_path, transport=transport, retry=RetryPolicy(max_attempts=1)) as dl:
        await dl.submit(DownloadRequest("https://a.example/x", "x"))
    [failed] = dl.report.failed
    assert isinstance(failed.error, IncompleteDownload)
    assert not (tmp_path / "x").exists()
    assert transport.closed == transport.requests


@pytest.mark.anyio
async def test_the_download_token_follows_the_policy_hop_by_hop(tmp_path: Path) -> None:
    def handler(request: Request) -> Response:
        if "artifacts" in request.url:
            return MockTransport.response(302, headers={"Location": "https://s3.example/o?sig=1"})
        return MockTransport.response(200, b"data", {"Content-Length": "4"})

    transport = MockTransport(handler)
    policy = OriginPolicy.for_hosts(API, ["*.circle-artifacts.com"])
    async with Downloader(tmp_path, token=Token(TOKEN), policy=policy, transport=transport) as dl:
        await dl.submit(DownloadRequest("https://1-2-gh.circle-artifacts.com/0/a", "a"))
    assert dl.report.ok
    assert [_token_of(r) for r in transport.requests] == [TOKEN, None]
    assert transport.requests[0].headers["Accept-Encoding"] == "identity"


# ---------------------------------------------------------------- configuration


def test_from_env_reads_every_setting_once_and_refuses_nonsense() -> None:
    config = from_env(
        {
            "CIRCLECI_BASE_URL": "http://127.0.0.1:8080/api/v2/",
            "CIRCLECI_TOKEN": TOKEN,
            "CIRCLECI_ARTIFACT_HOSTS": "http://127.0.0.1:8081, *.example.com",
            "CIRCLECI_READ_TIMEOUT": "2.5",
            "CIRCLECI_TIMEOUT": "9",
            "CIRCLECI_MAX_BODY_SIZE": "1048576",
        }
    )
    assert config.base_url == "http://127.0.0.1:8080/api/v2"
    assert config.token == Token(TOKEN)
    assert config.artifact_hosts == (
        "*.circle-artifacts.com",
        "http://127.0.0.1:8081",
        "*.example.com",
    )
    assert config.timeout == Timeout(connect=10.0, read=2.5, total=9.0)
    assert config.limits.max_body_size == 1024 * 1024
    assert TOKEN not in repr(config)
    defaults = from_env({})
    assert defaults.base_url == "https://circleci.com/api/v2"
    assert defaults.token is None
    assert defaults.timeout == Timeout()
    for name, value in [
        ("CIRCLECI_TIMEOUT", "soon"),
        ("CIRCLECI_READ_TIMEOUT", "-1"),
        ("CIRCLECI_MAX_BODY_SIZE", "inf"),
        ("CIRCLECI_BASE_URL", "http://host:99999/api/v2"),
    ]:
        with pytest.raises(ConfigurationError):
            from_env({name: value})


@pytest.mark.anyio
async def test_the_calls_deadline_is_a_typed_timeout_even_over_a_mock_transport() -> None:
    import anyio

    async def stall(request: Request) -> Response:
        await anyio.sleep_forever()
        raise AssertionError

    transport = MockTransport(stall)
    timeout = Timeout(total=0.2)
    async with Client(
        TOKEN, base_url=API, transport=transport, limits=UNLIMITED, timeout=timeout
    ) as client:
        with pytest.raises(TimeoutError, match="deadline"):
            await client.me()


def _parsed_origin(url: str) -> tuple[str, str, int]:
    """The origin by a full parse of the whole URL, as the policy's answer must be."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", "", -1
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


@settings(max_examples=300)
@given(
    scheme=st.sampled_from(["http:", "https:", "HTTPS:", "ftp:", "", " http:"]),
    authority=st.text(alphabet="abAB.:@[]019-%\t ", max_size=16),
    tail=st.text(alphabet="/?#:@a.", max_size=8),
)
def test_the_origin_the_policy_sees_is_that_of_the_whole_url(
    scheme: str, authority: str, tail: str
) -> None:
    # Origins are remembered per scheme and authority: what follows must not matter,
    # and two authorities must never share an answer.
    url = f"{scheme}//{authority}{tail}"
    assert origin_of(url) == _parsed_origin(url)
    assert origin_of(url + "/more?x#y") == _parsed_origin(url + "/more?x#y")
