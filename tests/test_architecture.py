"""The layering the house style promises, checked from the source.

CLI -> mirror -> (client | downloader) -> transport; only the transport uses
aiohttp's client; the emulator (aiocircleci.testing) never imports the client.
"""

from __future__ import annotations

import ast
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
        "client.py": ("aiocircleci.download", "aiocircleci.mirror", "aiocircleci.cli"),
        "download.py": ("aiocircleci.mirror", "aiocircleci.cli", "aiocircleci.testing"),
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
    bottom = ("models/", "_ratelimit.py", "_http.py", "_config.py", "errors.py", "_slug.py")
    allowed = ("aiocircleci.models", "aiocircleci.errors", "aiocircleci._config")
    for name, imports in modules.items():
        if name.startswith(bottom):
            bad = sorted(
                i for i in imports if i.startswith("aiocircleci") and not i.startswith(allowed)
            )
            assert bad == [], f"{name} imports {bad}"


def test_the_mirror_package_keeps_its_modules_reviewable() -> None:
    # One job per module, none longer than about 500 lines (the download side follows).
    for path in sorted((PACKAGE / "mirror").glob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 500, f"mirror/{path.name} has {lines} lines"
