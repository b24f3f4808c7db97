"""Project slugs: ``gh/org/repo``, ``bb/org/repo``, ``circleci/<org-id>/<project-id>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["KNOWN_VCS", "ProjectSlug"]

KNOWN_VCS = frozenset({"gh", "github", "bb", "bitbucket", "circleci"})
_VCS = re.compile(r"[a-z][a-z0-9-]{0,31}")


@dataclass(frozen=True, slots=True)
class ProjectSlug:
    """A project slug, parsed.

    CircleCI asks clients to treat slugs as opaque, so any three non-empty
    segments are accepted as long as the first looks like a VCS name. The
    segments are percent-encoded one by one when they go into a path.
    """

    vcs: str
    org: str
    repo: str

    @classmethod
    def parse(cls, value: str | ProjectSlug) -> ProjectSlug:
        """Parse ``vcs/org/repo``; raise ``ValueError`` with the reason if malformed."""
        if isinstance(value, ProjectSlug):
            return value
        if not isinstance(value, str):
            raise ValueError(f"a project slug must be a string, not {type(value).__name__}")
        parts = value.strip().strip("/").split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(
                f"invalid project slug {value!r}: expected VCS/ORG/REPO, "
                "such as gh/my-org/my-repo or circleci/<org-id>/<project-id>"
            )
        vcs, org, repo = parts
        if not _VCS.fullmatch(vcs):
            raise ValueError(
                f"invalid project slug {value!r}: {vcs!r} is not a VCS type "
                f"(expected one of {', '.join(sorted(KNOWN_VCS))})"
            )
        for part in (org, repo):
            if not part.isprintable() or part in (".", ".."):
                raise ValueError(f"invalid project slug {value!r}: bad segment {part!r}")
        return cls(vcs, org, repo)

    @property
    def path(self) -> str:
        """The slug for a URL path, each segment percent-encoded."""
        return "/".join(quote(p, safe="") for p in (self.vcs, self.org, self.repo))

    @property
    def org_slug(self) -> str:
        """``vcs/org``, as the org-wide pipeline listing takes it."""
        return f"{self.vcs}/{self.org}"

    def __str__(self) -> str:
        return f"{self.vcs}/{self.org}/{self.repo}"
