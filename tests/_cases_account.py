"""Conformance cases of schedules, webhooks, organizations, groups, usage exports and
OTel exporters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiocircleci.testing import FakeCircleCI, Project
from aiocircleci.testing._api.groups import Groups
from aiocircleci.testing._api.organizations import Organizations
from aiocircleci.testing._api.otel import Exporters
from aiocircleci.testing._api.schedules import Schedules
from aiocircleci.testing._api.usage import UsageExports
from aiocircleci.testing._api.webhooks import Webhooks

from ._conformance import NO_SUCH, Call, Case

__all__ = ["ERRORS", "SUCCESS"]

FRESH_ORG = "fresh-standalone-org"
TIMETABLE = {"per-hour": 2, "hours-of-day": [9, 17], "days-of-week": ["MON", "THU"]}


def vcs_project(fake: FakeCircleCI) -> Project:
    """A project that can have schedules (GitHub OAuth or Bitbucket)."""
    return next(
        p for p in fake.world.projects if p.organization.vcs_type in ("github", "bitbucket")
    )


def vcs_slug(fake: FakeCircleCI) -> str:
    return quote(vcs_project(fake).slug, safe="/")


def standalone_org(fake: FakeCircleCI) -> str:
    return next(o.id for o in fake.world.organizations if o.vcs_type == "circleci")


def vcs_org(fake: FakeCircleCI) -> str:
    return next(o.id for o in fake.world.organizations if o.vcs_type == "github")


def schedule_id(fake: FakeCircleCI, name: str = "nightly") -> str:
    slug = vcs_project(fake).slug
    items = fake.world.state(Schedules).items.values()
    return next(s.id for s in items if s.project_slug == slug and s.name == name)


def webhook_id(fake: FakeCircleCI, name: str = "job audit") -> str:
    return next(w.id for w in fake.world.state(Webhooks).items.values() if w.name == name)


def group_id(fake: FakeCircleCI, name: str = "Viewers") -> str:
    groups = fake.world.state(Groups).of(standalone_org(fake)).values()
    return next(g.id for g in groups if g.name == name)


def export_id(fake: FakeCircleCI) -> str:
    org = vcs_org(fake)
    return next(e.id for e in fake.world.state(UsageExports).items.values() if e.org_id == org)


def allow_list_entry(fake: FakeCircleCI, name: str) -> str:
    entries = fake.world.state(Organizations).allow_lists[vcs_org(fake)].values()
    return next(e.id for e in entries if e.name == name)


def fresh_org(fake: FakeCircleCI) -> str:
    orgs = fake.world.state(Organizations).orgs.values()
    return next(o.id for o in orgs if o.name == FRESH_ORG)


def exporter_id(fake: FakeCircleCI, endpoint: str) -> str:
    items = fake.world.state(Exporters).items.values()
    return next(e.id for e in items if e.endpoint == endpoint)


def export_range(days: int) -> dict[str, str]:
    """The ``days`` days up to the start of today (UTC), as a usage export body."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    return {"start": start.isoformat(), "end": end.isoformat()}


# One success case per operation; changes after reads.
SUCCESS: dict[str, Case] = {
    "getOrganization": lambda f: Call("GET", f"/organization/{vcs_org(f)}", 200),
    "listURLOrbAllowListEntries": lambda f: Call(
        "GET", f"/organization/{vcs_org(f)}/url-orb-allow-list", 200
    ),
    "listSchedulesForProject": lambda f: Call("GET", f"/project/{vcs_slug(f)}/schedule", 200),
    "getScheduleById": lambda f: Call("GET", f"/schedule/{schedule_id(f, 'monthly-report')}", 200),
    "getWebhooks": lambda f: Call(
        "GET",
        "/webhook",
        200,
        params={"scope-id": vcs_project(f).id, "scope-type": "project"},
    ),
    "getWebhookById": lambda f: Call("GET", f"/webhook/{webhook_id(f)}", 200),
    "getOrganizationGroups": lambda f: Call(
        "GET", f"/organizations/{standalone_org(f)}/groups", 200
    ),
    "getGroup": lambda f: Call(
        "GET", f"/organizations/{standalone_org(f)}/groups/{group_id(f)}", 200
    ),
    "getUsageExport": lambda f: Call(
        "GET", f"/organizations/{vcs_org(f)}/usage_export_job/{export_id(f)}", 200
    ),
    "listOtelExporters": lambda f: Call(
        "GET", "/otel/exporters", 200, params={"org-id": vcs_org(f)}
    ),
    # Changes to the world from here on.
    "createOrganization": lambda f: Call(
        "POST", "/organization", 201, json={"name": FRESH_ORG, "vcs_type": "circleci"}
    ),
    "createURLOrbAllowListEntry": lambda f: Call(
        "POST",
        f"/organization/{vcs_org(f)}/url-orb-allow-list",
        200,
        json={"name": "internal orbs", "prefix": "https://orbs.example.com/", "auth": "none"},
    ),
    "removeURLOrbAllowListEntry": lambda f: Call(
        "DELETE",
        f"/organization/{vcs_org(f)}/url-orb-allow-list/{allow_list_entry(f, 'internal orbs')}",
        200,
    ),
    "createSchedule": lambda f: Call(
        "POST",
        f"/project/{vcs_slug(f)}/schedule",
        201,
        json={
            "name": "twice a week",
            "timetable": TIMETABLE,
            "attribution-actor": "current",
            "parameters": {"branch": "main", "deploy": False},
            "description": "Mondays and Thursdays",
        },
    ),
    "updateSchedule": lambda f: Call(
        "PATCH",
        f"/schedule/{schedule_id(f, 'twice a week')}",
        200,
        json={"timetable": {"days-of-month": [1]}, "attribution-actor": "system"},
    ),
    "deleteScheduleById": lambda f: Call(
        "DELETE", f"/schedule/{schedule_id(f, 'twice a week')}", 200
    ),
    "createWebhook": lambda f: Call(
        "POST",
        "/webhook",
        201,
        json={
            "name": "fresh hook",
            "events": ["job-completed"],
            "url": "https://example.com/hook",
            "verify-tls": True,
            "signing-secret": "a-long-signing-secret",
            "scope": {"id": vcs_project(f).id, "type": "project"},
        },
    ),
    "updateWebhook": lambda f: Call(
        "PUT", f"/webhook/{webhook_id(f, 'fresh hook')}", 200, json={"verify-tls": False}
    ),
    "deleteWebhook": lambda f: Call("DELETE", f"/webhook/{webhook_id(f, 'fresh hook')}", 200),
    "createOrganizationGroup": lambda f: Call(
        "POST",
        f"/organizations/{standalone_org(f)}/groups",
        201,
        json={"name": "Fresh Group", "description": "made by a conformance case"},
    ),
    "deleteGroup": lambda f: Call(
        "DELETE", f"/organizations/{standalone_org(f)}/groups/{group_id(f, 'Fresh Group')}", 200
    ),
    "createUsageExport": lambda f: Call(
        "POST", f"/organizations/{vcs_org(f)}/usage_export_job", 201, json=export_range(7)
    ),
    "createOtelExporter": lambda f: Call(
        "POST",
        "/otel/exporters",
        201,
        json={"org_id": vcs_org(f), "endpoint": "https://otlp.example.com", "protocol": "http"},
    ),
    "deleteOtelExporter": lambda f: Call(
        "DELETE", f"/otel/exporters/{exporter_id(f, 'https://otlp.example.com')}", 204
    ),
    "deleteOrganization": lambda f: Call("DELETE", f"/organization/{fresh_org(f)}", 202),
}

# Error answers, validated against the status the operation declares (or its default).
ERRORS: list[tuple[str, Case]] = [
    ("getOrganization", lambda f: Call("GET", f"/organization/{NO_SUCH}", 404)),
    ("getScheduleById", lambda f: Call("GET", f"/schedule/{NO_SUCH}", 404)),
    ("getScheduleById", lambda f: Call("GET", "/schedule/not-a-uuid", 400)),
    (
        "createSchedule",
        lambda f: Call(
            "POST",
            f"/project/{vcs_slug(f)}/schedule",
            400,
            json={
                "name": "bad",
                "timetable": {**TIMETABLE, "per-hour": 0},
                "attribution-actor": "current",
                "parameters": {"branch": "main"},
            },
        ),
    ),
    ("getWebhooks", lambda f: Call("GET", "/webhook", 400, params={"scope-type": "project"})),
    (
        "getGroup",
        lambda f: Call("GET", f"/organizations/{standalone_org(f)}/groups/{NO_SUCH}", 404),
    ),
    (
        "createOrganizationGroup",
        lambda f: Call(
            "POST", f"/organizations/{standalone_org(f)}/groups", 409, json={"name": "Viewers"}
        ),
    ),
    (
        "getUsageExport",
        lambda f: Call("GET", f"/organizations/{vcs_org(f)}/usage_export_job/{NO_SUCH}", 404),
    ),
    (
        "createUsageExport",
        lambda f: Call(
            "POST",
            f"/organizations/{vcs_org(f)}/usage_export_job",
            400,
            json=export_range(40),
        ),
    ),
    (
        "createOtelExporter",
        lambda f: Call(
            "POST",
            "/otel/exporters",
            400,
            json={"org_id": vcs_org(f), "endpoint": "x:4317", "protocol": "carrier-pigeon"},
        ),
    ),
    ("deleteOtelExporter", lambda f: Call("DELETE", f"/otel/exporters/{NO_SUCH}", 404)),
]
