"""Fixtures shared by every test layer: test-process speed-ups, and the one in-process emulator the
emulator and drill tests share (started by the first test that asks for it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from botocore.loaders import Loader


class SharedLoaderCache:
    """A botocore ``Loader``'s instance cache backed by one process-wide dict.

    botocore caches parsed service models per ``Loader``, and every new session (each ``mock_aws()``
    resets ``boto3.DEFAULT_SESSION``; each handler cold start makes one) gets a new ``Loader``, so the
    same JSON models were re-read and re-parsed hundreds of times per test file. Sharing the cache
    across loaders hands every session the objects one session already shares between its clients.
    Entries are keyed by the loader's class, search paths and extras types as well, so loaders
    configured differently (moto's own, a custom AWS_DATA_PATH) never see each other's answers.
    """

    store: ClassVar[dict[tuple[Any, ...], Any]] = {}

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def _key(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        loader = self.loader
        return (type(loader), tuple(loader.search_paths), tuple(loader.extras_types), key)

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        return self._key(key) in self.store

    def __getitem__(self, key: tuple[Any, ...]) -> Any:
        return self.store[self._key(key)]

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self.store[self._key(key)] = value


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_models() -> Iterator[None]:
    """Every botocore ``Loader`` made during the session uses the shared model cache."""
    original_init = Loader.__init__

    def init(self: Loader, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._cache = SharedLoaderCache(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Loader, "__init__", init)
        yield


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """The URL of the session's one patched emulator (tests/emulator.py, imported here: the unit tests
    need none of the emulator's modules)."""
    from tests.emulator import running_emulator

    with running_emulator("local-aws-tests-") as url:
        yield url


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable[[str], Any]:
    """``aws("s3")`` is a boto3 client for the session's emulator."""
    from tests.emulator import client_factory

    return client_factory(endpoint)


@pytest.fixture(scope="session")
def backup_role(endpoint: str) -> str:
    """The ARN of the role the tests give AWS Backup's jobs (the emulator starts with it)."""
    from tests.emulator import BACKUP_ROLE

    return BACKUP_ROLE
