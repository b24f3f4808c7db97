"""``aiocircleci demo``: mirror an emulated organization, offline, and check every byte.

Starts the emulator in this process (a seeded world whose organization
``gh/acme-corp`` has three projects and about 300 artifacts, three of them
16 MiB; a few API requests answer 503 and a few downloads break off midway; the
API allows 50 requests per second), mirrors the organization into
``./aiocircleci-demo`` with the client's rate set to match, then compares the
sha256 of every file with the emulator's world. Run it twice: the second run
downloads nothing and skips everything. No token is needed: it uses the
emulator's.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .._config import StoreSettings
from .._manifest import read_manifest
from .._objectstore import ObjectStoreWriter
from ..client import Client
from ..mirror import Mirror, MirrorEvent, MirrorReport, StoreMirror
from ..testing import FakeCircleCI, MiB, World, WorldConfig
from ._common import EXIT_FAILED, EXIT_OK, emit_json, run_async, store_dest
from ._mirror import _MIRROR_ONLY, api_limits, check_dest, report_json, stats_line
from ._progress import ProgressDisplay, print_summary

__all__ = ["DEMO_ORG", "DEMO_RATE", "DEMO_WORLD", "register", "run", "verify_against_world"]

DEFAULT_DEST = "aiocircleci-demo"
DEMO_ORG = "gh/acme-corp"
DEMO_RATE = 50.0
DEMO_FAULTS = "api:503@0.02,storage:reset-mid-body@0.03"
DEMO_WORLD = WorldConfig(
    projects=7,  # projects go round-robin to three organizations: gh/acme-corp gets 3
    pipelines_per_project=8,
    workflows_per_pipeline=2,
    jobs_per_workflow=3,
    artifacts_per_job=3,
    max_artifact_size=256 * 1024,
    large_artifacts=3,
    large_artifact_size=16 * MiB,
)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=parents,
        help="mirror an emulated CircleCI organization offline and verify every file",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "--dest",
        default=DEFAULT_DEST,
        metavar="DIR",
        help=f"destination directory or s3://BUCKET/PREFIX (default: ./{DEFAULT_DEST})",
    )
    parser.add_argument("--seed", type=int, default=2025, help="world seed (default: %(default)s)")
    parser.add_argument(
        "-j", "--parallel", type=int, default=16, metavar="N", help="downloads at once"
    )
    parser.set_defaults(func=run)


@dataclass(slots=True)
class Verification:
    """The mirror compared with the world: files checked, and what was wrong."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_against_world(world: World, dest: str | Path, org: str) -> Verification:
    """Every artifact of ``org``'s projects is in the manifest, on disk, with its sha256."""
    slugs = {p.slug for p in world.projects if p.slug.startswith(org + "/")}
    expected = {
        (a.project_slug, a.job_number, a.node_index, a.path): a
        for a in world.iter_artifacts()
        if a.project_slug in slugs
    }
    result = Verification()
    seen: set[tuple[str, int, int, str]] = set()
    for row in read_manifest(dest):
        key = (row.project_slug, row.job_number, row.node_index, row.artifact_path)
        artifact = expected.get(key)
        if artifact is None:
            result.problems.append(f"{row.path}: not an artifact of {org}")
            continue
        if key in seen:
            result.problems.append(f"{row.path}: a second copy of {row.artifact_path}")
            continue
        seen.add(key)
        if not row.complete:
            result.problems.append(f"{row.path}: {row.status}: {row.error}")
            continue
        try:
            data = (Path(dest) / row.path).read_bytes()
        except OSError as exc:
            result.problems.append(f"{row.path}: {exc.strerror}")
            continue
        result.checked += 1
        digest = hashlib.sha256(data).hexdigest()
        if digest != artifact.sha256 or row.sha256 != digest:
            result.problems.append(f"{row.path}: sha256 differs from the world's")
    for key in expected.keys() - seen:
        result.problems.append(f"missing: {key[0]} job {key[1]} node {key[2]} {key[3]}")
    return result


async def verify_store_against_world(
    world: World, writer: ObjectStoreWriter, org: str
) -> Verification:
    """Every job of ``org``'s projects has its manifest in the bucket, naming one object
    per artifact with the artifact's sha256, and every object read back has that sha256."""
    slugs = {p.slug for p in world.projects if p.slug.startswith(org + "/")}
    expected: dict[tuple[str, int], Counter[str]] = {}
    for a in world.iter_artifacts():
        if a.project_slug in slugs:
            expected.setdefault((a.project_slug, a.job_number), Counter())[a.sha256] += 1
    result = Verification()
    found = {(m.project_slug, m.job_number): m for m in await writer.manifests()}
    for job, hashes in sorted(expected.items()):
        manifest = found.get(job)
        if manifest is None:
            result.problems.append(f"missing: the manifest of {job[0]} job {job[1]}")
            continue
        if Counter(o.sha256 for o in manifest.objects) != hashes:
            result.problems.append(f"{job[0]} job {job[1]}: objects differ from the world's")
        for stored in manifest.objects:
            size, digest = await writer.sha256_of(stored.key)
            result.checked += 1
            if (size, digest) != (stored.size, stored.sha256):
                result.problems.append(f"{stored.key}: sha256 differs from the world's")
    return result


def run(args: argparse.Namespace) -> int:
    url = store_dest(args.dest)
    if url is None:
        check_dest(args.dest, create=True)
    display = ProgressDisplay(sys.stderr, quiet=args.quiet or args.json, verbose=args.verbose > 0)
    live: dict[str, Any] = {}

    def on_event(event: MirrorEvent) -> None:
        if not isinstance(event, _MIRROR_ONLY):
            display(event)  # type: ignore[arg-type]

    def live_stats() -> str | None:
        client, mirror = live.get("client"), live.get("mirror")
        return None if client is None else stats_line(client, mirror.report if mirror else None)

    display.stats = live_stats

    async def main() -> tuple[MirrorReport, Verification, int]:
        fake = FakeCircleCI(
            seed=args.seed, config=DEMO_WORLD, rate_limit=DEMO_RATE, faults=DEMO_FAULTS
        )
        async with fake:
            if not (args.quiet or args.json):
                sys.stderr.write(
                    f"emulator at {fake.base_url} (rate limit {DEMO_RATE:g}/s, faults "
                    f"{DEMO_FAULTS}); mirroring {DEMO_ORG} into {args.dest}\n"
                )
            client = Client(
                fake.token,
                base_url=fake.base_url,
                limits=api_limits(DEMO_RATE),
                artifact_hosts=(fake.artifact_origin,),
            )
            if url is not None:
                writer = ObjectStoreWriter(url, StoreSettings.from_env())
                async with client:
                    store = StoreMirror(
                        client,
                        url,
                        workers=args.parallel,
                        on_event=on_event,
                        writer=writer,
                        artifact_hosts=(fake.artifact_origin,),
                    )
                    live["client"], live["mirror"] = client, store
                    async with store:
                        await store.run(orgs=[DEMO_ORG])
                    live["final"] = stats_line(client, store.report)
                verification = await verify_store_against_world(fake.world, writer, DEMO_ORG)
                return store.report, verification, fake.violations
            async with client:
                mirror = Mirror(client, args.dest, workers=args.parallel, on_event=on_event)
                live["client"], live["mirror"] = client, mirror
                async with mirror:
                    await mirror.run(orgs=[DEMO_ORG])
                live["final"] = stats_line(client, mirror.report)
            verification = await anyio.to_thread.run_sync(
                verify_against_world, fake.world, args.dest, DEMO_ORG
            )
            return mirror.report, verification, fake.violations

    with display:
        report, verification, violations = run_async(main)
    ok = report.ok and verification.ok and violations == 0
    if args.json:
        body = report_json(report)
        body["verified"] = verification.checked
        body["problems"] = verification.problems
        body["violations"] = violations
        body["ok"] = ok
        emit_json(body)
        return EXIT_OK if ok else EXIT_FAILED
    if not args.quiet or not ok:
        print_summary(report.downloads(), sys.stderr, stats=lambda: live.get("final"))
    for failure in report.listing_failures:
        sys.stderr.write(f"failed {failure.what}: {failure.reason}\n")
    for problem in verification.problems[:20]:
        sys.stderr.write(f"verify: {problem}\n")
    if violations:
        sys.stderr.write(f"the client sent {violations} requests before a Retry-After passed\n")
    if not args.quiet:
        verdict = "all match" if verification.ok else f"{len(verification.problems)} problems"
        sys.stderr.write(
            f"verified {verification.checked} files against the emulator's sha256: {verdict}\n"
        )
        if ok and report.files_done:
            sys.stderr.write(
                "run it again: nothing is downloaded, every file is skipped as complete\n"
            )
    return EXIT_OK if ok else EXIT_FAILED
