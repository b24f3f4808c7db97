"""``aiocircleci mirror`` as a user runs it: a subprocess against the emulator.

The emulator runs in this process (thread mode); the CLI gets its URL and token
from the environment, as a user's shell would give them. Off a terminal the CLI
must never write a control code, and every usage or auth error is one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiocircleci._lock import LOCK_NAME
from aiocircleci._manifest import MANIFEST_NAME, read_manifest
from aiocircleci.testing import Artifact as WorldArtifact
from aiocircleci.testing import FakeCircleCI, World, WorldConfig
from aiocircleci.testing import Job as WorldJob
from aiocircleci.testing import Pipeline as WorldPipeline
from aiocircleci.testing import Workflow as WorldWorkflow

NOW = time.time()
SELECTION_WORLD = WorldConfig(
    projects=3,
    pipelines_per_project=10,
    workflows_per_pipeline=2,
    jobs_per_workflow=3,
    artifacts_per_job=2,
    max_artifact_size=2048,
    start_time=NOW,
)
SMALL_WORLD = WorldConfig(
    projects=2,
    pipelines_per_project=4,
    workflows_per_pipeline=2,
    jobs_per_workflow=3,
    artifacts_per_job=3,
    max_artifact_size=8192,
)


def _env(fake: FakeCircleCI | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    if fake is not None:
        env.update(
            CIRCLECI_BASE_URL=fake.base_url,
            CIRCLE_TOKEN=fake.token,
            CIRCLECI_ARTIFACT_HOSTS=fake.artifact_origin,
        )
    env.update(extra)
    return env


def run_cli(
    fake: FakeCircleCI | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if "mirror" in args and "--api-rate" not in args:
        args = (*args, "--api-rate", "1000")  # the emulator has no limit unless a test sets one
    done = subprocess.run(
        [sys.executable, "-m", "aiocircleci", *args],
        env=env if env is not None else _env(fake),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Off a terminal: plain lines, never a control code.
    assert "\x1b" not in done.stdout
    assert "\x1b" not in done.stderr
    assert "Traceback" not in done.stderr
    return done


# ---------------------------------------------------------------- the world's side


Chosen = tuple[WorldPipeline, WorldWorkflow, WorldJob, WorldArtifact]


def world_files(world: World, slugs: list[str] | None = None) -> Iterator[Chosen]:
    """Every artifact of the world, with the pipeline, workflow and job it belongs to."""
    for project in world.projects:
        if slugs is not None and project.slug not in slugs:
            continue
        for pipeline in world.pipelines(project.slug):
            for workflow in world.workflows(pipeline.id):
                for job in world.jobs(workflow.id):
                    for artifact in world.artifacts(job):
                        yield pipeline, workflow, job, artifact


def layout_path(chosen: Chosen) -> str:
    """Where the README says a file goes."""
    pipeline, workflow, job, artifact = chosen
    return (
        f"{pipeline.project_slug}/{pipeline.number}/{workflow.name}-{workflow.id[:8]}/"
        f"{job.name}-{job.number}/{artifact.node_index}/"
        + unicodedata.normalize("NFC", artifact.path)
    )


@pytest.fixture(scope="module")
def selection_fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=41, config=SELECTION_WORLD) as fake:
        yield fake


def _dry_run(fake: FakeCircleCI, tmp_path: Path, *args: str) -> set[str]:
    done = run_cli(fake, "--json", "mirror", *args, "--dest", str(tmp_path / "d"), "--dry-run")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["dry_run"] is True
    assert not (tmp_path / "d").exists()  # a dry run writes nothing
    return {p["path"] for p in body["planned"]}


def _newest_per_branch(world: World, slug: str) -> set[str]:
    newest: dict[tuple[str | None, str | None], str] = {}
    for pipeline in world.pipelines(slug):  # newest first
        newest.setdefault((pipeline.branch, pipeline.tag), pipeline.id)
    return set(newest.values())


def _minutes_between_second_and_third(world: World, slug: str) -> int:
    """An age boundary far (minutes) from any pipeline of ``slug``."""
    times = [p.created_at for p in world.pipelines(slug)]
    middle = (times[1] + times[2]) / 2
    return round((time.time() - middle) / 60)


def _selection_cases(world: World) -> list[tuple[list[str], Callable[[Chosen], bool]]]:
    web, api, app = (p.slug for p in world.projects)
    with_files = sorted({c[0].number for c in world_files(world, [web])})
    numbers = [with_files[0], with_files[-1]]
    times = [p.created_at for p in world.pipelines(web)]
    since_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((times[6] + times[7]) / 2))
    until_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((times[2] + times[3]) / 2))
    minutes = _minutes_between_second_and_third(world, web)
    latest = _newest_per_branch(world, web) | _newest_per_branch(world, api)
    return [
        ([web, "--branch", "main"], lambda c: c[0].project_slug == web and c[0].branch == "main"),
        (
            [web, "--branch", "main", "--branch", "develop"],
            lambda c: c[0].project_slug == web and c[0].branch in ("main", "develop"),
        ),
        (
            [web, "--since", since_iso, "--until", until_iso],
            lambda c: c[0].project_slug == web and (times[7] < c[0].created_at < times[2]),
        ),
        (
            [web, "--since", f"{minutes}m"],
            lambda c: c[0].project_slug == web and c[0].created_at > times[2],
        ),
        (
            [web, *(a for n in numbers for a in ("--pipeline", str(n)))],
            lambda c: c[0].project_slug == web and c[0].number in numbers,
        ),
        ([web, api, "--latest"], lambda c: c[0].id in latest),
        (
            [web, api, "--status", "failed", "--status", "canceled"],
            lambda c: c[0].project_slug in (web, api) and c[1].status in ("failed", "canceled"),
        ),
        (
            [app, "--workflow", "build-*", "--workflow", "deploy"],
            lambda c: c[0].project_slug == app and c[1].name in ("build-and-test", "deploy"),
        ),
        (
            [app, "--exclude-workflow", "n*"],
            lambda c: c[0].project_slug == app and not c[1].name.startswith("n"),
        ),
        (
            [web, "--job", "*test*", "--exclude-job", "integration-*"],
            lambda c: c[0].project_slug == web and c[2].name == "unit-tests",
        ),
        (
            [api, "--artifact", "*.txt", "--artifact", "*.log", "--exclude-artifact", "odd*"],
            lambda c: (
                c[0].project_slug == api
                and c[3].path.endswith((".txt", ".log"))
                and not c[3].path.startswith("odd")
            ),
        ),
        (["--org", "gh/acme-corp"], lambda c: c[0].project_slug.startswith("gh/acme-corp/")),
    ]


CASES = [
    "branch",
    "two-branches",
    "since-until-iso",
    "since-minutes",
    "pipeline-numbers",
    "latest",
    "workflow-status",
    "workflow-glob",
    "exclude-workflow",
    "job-globs",
    "artifact-globs",
    "org",
]


@pytest.mark.parametrize("case", CASES)
def test_each_selection_flag_plans_exactly_the_matching_artifacts(
    selection_fake: FakeCircleCI, tmp_path: Path, case: str
) -> None:
    world = selection_fake.world
    args, takes = _selection_cases(world)[CASES.index(case)]
    expected = {layout_path(c) for c in world_files(world) if takes(c)}
    assert expected, "the case should select something"
    assert _dry_run(selection_fake, tmp_path, *args) == expected


def test_since_stops_listing_pipelines_at_the_first_older_one(
    selection_fake: FakeCircleCI, tmp_path: Path
) -> None:
    world = selection_fake.world
    slug = world.projects[0].slug
    minutes = _minutes_between_second_and_third(world, slug)
    selection_fake.clear_requests()
    _dry_run(selection_fake, tmp_path, slug, "--since", f"{minutes}m")
    pages = [r for r in selection_fake.api_requests if r.operation == "listPipelinesForProject"]
    assert len(pages) == 1  # 10 pipelines fit one page; the point is no page after --since
    workflows = [
        r for r in selection_fake.api_requests if r.operation == "listWorkflowsByPipelineId"
    ]
    assert len(workflows) == 2  # only the two pipelines inside the window


# ---------------------------------------------------------------- a real run


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _resumable(dest: Path) -> dict[str, int]:
    """The ``.part`` files a later run can resume: bytes on disk and a validator beside them."""
    found: dict[str, int] = {}
    for part in _files(dest):
        if part.name.endswith(".part") and part.with_name(part.name + ".meta").exists():
            size = part.stat().st_size
            if size > 0:
                found[str(part)] = size
    return found


def _check_files(dest: Path, world: World, chosen: list[Chosen]) -> None:
    """Byte-exact and complete: every chosen file and nothing else."""
    on_disk = {
        str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and p.name != "x"
    } - {MANIFEST_NAME, LOCK_NAME}
    assert on_disk == {layout_path(c) for c in chosen}
    for c in chosen:
        data = (dest / layout_path(c)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == c[3].sha256, layout_path(c)
    rows = list(read_manifest(dest))
    assert {r.path for r in rows} == on_disk
    by_path = {layout_path(c): c for c in chosen}
    for row in rows:
        pipeline, workflow, job, artifact = by_path[row.path]
        assert row.status == "complete"
        assert (row.size, row.sha256) == (artifact.size, artifact.sha256)
        assert (row.pipeline_number, row.workflow_id, row.job_number) == (
            pipeline.number,
            workflow.id,
            job.number,
        )
        assert row.url.endswith(artifact.url.rsplit("/artifacts/", 1)[1])


def test_a_mirror_lays_files_out_by_pipeline_workflow_job_and_node_then_skips_them_all(
    tmp_path: Path,
) -> None:
    with FakeCircleCI(seed=42, config=SMALL_WORLD, rate_limit=100) as fake:
        world = fake.world
        slugs = [p.slug for p in world.projects]
        chosen = list(world_files(world))
        # Parallel jobs store the same path on several nodes: the node keeps them apart.
        nodes = {(c[2].id, c[3].path) for c in chosen if c[3].node_index > 0}
        assert nodes
        dest = tmp_path / "mirror"
        first = run_cli(fake, "mirror", *slugs, "--dest", str(dest), "--api-rate", "100")
        assert first.returncode == 0, first.stderr
        assert f"done      {len(chosen)}" in first.stderr
        assert "rate-limited (429)" in first.stderr
        _check_files(dest, world, chosen)

        fake.clear_requests()
        second = run_cli(fake, "--json", "mirror", *slugs, "--dest", str(dest), "--api-rate", "100")
        assert second.returncode == 0, second.stderr
        body = json.loads(second.stdout)
        assert body["files"] == {"done": 0, "skipped": len(chosen), "failed": 0}
        # Nothing downloaded, and no finished job listed again.
        assert not fake.artifact_requests
        assert not fake.storage_requests
        assert body["api"]["requests"] < first.stderr.count("\n")
        listed = {
            int(r.path.rsplit("/", 2)[-2])
            for r in fake.api_requests
            if r.operation == "getJobArtifacts"
        }
        unfinished = {
            c.number
            for s in slugs
            for p in world.pipelines(s)
            for w in world.workflows(p.id)
            for c in world.jobs(w.id)
            if c.stopped_at is None and c.number is not None
        }
        assert listed <= unfinished  # a running job may still get artifacts
        _check_files(dest, world, chosen)
        assert fake.violations == 0


def test_a_file_deleted_or_damaged_after_a_mirror_is_fetched_again(tmp_path: Path) -> None:
    with FakeCircleCI(seed=43, config=SMALL_WORLD) as fake:
        world = fake.world
        slug = world.projects[0].slug
        chosen = [c for c in world_files(world, [slug]) if c[3].size > 10]
        dest = tmp_path / "m"
        assert run_cli(fake, "-q", "mirror", slug, "--dest", str(dest)).returncode == 0
        gone, damaged = dest / layout_path(chosen[0]), dest / layout_path(chosen[1])
        gone.unlink()
        damaged.write_bytes(b"not what was downloaded")
        again = run_cli(fake, "--json", "mirror", slug, "--dest", str(dest))
        assert json.loads(again.stdout)["files"]["done"] == 2
        _check_files(dest, world, list(world_files(world, [slug])))


def test_sigkill_halfway_then_a_rerun_is_byte_exact_complete_and_without_duplicates(
    tmp_path: Path,
) -> None:
    config = WorldConfig(
        projects=1,
        pipelines_per_project=6,
        workflows_per_pipeline=2,
        jobs_per_workflow=3,
        artifacts_per_job=3,
        max_artifact_size=256 * 1024,
    )
    # Bodies that break off midway leave .part files behind, and the retries'
    # backoff keeps the run going long enough to be killed in the middle.
    with FakeCircleCI(seed=44, config=config, faults="storage:reset-mid-body@0.4") as fake:
        world = fake.world
        slug = world.projects[0].slug
        chosen = list(world_files(world))
        dest = tmp_path / "m"
        argv = [sys.executable, "-m", "aiocircleci", "-q", "mirror", slug, "--dest", str(dest)]
        argv += ["-j", "8", "--api-rate", "1000"]
        process = subprocess.Popen(argv, env=_env(fake), stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                done = [p for p in _files(dest) if not p.name.endswith((".part", ".meta"))]
                # Two files cut short with bytes to resume, so one still is at the kill.
                if len(done) > 10 and len(_resumable(dest)) >= 2:
                    break
                time.sleep(0.01)
            assert process.poll() is None, "the run ended before it could be killed"
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        resumable = _resumable(dest)
        assert resumable  # downloads were cut short with bytes on disk
        assert len(list(read_manifest(dest))) < len(chosen)

        fake.faults = None
        fake.clear_requests()
        again = run_cli(fake, "--json", "mirror", slug, "--dest", str(dest))
        assert again.returncode == 0, again.stderr
        body = json.loads(again.stdout)
        assert body["files"]["done"] + body["files"]["skipped"] == len(chosen)
        assert not list(dest.rglob("*.part*"))
        _check_files(dest, world, chosen)
        # The cut-short files resumed where they stopped instead of starting over:
        # 206 for the rest, or 416 for a .part the kill caught already complete
        # (between its last write and its rename). The last answers' records are
        # written just after their last byte went out, so wait for them.
        fake.wait_settled()
        # HTML artifacts are served by the artifact host itself, the rest by storage.
        bodies = [*fake.artifact_requests, *fake.storage_requests]
        answered = {r.header("Range") for r in bodies if r.status in (206, 416)}
        seen = [(r.header("Range"), r.status, r.path) for r in bodies]
        assert {f"bytes={size}-" for size in resumable.values()} <= answered, (resumable, seen)


def test_dry_run_lists_the_files_and_their_count_and_writes_nothing(tmp_path: Path) -> None:
    with FakeCircleCI(seed=45, config=SMALL_WORLD) as fake:
        slug = fake.world.projects[1].slug
        chosen = list(world_files(fake.world, [slug]))
        dest = tmp_path / "m"
        plan = run_cli(fake, "mirror", slug, "--dest", str(dest), "--dry-run")
        assert plan.returncode == 0, plan.stderr
        assert set(plan.stdout.splitlines()) == {layout_path(c) for c in chosen}
        assert f"would download {len(chosen)} files" in plan.stderr
        assert not dest.exists()
        assert not fake.artifact_requests
        # After a partial mirror, the plan is what is left, and sizes known from it.
        run_cli(fake, "-q", "mirror", slug, "--dest", str(dest), "--artifact", "*.xml")
        (dest / layout_path(next(c for c in chosen if c[3].path.endswith(".xml")))).unlink()
        plan = run_cli(fake, "--json", "mirror", slug, "--dest", str(dest), "--dry-run")
        body = json.loads(plan.stdout)
        xml = [p for p in body["planned"] if p["path"].endswith(".xml")]
        assert [p["status"] for p in xml] == ["changed"]
        assert xml[0]["size"] is not None
        assert body["planned_bytes"] == xml[0]["size"]
        assert len(body["planned"]) == len(chosen) - body["files"]["skipped"]


# ---------------------------------------------------------------- exit codes


def _one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aiocircleci: ")
    for word in words:
        assert word in lines[0]


def test_usage_and_auth_errors_are_one_line_and_exit_2(
    selection_fake: FakeCircleCI, tmp_path: Path
) -> None:
    fake = selection_fake
    slug = fake.world.projects[0].slug
    dest = str(tmp_path / "m")
    no_token = _env(None, CIRCLECI_BASE_URL=fake.base_url)
    _one_line(run_cli(fake, "mirror", slug, "--dest", dest, env=no_token), 2, "CIRCLE_TOKEN")
    wrong = {**_env(fake), "CIRCLE_TOKEN": "CCIPAT_wrong"}
    _one_line(run_cli(fake, "mirror", slug, "--dest", dest, env=wrong), 2, "authentication")
    _one_line(run_cli(fake, "mirror", "gh/acme-corp/nope", "--dest", dest), 2, "not found")
    assert not Path(dest).exists()  # nothing is created before the token and slugs check out
    _one_line(run_cli(fake, "mirror", "--org", "gh/nobody", "--dest", dest), 2, "not found")
    _one_line(run_cli(fake, "mirror", "gh/only-two", "--dest", dest), 2, "invalid project slug")
    bad_date = run_cli(fake, "mirror", slug, "--dest", dest, "--since", "yesterday")
    _one_line(bad_date, 2, "--since", "yesterday", "7d")
    _one_line(run_cli(fake, "mirror", slug, "--dest", dest, "--status", "green"), 2, "green")
    _one_line(run_cli(fake, "mirror", "--dest", dest), 2, "SLUG")
    _one_line(run_cli(fake, "mirror", slug, "--dest", dest, "--pipeline", "x"), 2, "invalid int")
    (tmp_path / "file").write_text("x")
    under_a_file = str(tmp_path / "file" / "m")
    _one_line(run_cli(fake, "mirror", slug, "--dest", under_a_file), 2, "--dest", "not writable")
    _one_line(run_cli(fake, "mirror", slug, "--dest", str(tmp_path / "file")), 2, "directory")


def test_files_that_fail_are_listed_and_the_exit_code_is_1(tmp_path: Path) -> None:
    config = WorldConfig(projects=1, pipelines_per_project=3, hostile_paths=True)
    with FakeCircleCI(seed=46, config=config) as fake:
        slug = fake.world.projects[0].slug
        hostile = [
            c for c in world_files(fake.world) if c[3].path.startswith("..") or "/../" in c[3].path
        ]
        assert hostile
        done = run_cli(fake, "mirror", slug, "--dest", str(tmp_path / "m"))
        assert done.returncode == 1
        assert "failed files:" in done.stderr
        for chosen in hostile:
            assert chosen[3].path in done.stderr
        # "/absolute/..." paths are made relative and mirrored; the rest is all there.
        assert f"done      {len(list(world_files(fake.world))) - len(hostile)}" in done.stderr


def test_a_mirror_in_two_processes_writes_the_files_and_manifest_of_one(tmp_path: Path) -> None:
    # The manifest is written by the mirror's process, from the results that come back.
    with FakeCircleCI(seed=44, config=SMALL_WORLD) as fake:
        world = fake.world
        slugs = [p.slug for p in world.projects]
        chosen = list(world_files(world))
        rows = {}
        for processes in ("1", "2"):
            dest = tmp_path / f"m{processes}"
            args = ("-q", "mirror", *slugs, "--dest", str(dest), "--processes", processes)
            done = run_cli(fake, *args)
            assert done.returncode == 0, done.stderr
            _check_files(dest, world, chosen)
            rows[processes] = {(r.path, r.size, r.sha256, r.status) for r in read_manifest(dest)}
        assert rows["1"] == rows["2"]
        assert not [p for p in (tmp_path / "m2").rglob("*") if ".part" in p.name]
        bad = run_cli(fake, "mirror", *slugs, "--dest", str(tmp_path / "m3"), "--processes", "0")
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == ["aiocircleci: --processes must be at least 1"]
