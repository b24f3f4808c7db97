"""The layering the house style promises, checked from the source.

CLI -> mirror -> (client | downloader) -> send path -> transport; only the
transport uses aiohttp's client; API calls and downloads share one send path
and one retry decision; the emulator (aiocircleci.testing) never imports the client.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "aiocircleci"


def _runtime_imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path``, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    module = ".".join([*base, child.module] if child.module else base)
                else:
                    module = child.module or ""
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


def _modules(*parts: str) -> dict[str, set[str]]:
    root = PACKAGE.joinpath(*parts)
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    return {str(f.relative_to(PACKAGE)): _runtime_imports(f) for f in files}


def test_only_the_transport_imports_aiohttps_client() -> None:
    users = {
        name
        for name, imports in _modules().items()
        if not name.startswith("testing/") and any(i.split(".")[0] == "aiohttp" for i in imports)
    }
    assert users == {"_transport.py"}


def _client_side_sources() -> dict[str, ast.Module]:
    return {
        str(f.relative_to(PACKAGE)): ast.parse(f.read_text(encoding="utf-8"))
        for f in sorted(PACKAGE.rglob("*.py"))
        if not str(f.relative_to(PACKAGE)).startswith("testing/")
    }


def _calls_to(tree: ast.AST, attr: str) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == attr
    )


def _strings(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_one_send_path_puts_requests_on_the_wire_and_places_the_token() -> None:
    sources = _client_side_sources()
    # Only the send path hands a request to a transport...
    senders = {name for name, tree in sources.items() if _calls_to(tree, "stream")}
    assert senders == {"_send.py"}
    # ...and only it knows the token header: nobody else can place the token.
    placers = {name for name, tree in sources.items() if "Circle-Token" in _strings(tree)}
    assert placers == {"_send.py"}
    # Redirects are followed in one place.
    joiners = {name for name, tree in sources.items() if _calls_to(tree, "urljoin")}
    assert joiners == {"_send.py"}


def test_the_downloader_builds_no_requests_of_its_own() -> None:
    sources = _client_side_sources()
    tree = ast.Module(
        body=[n for name, t in sources.items() if name.startswith("download/") for n in t.body],
        type_ignores=[],
    )
    imports = set().union(*_modules("download").values())
    # It sends through Sender.open, and adds only Range / If-Range and its body handling.
    assert _calls_to(tree, "open") >= 1
    assert "aiocircleci._send.Sender" in imports
    # No redirect handling and no token placement of its own.
    assert not {"Location", "Circle-Token"} & _strings(tree)
    assert _calls_to(tree, "stream") == 0
    assert _calls_to(tree, "parse_retry_after") == 0
    assert _calls_to(tree, "backoff_delay") == 0
    assert not {"time.time", "time.monotonic", "time.perf_counter"} & {
        ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)
    }, "the downloader reads its injected clock, never the wall clock"


def test_copies_into_a_store_send_through_the_one_send_path() -> None:
    tree = _client_side_sources()["_storecopy.py"]
    imports = _modules("_storecopy.py")["_storecopy.py"]
    assert _calls_to(tree, "open") >= 1
    assert "aiocircleci._send.Sender" in imports
    assert not {"Location", "Circle-Token"} & _strings(tree)
    assert _calls_to(tree, "stream") == 0
    assert _calls_to(tree, "parse_retry_after") == 0
    assert _calls_to(tree, "backoff_delay") == 0


def test_api_calls_and_downloads_ask_one_retry_decision() -> None:
    sources = _client_side_sources()
    askers = {name for name, tree in sources.items() if _calls_to(tree, "decide")}
    # API calls ask it in the requester; every repeated GET (a download, a segment,
    # an object-store copy) through the one GetRetries of the send path.
    assert askers == {"_requester.py", "_send.py"}
    loops = {name for name, tree in sources.items() if _calls_to(tree, "GetRetries")}
    assert loops == {"download/_file.py", "_segments.py", "_storecopy.py"}
    backoff = {name for name, tree in sources.items() if _calls_to(tree, "backoff_delay")}
    assert backoff == {"_retry.py"}


def test_the_emulator_never_imports_the_client_side() -> None:
    client_side = (
        "aiocircleci.client",
        "aiocircleci._requester",
        "aiocircleci._transport",
        "aiocircleci.download",
        "aiocircleci.mirror",
        "aiocircleci._api",
        "aiocircleci.cli",
    )
    for name, imports in _modules("testing").items():
        bad = sorted(i for i in imports if i.startswith(client_side))
        assert bad == [], f"testing/{name} imports {bad}"


def test_lower_layers_never_import_higher_ones() -> None:
    higher = {
        "_transport.py": ("aiocircleci.client", "aiocircleci.download", "aiocircleci.mirror"),
        "_requester.py": ("aiocircleci.client", "aiocircleci.download", "aiocircleci.mirror"),
        "_send.py": (
            "aiocircleci.client",
            "aiocircleci.download",
            "aiocircleci.mirror",
            "aiocircleci._requester",
            "aiocircleci._transport",
        ),
        "client.py": ("aiocircleci.download", "aiocircleci.mirror", "aiocircleci.cli"),
        "download/": ("aiocircleci.mirror", "aiocircleci.cli", "aiocircleci.testing"),
        "mirror/": ("aiocircleci.cli", "aiocircleci.testing"),
    }
    modules = _modules()
    for layer, forbidden in higher.items():
        # A layer is a module, or a package ("mirror/") whose every module is checked.
        names = [n for n in modules if n == layer or (layer.endswith("/") and n.startswith(layer))]
        assert names, layer
        for name in names:
            bad = sorted(i for i in modules[name] if i.startswith(forbidden))
            assert bad == [], f"{name} imports {bad}"
    # The bottom floor: values and arithmetic that import nothing above them.
    bottom = (
        "models/",
        "_ratelimit.py",
        "_http.py",
        "_auth.py",
        "_config.py",
        "errors.py",
        "_slug.py",
    )
    allowed = (
        "aiocircleci.models",
        "aiocircleci.errors",
        "aiocircleci._config",
        "aiocircleci._auth",
        "aiocircleci._http",
    )
    for name, imports in modules.items():
        if name.startswith(bottom):
            bad = sorted(
                i for i in imports if i.startswith("aiocircleci") and not i.startswith(allowed)
            )
            assert bad == [], f"{name} imports {bad}"


def test_the_environment_is_read_in_one_place_and_defaults_are_written_once() -> None:
    sources = _client_side_sources()
    readers = {
        name
        for name, tree in sources.items()
        if any(
            isinstance(n, ast.Attribute) and n.attr in ("environ", "getenv") for n in ast.walk(tree)
        )
    }
    # _auth.token_from_env is what _config.from_env calls for the token.
    assert readers == {"_config.py", "_auth.py"}
    for literal in ("*.circle-artifacts.com", "CIRCLECI_BASE_URL", "CIRCLECI_ARTIFACT_HOSTS"):
        holders = {
            name
            for name, tree in sources.items()
            if any(isinstance(n, ast.Constant) and n.value == literal for n in ast.walk(tree))
        }
        assert holders == {"_config.py"}, literal


def test_the_mirror_and_download_packages_keep_their_modules_reviewable() -> None:
    # One job per module, none longer than about 500 lines.
    for package in ("mirror", "download"):
        for path in sorted((PACKAGE / package).glob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= 500, f"{package}/{path.name} has {lines} lines"


def test_response_classification_is_pure() -> None:
    # What a response means is decided without the disk, the network or the clock.
    imports = _modules("download", "_classify.py")["download/_classify.py"]
    assert not [i for i in imports if i.startswith(("aiocircleci", "anyio", "asyncio", "os"))]


def test_the_package_names_resolve_lazily_and_import_aiohttp_only_when_used() -> None:
    # A fresh interpreter: the names of `__all__`, the lazy table and the type-checking
    # imports are three lists that must agree, and `import aiocircleci` must stay cheap.
    script = (
        "import sys, aiocircleci\n"
        "assert 'aiohttp' not in sys.modules, 'import aiocircleci imported aiohttp'\n"
        "missing = [n for n in aiocircleci.__all__ if getattr(aiocircleci, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'aiohttp' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
