"""Response bodies to models, by the decoding policy of ``models._base``.

The common path is one ``msgspec`` decode straight from the bytes. Only a body
that needs tolerance takes the slow path: it is decoded to plain JSON, normalised
against the target type (another spelling of a field renamed to the model's,
``null`` dropped where the field has a default), then converted. A listing that
still fails is decoded item by item: a bad item is skipped with a
``DecodeWarning`` and the rest of the page is kept; the slow path also accepts a
number sent as a string (``"5"``). ``strict=True`` turns all of that off and also
refuses enum values the model does not know.
"""

from __future__ import annotations

import functools
import logging
import re
import typing
import warnings
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi

from .errors import DecodeError
from .models._base import Page, decoder

__all__ = ["DecodeWarning", "Decoding", "json_path_excerpt"]

log = logging.getLogger("aiocircleci")

_EXCERPT = 80
_PATH = re.compile(r" - at `(\$[^`]*)`$")


class DecodeWarning(UserWarning):
    """One item of a listing did not decode and was skipped (the rest of the page was kept)."""


class _Page(msgspec.Struct):
    """A page whose items are left undecoded, to decode them one at a time."""

    items: list[msgspec.Raw]
    next_page_token: str | None = None


_RAW_PAGE = msgspec.json.Decoder(_Page)
_ANY = msgspec.json.Decoder()


# ------------------------------------------------------------ the type plan


def _struct_nodes(info: mi.Type, seen: set[int]) -> list[mi.StructType]:
    """Every struct reachable from ``info`` (each once, cycles included)."""
    found: list[mi.StructType] = []
    stack = [info]
    while stack:
        node = stack.pop()
        if isinstance(node, mi.StructType):
            if id(node) in seen:
                continue
            seen.add(id(node))
            found.append(node)
            stack.extend(f.type for f in node.fields)
        elif isinstance(node, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            stack.append(node.item_type)
        elif isinstance(node, mi.DictType):
            stack.append(node.value_type)
        elif isinstance(node, mi.UnionType):
            stack.extend(node.types)
        elif isinstance(node, mi.TupleType):
            stack.extend(node.item_types)
    return found


def _spellings(cls: type) -> dict[str, str]:
    found: dict[str, str] = getattr(cls, "__spellings__", None) or {}
    return found


@functools.cache
def _plan(type_: Any) -> tuple[mi.Type, tuple[bytes, ...]]:
    """The type's inspected tree, and the other spellings (as JSON keys) it accepts."""
    info = mi.type_info(type_)
    keys: set[bytes] = set()
    for node in _struct_nodes(info, set()):
        keys.update(b'"' + k.encode() + b'"' for k in _spellings(node.cls))
    return info, tuple(sorted(keys))


def _accepts_none(info: mi.Type) -> bool:
    if isinstance(info, mi.NoneType | mi.AnyType):
        return True
    return isinstance(info, mi.UnionType) and any(_accepts_none(t) for t in info.types)


class _Strictness(Exception):
    """A body that only the tolerant path would accept (strict mode)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _normalise(info: mi.Type, value: Any, path: str, strict: bool) -> Any:
    """``value`` (plain JSON) made to fit ``info``: spellings renamed, needless nulls dropped."""
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        spellings = _spellings(info.cls)
        if spellings:
            value = dict(value)
            for other, canonical in spellings.items():
                if other in value:
                    moved = value.pop(other)
                    value.setdefault(canonical, moved)
        out: dict[str, Any] = dict(value)
        for f in info.fields:
            key = f.encode_name
            if key not in out:
                continue
            item = out[key]
            where = f"{path}.{key}"
            if item is None and not _accepts_none(f.type):
                if f.required:
                    continue  # left for msgspec to report, with its path
                if strict:
                    raise _Strictness("null where the model expects a value", where)
                del out[key]
                continue
            out[key] = _normalise(f.type, item, where, strict)
        return out
    if isinstance(info, mi.UnionType):
        if value is None:
            return None
        for option in info.types:
            if not isinstance(option, mi.NoneType):
                if _fits(option, value):
                    return _normalise(option, value, path, strict)
        return value
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        if isinstance(value, list):
            return [
                _normalise(info.item_type, v, f"{path}[{i}]", strict) for i, v in enumerate(value)
            ]
        return value
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return {k: _normalise(info.value_type, v, f"{path}.{k}", strict) for k, v in value.items()}
    if strict and isinstance(info, mi.EnumType) and isinstance(value, str):
        if value not in {m.value for m in info.cls}:
            raise _Strictness(f"{value!r} is not a known {info.cls.__name__}", path)
    return value


def _fits(info: mi.Type, value: Any) -> bool:
    """Roughly whether a union option is the one meant for ``value`` (by JSON kind)."""
    if isinstance(info, mi.StructType | mi.DictType | mi.TypedDictType | mi.DataclassType):
        return isinstance(value, dict)
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return isinstance(value, list)
    return True


# ------------------------------------------------------------ error reports


def json_path_excerpt(data: Any, path: str) -> str:
    """A short excerpt of the value at ``path`` (``$.items[0].vcs``) in plain JSON ``data``."""
    node = data
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        try:
            node = node[int(index)] if index else node[name]
        except (KeyError, IndexError, TypeError):
            break
    text = msgspec.json.encode(node).decode("utf-8", "replace")
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _reason_and_path(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, _Strictness):
        return str(exc), exc.path
    message = str(exc)
    match = _PATH.search(message)
    if match is None:
        return message, "$"
    # msgspec writes a dict key as ``[...]``: the excerpt stops above it.
    return message[: match.start()], match[1]


class Decoding:
    """How one client decodes: tolerant (the default) or ``strict``.

    ``redact`` hides the token in any text taken from a body; ``where`` (called
    only when something went wrong) names the method and endpoint template.
    """

    __slots__ = ("redact", "strict")

    def __init__(self, *, strict: bool = False, redact: Callable[[str], str] = str) -> None:
        self.strict = strict
        self.redact = redact

    def decode(self, body: bytes, type_: Any, where: Callable[[], str]) -> Any:
        """``body`` as ``type_``; raises ``DecodeError`` naming where, which path and what."""
        info, keys = _plan(type_)
        if not self.strict and not (keys and any(k in body for k in keys)):
            try:
                return decoder(type_).decode(body)
            except msgspec.ValidationError:
                pass  # the tolerant path below may still make sense of it
            except msgspec.DecodeError as exc:
                raise self._error(where(), exc, None) from exc
        try:
            data = _ANY.decode(body)
        except msgspec.DecodeError as exc:
            raise self._error(where(), exc, None) from exc
        try:
            return self._convert(data, type_, info, "$", where)
        except DecodeError:
            # A bare list (GET /me/collaborations) is lenient per item, like a page.
            if self.strict or not isinstance(info, mi.ListType) or not isinstance(data, list):
                raise
        (item,) = typing.get_args(type_)
        items = []
        for index, one in enumerate(data):
            try:
                items.append(self._convert(one, item, info.item_type, f"$[{index}]", where))
            except DecodeError as exc:
                self._skip(exc)
        return items

    def convert(self, data: Any, type_: Any, where: Callable[[], str]) -> Any:
        """Plain JSON ``data`` (a whole body) as ``type_``, by the same policy."""
        return self._convert(data, type_, _plan(type_)[0], "$", where)

    def _convert(
        self, data: Any, type_: Any, info: mi.Type, path: str, where: Callable[[], str]
    ) -> Any:
        try:
            normal = _normalise(info, data, "$", self.strict)
            return msgspec.convert(normal, type_, strict=self.strict)
        except (msgspec.ValidationError, _Strictness) as exc:
            raise self._error(where(), exc, data, path) from exc

    def decode_page(self, body: bytes, item: Any, where: Callable[[], str]) -> Page[Any]:
        """A page of ``item``; in tolerant mode an item that fails is skipped with a warning."""
        page_type = Page[item]
        if self.strict:
            page: Page[Any] = self.decode(body, page_type, where)
            return page
        try:
            page = self.decode(body, page_type, where)
            return page
        except DecodeError as whole:
            try:
                raw = _RAW_PAGE.decode(body)
            except (msgspec.ValidationError, msgspec.DecodeError):
                raise whole from None
        info, _ = _plan(item)
        items = []
        for index, one in enumerate(raw.items):
            try:
                data = _ANY.decode(one)
                items.append(self._convert(data, item, info, f"$.items[{index}]", where))
            except DecodeError as exc:
                self._skip(exc)
        return Page(items=items, next_page_token=raw.next_page_token)

    def _skip(self, exc: DecodeError) -> None:
        message = f"skipped an item that does not decode: {exc}"
        log.warning("%s", message)
        warnings.warn(message, DecodeWarning, stacklevel=5)

    def _error(self, where: str, exc: Exception, data: Any, base: str = "$") -> DecodeError:
        if data is None:
            return DecodeError(
                f"{where}: the body is not JSON ({self.redact(str(exc))})", where=where
            )
        reason, relative = _reason_and_path(exc)
        path = base + relative[1:]
        excerpt = self.redact(json_path_excerpt(data, relative))
        return DecodeError(
            f"{where}: {self.redact(reason)} at {path} (value: {excerpt})",
            where=where,
            path=path,
            excerpt=excerpt,
        )
