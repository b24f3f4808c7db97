"""``aiocircleci fake-server`` as a user runs it: a separate process, Ctrl-C to stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from aiocircleci.cli import main
from aiocircleci.testing._shapes import default_shapes


@contextmanager
def _fake_server(*args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "aiocircleci", "fake-server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _env_lines(process: subprocess.Popen[str], count: int) -> dict[str, str]:
    """The ``export NAME=value`` lines the server prints after the URL (and token)."""
    assert process.stdout is not None
    env: dict[str, str] = {}
    for _ in range(count):
        line = process.stdout.readline().strip()
        assert line.startswith("export "), line
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Circle-Token": token})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_fake_server_prints_url_and_token_and_stops_cleanly_on_ctrl_c() -> None:
    with _fake_server("--port", "0", "--seed", "3") as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        token_line = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/api/v2")
        assert token_line.startswith("token: ")
        token = token_line.removeprefix("token: ")
        assert token not in base_url
        env = _env_lines(process, 3)
        assert env["CIRCLECI_BASE_URL"] == base_url
        assert env["CIRCLE_TOKEN"] == token
        assert env["CIRCLECI_ARTIFACT_HOSTS"].startswith("http://127.0.0.1:")
        curl = shutil.which("curl")
        if curl is not None:
            answer = subprocess.run(
                [curl, "-sS", "--max-time", "5", "-H", f"Circle-Token: {token}", f"{base_url}/me"],
                capture_output=True,
                text=True,
                check=True,
            )
            me = json.loads(answer.stdout)
        else:
            me = _get(f"{base_url}/me", token)
        assert me["login"] == "octo-dev"

        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stdout == ""
        assert "Traceback" not in stderr


def test_spec_shapes_serves_the_specs_spellings() -> None:
    with _fake_server("--port", "0", "--token", "t", "--projects", "1", "--spec-shapes") as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        me = _get(f"{base_url}/me/collaborations", "t")
        assert [sorted(org) for org in me] == [["avatar_url", "id", "name", "slug", "vcs-type"]]


def test_a_given_token_is_not_printed_and_the_world_follows_the_options() -> None:
    with _fake_server(
        "--port", "0", "--token", "my-token", "--projects", "1", "--pipelines", "4"
    ) as process:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        env = _env_lines(process, 2)  # no CIRCLE_TOKEN line: the token given is not echoed
        assert set(env) == {"CIRCLECI_BASE_URL", "CIRCLECI_ARTIFACT_HOSTS"}
        assert "my-token" not in "".join(env.values())
        me = _get(f"{base_url}/me/collaborations", "my-token")
        assert [org["slug"] for org in me] == ["gh/acme-corp"]
        assert [org["vcs_type" if default_shapes() == "live" else "vcs-type"] for org in me] == [
            "github"
        ]
        pipelines = _get(f"{base_url}/project/gh/acme-corp/web-app/pipeline", "my-token")
        assert len(pipelines["items"]) == 4
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stdout == ""
        assert "my-token" not in stderr


def test_a_bad_fault_spec_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fake-server", "--faults", "api:teapot"])
    assert exited.value.code == 2
    assert "unknown fault kind 'teapot'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "message"),
    [("fast", "not a size: 'fast'"), ("0", "limit_rate must be positive, not 0")],
)
def test_a_bad_limit_rate_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    try:
        code: object = main(["fake-server", "--limit-rate", value])
    except SystemExit as exc:  # argparse refuses it before the server is built
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
