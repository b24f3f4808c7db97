"""The public surface is deliberate: ``__all__`` is sorted and complete."""

from __future__ import annotations

import aiocircleci
import aiocircleci.errors
import aiocircleci.models


def test_all_is_sorted_and_names_only_what_exists() -> None:
    for module in (aiocircleci, aiocircleci.models, aiocircleci.errors):
        names = list(module.__all__)
        # isort style: CONSTANTS, then Classes, then functions and dunders.
        assert names == sorted(
            names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
        )
        for name in names:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_every_public_name_defined_in_the_package_is_exported() -> None:
    public = {
        name
        for name, value in vars(aiocircleci).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("aiocircleci")
        and isinstance(value, type)
    }
    assert public <= set(aiocircleci.__all__)


def test_every_error_derives_from_circleci_error() -> None:
    for name in aiocircleci.errors.__all__:
        value = getattr(aiocircleci.errors, name)
        if isinstance(value, type):
            assert issubclass(value, aiocircleci.CircleCIError), name
