"""Shared fixtures: a small Basware sandbox served over real loopback HTTP, and plain httpx."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from p2p_assets.sandbox.basware import BaswareSandbox
from p2p_assets_tests.sandbox.helpers import SMALL


@pytest.fixture
def sandbox(tmp_path: Path) -> BaswareSandbox:
    return BaswareSandbox(SMALL, tmp_path / "state")


@pytest.fixture
def base_url(sandbox: BaswareSandbox) -> Iterator[str]:
    with sandbox.serve() as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as http_client:
        yield http_client
