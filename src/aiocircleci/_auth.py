"""The API token: where it comes from, where it may go, and how it stays out of sight."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping

from ._http import origin_of
from .errors import ConfigurationError

__all__ = ["TOKEN_ENV_VARS", "OriginPolicy", "Token", "environ_without_token", "token_from_env"]

TOKEN_ENV_VARS = ("CIRCLE_TOKEN", "CIRCLECI_TOKEN")


class Token:
    """A secret that prints as ``Token('****')`` and cannot be pickled.

    ``reveal()`` is called where the header is attached and where the CLI learns
    what to mask in its output; ``redact(text)`` masks it anywhere else.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value:
            raise ConfigurationError("the CircleCI token is empty")
        if any(ch in value for ch in "\r\n\0") or not value.isprintable():
            # Refuse anything that could split a header line.
            raise ConfigurationError("the CircleCI token contains control characters")
        self.__value = value

    def reveal(self) -> str:
        return self.__value

    def redact(self, text: str) -> str:
        """``text`` with every copy of the token replaced by ``****`` (a server may echo it)."""
        return text.replace(self.__value, "****")

    def __repr__(self) -> str:
        return "Token('****')"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Token cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash((Token, self.__value))


def token_from_env(environ: Mapping[str, str] | None = None) -> Token | None:
    """The token from ``CIRCLE_TOKEN``, then ``CIRCLECI_TOKEN``; ``None`` if neither is set."""
    env = os.environ if environ is None else environ
    for name in TOKEN_ENV_VARS:
        value = env.get(name, "").strip()
        if value:
            return Token(value)
    return None


def environ_without_token() -> dict[str, str]:
    """This process's environment minus the token variables: for a child process
    that is handed the token another way (download worker processes)."""
    return {k: v for k, v in os.environ.items() if k not in TOKEN_ENV_VARS}


class OriginPolicy:
    """Decides which origins may receive the token.

    Exact origins (scheme, host, port) for the API and configured artifact
    hosts, plus host globs such as ``*.circle-artifacts.com`` (matched on
    https only). Every other origin, including whatever a redirect names,
    gets no token.
    """

    __slots__ = ("_globs", "_origins")

    def __init__(self, urls: Iterable[str] = (), host_globs: Iterable[str] = ()) -> None:
        self._origins = frozenset(origin_of(u) for u in urls)
        self._globs = tuple(g.lower() for g in host_globs)

    @classmethod
    def for_hosts(cls, api_url: str, hosts: Iterable[str]) -> OriginPolicy:
        """The API origin plus artifact ``hosts``: an entry with a scheme is an
        exact origin (``http://127.0.0.1:8081``), any other an https host glob."""
        hosts = list(hosts)
        return cls(
            [api_url, *(h for h in hosts if "://" in h)], [h for h in hosts if "://" not in h]
        )

    def allows(self, url: str) -> bool:
        origin = origin_of(url)
        if origin in self._origins:
            return True
        scheme, host, _ = origin
        return scheme == "https" and any(fnmatch.fnmatchcase(host, g) for g in self._globs)

    def __repr__(self) -> str:
        names = sorted(f"{s}://{h}:{p}" for s, h, p in self._origins)
        return f"<OriginPolicy {names + list(self._globs)}>"
