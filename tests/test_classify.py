"""``classify_response``: what one response means for a file, decided without a socket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiocircleci.download import Complete, Fail, Restart, Resume, classify_response


def test_a_200_to_a_whole_file_request_streams_from_byte_0() -> None:
    assert classify_response(200, {"Content-Length": "10"}, 0) == Resume(0, 10)
    assert classify_response(200, {}, 0) == Resume(0, None)


def test_a_200_to_a_range_request_starts_over_with_that_body() -> None:
    assert classify_response(200, {"Content-Length": "10"}, 4) == Restart(10, with_body=True)


def test_a_206_at_our_offset_resumes_and_names_the_total() -> None:
    assert classify_response(206, {"Content-Range": "bytes 4-9/10"}, 4) == Resume(4, 10)
    # An unknown total: the length of the rest tells it.
    headers = {"Content-Range": "bytes 4-9/*", "Content-Length": "6"}
    assert classify_response(206, headers, 4) == Resume(4, 10)


def test_a_206_elsewhere_asks_again_from_0_or_fails_a_whole_file_request() -> None:
    assert classify_response(206, {"Content-Range": "bytes 2-9/10"}, 4) == Restart(
        None, with_body=False
    )
    verdict = classify_response(206, {"Content-Range": "bytes 2-9/10"}, 0)
    assert isinstance(verdict, Fail)
    assert verdict.retry


def test_a_416_is_complete_only_when_the_part_holds_every_byte() -> None:
    assert classify_response(416, {"Content-Range": "bytes */10"}, 10) == Complete(10)
    assert classify_response(416, {"Content-Range": "bytes */10"}, 12) == Restart(
        None, with_body=False
    )


@pytest.mark.parametrize(
    "content_range",
    [
        "bytes \u0660-9/10",  # ARABIC-INDIC DIGIT ZERO: int() would take it
        "bytes 0-9/1\u00b2",  # SUPERSCRIPT TWO: isdigit() is true, int() raises
        "bytes 0-\uff19/10",  # FULLWIDTH DIGIT NINE
        "pages 0-9/10",
        "bytes 0-9",
        "bytes 9-0/10",
        "bytes 0-10/10",
        "bytes -/10",
        "",
    ],
)
def test_a_defective_content_range_fails_that_file(content_range: str) -> None:
    verdict = classify_response(206, {"Content-Range": content_range}, 0)
    assert isinstance(verdict, Fail)
    assert not verdict.retry
    assert "Content-Range" in verdict.reason or "byte range" in verdict.reason


def test_a_206_without_content_range_fails() -> None:
    assert isinstance(classify_response(206, {}, 0), Fail)


@pytest.mark.parametrize("length", ["\u0661\u0660", "1\u00b2", "-1", "ten", "1 0"])
def test_a_defective_content_length_fails_that_file(length: str) -> None:
    verdict = classify_response(200, {"Content-Length": length}, 0)
    assert isinstance(verdict, Fail)
    assert "Content-Length" in verdict.reason


@pytest.mark.parametrize("status", [301, 304, 400, 403, 404, 429, 500, 503])
def test_other_statuses_fail_and_only_server_trouble_is_worth_another_try(status: int) -> None:
    verdict = classify_response(status, {}, 0)
    assert isinstance(verdict, Fail)
    assert verdict.status == status
    assert verdict.retry == (status >= 500 or status == 429)


@given(
    status=st.integers(100, 599),
    offset=st.integers(0, 2**40),
    headers=st.dictionaries(
        st.sampled_from(["Content-Range", "Content-Length", "ETag"]), st.text(max_size=30)
    ),
)
def test_any_response_gets_a_verdict_never_an_exception(
    status: int, offset: int, headers: dict[str, str]
) -> None:
    verdict = classify_response(status, headers, offset)
    assert isinstance(verdict, Resume | Restart | Complete | Fail)
    if isinstance(verdict, Resume):
        assert verdict.start == offset
        assert verdict.total is None or verdict.total >= 0
