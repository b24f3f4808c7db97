"""Fault injection: what can go wrong, where, and when.

A fault spec is a comma-separated list of rules (whitespace is ignored)::

    SPEC    := RULE ("," RULE)*
    RULE    := TARGET ":" KIND [TRIGGER]
    TARGET  := CLASS ["/" OPERATION]
    CLASS   := "api" | "artifact" | "storage" | "*"
    KIND    := "500" | "502" | "503" | "504"       answer with that status
             | "reset"                             reset the connection before any header
             | "reset-mid-body"                    send part of the body, then reset
             | "short-body"                        Content-Length says more than is sent, then close
             | "stall"                             send part of the body, then hang until the
                                                   client gives up or the server stops
             | "latency=" MS ["-" MS]              add MS (or uniformly MS..MS) milliseconds
             | "page-token-404"                    answer 404 to a request carrying page-token
             | "ignore-page-token"                 serve the first page whatever page-token says
             | "ignore-range"                      answer 200 with the whole body, no
                                                   Accept-Ranges (a server without ranges)
    TRIGGER := "@" P          each eligible request with probability P (seeded RNG)
             | "#" N          only the Nth eligible request (counting from 1)
             | "#" N "-" M    the Nth to the Mth eligible request
             | "#" N "+"      the Nth eligible request and every one after it
             | (nothing)      every eligible request

``OPERATION`` narrows an ``api`` rule to one CircleCI operationId, for example
``api/listPipelinesForProject:ignore-page-token``. Examples::

    api:503@0.1,artifact:reset-mid-body@0.05,storage:short-body#3
    *:latency=20-80,api/getJobArtifacts:page-token-404#1

Which requests are *eligible* depends on the kind: status, reset and latency
rules see every request of their class (``ignore-range`` matters on the
artifact and storage hosts only); body faults (``reset-mid-body``,
``short-body``, ``stall``) see every response with a non-empty body; page-token
faults see requests to a paginated endpoint that carry a ``page-token``. Each
rule has its own counter and its own RNG, seeded from the emulator's seed and the
rule, so the same spec and the same sequence of requests inject the same faults.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass, field

from ._log import RouteClass

__all__ = ["FaultInjector", "FaultKind", "FaultRule", "Faults", "Phase"]


class FaultKind(enum.StrEnum):
    HTTP_500 = "500"
    HTTP_502 = "502"
    HTTP_503 = "503"
    HTTP_504 = "504"
    RESET = "reset"
    RESET_MID_BODY = "reset-mid-body"
    SHORT_BODY = "short-body"
    STALL = "stall"
    LATENCY = "latency"
    PAGE_TOKEN_404 = "page-token-404"
    IGNORE_PAGE_TOKEN = "ignore-page-token"
    IGNORE_RANGE = "ignore-range"

    @property
    def status(self) -> int | None:
        """The HTTP status this kind answers with, for the 5xx kinds."""
        return int(self.value) if self.value.isdigit() else None


class Phase(enum.Enum):
    """When a kind is decided: on arrival, when a body is sent, or when paginating."""

    REQUEST = "request"
    BODY = "body"
    PAGE = "page"


_PHASES = {
    FaultKind.HTTP_500: Phase.REQUEST,
    FaultKind.HTTP_502: Phase.REQUEST,
    FaultKind.HTTP_503: Phase.REQUEST,
    FaultKind.HTTP_504: Phase.REQUEST,
    FaultKind.RESET: Phase.REQUEST,
    FaultKind.LATENCY: Phase.REQUEST,
    FaultKind.IGNORE_RANGE: Phase.REQUEST,
    FaultKind.RESET_MID_BODY: Phase.BODY,
    FaultKind.SHORT_BODY: Phase.BODY,
    FaultKind.STALL: Phase.BODY,
    FaultKind.PAGE_TOKEN_404: Phase.PAGE,
    FaultKind.IGNORE_PAGE_TOKEN: Phase.PAGE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """One rule of a fault spec; see the module docstring for the grammar.

    ``route_class`` ``None`` matches all three origins. At most one of
    ``probability`` and ``nth`` is set; with neither, the rule fires every time.
    ``nth`` is ``(first, last)`` counting eligible requests from 1, ``last``
    ``None`` meaning open-ended. ``latency_ms`` is a ``(low, high)`` range used by
    ``LATENCY`` rules only.
    """

    kind: FaultKind
    route_class: RouteClass | None = None
    operation: str | None = None
    probability: float | None = None
    nth: tuple[int, int | None] | None = None
    latency_ms: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.probability is not None and self.nth is not None:
            raise ValueError("a fault rule takes a probability or an nth trigger, not both")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within [0, 1], not {self.probability}")
        if self.nth is not None:
            first, last = self.nth
            if first < 1 or (last is not None and last < first):
                raise ValueError(f"invalid nth trigger {self.nth!r}")
        low, high = self.latency_ms
        if self.kind is FaultKind.LATENCY and not 0 <= low <= high:
            raise ValueError(f"invalid latency range {self.latency_ms!r}")
        if self.operation is not None and self.route_class not in (RouteClass.API, None):
            raise ValueError("only api rules can name an operation")

    @property
    def phase(self) -> Phase:
        return _PHASES[self.kind]

    def label(self, latency: int | None = None) -> str:
        """How an injected instance of this rule appears in the request log."""
        if self.kind is FaultKind.LATENCY:
            return f"latency={self.latency_ms[0] if latency is None else latency}"
        return self.kind.value

    def __str__(self) -> str:
        target = "*" if self.route_class is None else self.route_class.value
        if self.operation:
            target += f"/{self.operation}"
        kind = self.kind.value
        if self.kind is FaultKind.LATENCY:
            low, high = self.latency_ms
            kind = f"latency={low}" if low == high else f"latency={low}-{high}"
        trigger = ""
        if self.probability is not None:
            trigger = f"@{self.probability:g}"
        elif self.nth is not None:
            first, last = self.nth
            if last is None:
                trigger = f"#{first}+"
            elif last == first:
                trigger = f"#{first}"
            else:
                trigger = f"#{first}-{last}"
        return f"{target}:{kind}{trigger}"


_RULE = re.compile(
    r"""^(?P<cls>api|artifact|storage|\*)(?:/(?P<op>[A-Za-z][A-Za-z0-9_]*))?
        :(?P<kind>[a-z0-9-]+)(?:=(?P<low>\d+)(?:-(?P<high>\d+))?)?
        (?:@(?P<p>[0-9.eE+-]+)|\#(?P<first>\d+)(?:(?P<open>\+)|-(?P<last>\d+))?)?$""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Faults:
    """A set of fault rules, plus how much of a body is sent before a body fault.

    Build one with ``Faults.parse("api:503@0.1,storage:short-body#3")`` or from
    ``FaultRule`` values. ``str(faults)`` gives the spec back.
    """

    rules: tuple[FaultRule, ...] = ()
    cut_bytes: int = 64 * 1024
    stall_seconds: float = 300.0

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Parse a fault spec; raise ``ValueError`` naming the rule that is wrong."""
        rules: list[FaultRule] = []
        for raw in spec.replace(" ", "").split(","):
            if not raw:
                continue
            match = _RULE.match(raw)
            if match is None:
                raise ValueError(f"invalid fault rule {raw!r}")
            try:
                kind = FaultKind(match["kind"])
            except ValueError:
                raise ValueError(f"unknown fault kind {match['kind']!r} in {raw!r}") from None
            if (match["low"] is not None) != (kind is FaultKind.LATENCY):
                raise ValueError(f"only latency takes =MS, in {raw!r}")
            latency = (0, 0)
            if match["low"] is not None:
                low = int(match["low"])
                latency = (low, int(match["high"]) if match["high"] is not None else low)
            nth: tuple[int, int | None] | None = None
            if match["first"] is not None:
                first = int(match["first"])
                if match["open"]:
                    nth = (first, None)
                else:
                    nth = (first, int(match["last"]) if match["last"] is not None else first)
            probability = float(match["p"]) if match["p"] is not None else None
            route_class = None if match["cls"] == "*" else RouteClass(match["cls"])
            rules.append(
                FaultRule(
                    kind=kind,
                    route_class=route_class,
                    operation=match["op"],
                    probability=probability,
                    nth=nth,
                    latency_ms=latency,
                )
            )
        return cls(tuple(rules))

    def __str__(self) -> str:
        return ",".join(str(rule) for rule in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)


@dataclass(slots=True)
class _RuleState:
    rule: FaultRule
    rng: random.Random
    seen: int = 0


@dataclass(slots=True)
class Decision:
    """The faults drawn for one phase of one request."""

    latency_ms: int = 0
    kind: FaultKind | None = None
    labels: list[str] = field(default_factory=list)


class FaultInjector:
    """Draws faults for requests, reproducibly for a given seed and request order."""

    __slots__ = ("_faults", "_states")

    def __init__(self, faults: Faults, seed: int) -> None:
        self._faults = faults
        self._states = [
            _RuleState(rule, random.Random(f"faults:{seed}:{index}:{rule}"))
            for index, rule in enumerate(faults.rules)
        ]

    @property
    def faults(self) -> Faults:
        return self._faults

    def draw(self, phase: Phase, route_class: RouteClass, operation: str | None) -> Decision:
        """Decide the faults of ``phase`` for one eligible request.

        Every matching rule counts the request (and draws from its RNG) whether or
        not an earlier rule already fired, so rules do not perturb each other.
        Latency adds up; of the other kinds the first rule that fires wins.
        """
        decision = Decision()
        for state in self._states:
            rule = state.rule
            if rule.phase is not phase:
                continue
            if rule.route_class is not None and rule.route_class is not route_class:
                continue
            if rule.operation is not None and rule.operation != operation:
                continue
            state.seen += 1
            if rule.probability is not None:
                fires = state.rng.random() < rule.probability
            elif rule.nth is not None:
                first, last = rule.nth
                fires = state.seen >= first and (last is None or state.seen <= last)
            else:
                fires = True
            if not fires:
                continue
            if rule.kind is FaultKind.LATENCY:
                low, high = rule.latency_ms
                latency = low if low == high else state.rng.randint(low, high)
                decision.latency_ms += latency
                decision.labels.append(rule.label(latency))
            elif decision.kind is None:
                decision.kind = rule.kind
                decision.labels.append(rule.label())
        return decision
