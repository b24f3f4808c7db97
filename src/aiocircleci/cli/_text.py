"""What reaches the terminal: server-sent text escaped, the token redacted.

``clean`` makes one server-sent string safe to print: every control character
(C0, DEL, C1, and the invisible formatting characters that reorder text) is
shown as an escape such as ``\\x1b``, so an OSC sequence or a clear-screen from
a server prints as text instead of acting on the terminal. ``RedactingStream``
wraps stdout and stderr for the length of a command and replaces every secret
it was told about (the token) with ``****`` in whatever is written, even a line
in which a server echoed the token back.
"""

from __future__ import annotations

from typing import Any, TextIO

__all__ = ["Redactor", "RedactingStream", "clean"]

MASK = "****"


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clean(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


class Redactor:
    """The secrets of this process, and the one function that hides them."""

    __slots__ = ("_secrets",)

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> None:
        # Short values would mask ordinary words; a CircleCI token is 40 characters.
        if len(secret) >= 8 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingStream:
    """A text stream that redacts every write before passing it on."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        # isatty, fileno, encoding, buffer...: the wrapped stream's.
        return getattr(self._stream, name)
