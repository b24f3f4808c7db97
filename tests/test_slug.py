from __future__ import annotations

import pytest

from aiocircleci import Client, ProjectSlug


@pytest.mark.parametrize(
    ("text", "vcs", "org", "repo"),
    [
        ("gh/CircleCI-Public/api-preview-docs", "gh", "CircleCI-Public", "api-preview-docs"),
        ("github/org/repo", "github", "org", "repo"),
        ("bb/team/repo", "bb", "team", "repo"),
        ("bitbucket/team/repo", "bitbucket", "team", "repo"),
        (
            "circleci/9a3f1a0c-0d6e-4c1e-9f1b-0a1b2c3d4e5f/5b6c7d8e-1234-4e5f-8a9b-abcdefabcdef",
            "circleci",
            "9a3f1a0c-0d6e-4c1e-9f1b-0a1b2c3d4e5f",
            "5b6c7d8e-1234-4e5f-8a9b-abcdefabcdef",
        ),
        ("/gh/org/repo/", "gh", "org", "repo"),
    ],
)
def test_slugs_of_every_vcs_parse_and_format_back(text: str, vcs: str, org: str, repo: str) -> None:
    slug = ProjectSlug.parse(text)
    assert (slug.vcs, slug.org, slug.repo) == (vcs, org, repo)
    assert str(slug) == text.strip("/")


def test_segments_are_percent_encoded_one_by_one_in_paths() -> None:
    slug = ProjectSlug.parse("gh/my org/repo#1?x")
    assert slug.path == "gh/my%20org/repo%231%3Fx"
    assert slug.org_slug == "gh/my org"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "gh",
        "gh/org",
        "gh/org/repo/extra",
        "gh//repo",
        "GH!/org/repo",
        "gh/../repo",
        "gh/o/\x00",
    ],
)
def test_malformed_slugs_raise_a_clear_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="invalid project slug"):
        ProjectSlug.parse(text)


@pytest.mark.anyio
async def test_a_malformed_slug_fails_before_any_request_is_made() -> None:
    # Port 9 is closed: a request would raise ConnectError, not ValueError.
    async with Client("t", base_url="http://127.0.0.1:9/api/v2") as client:
        with pytest.raises(ValueError, match="invalid project slug"):
            await client.get_project("org/repo")
        with pytest.raises(ValueError, match="invalid project slug"):
            client.pipelines("just-a-repo")
