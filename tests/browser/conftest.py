"""What the page-by-page browser tests share: one hub per test module and one Chromium.

A module that needs a hub with data of its own defines its own ``served`` fixture, which
takes the place of this one.
"""

from __future__ import annotations

import pytest
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, Hub, _require_tools


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """A hub with the seeded hospital, serving on a free port, for the whole module."""
    _require_tools()
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_").replace("_", "-")
    server = Hub(tmp_path_factory.mktemp(name))
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium(served):
    """One Chromium for the module's tests (each opens its own context and page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    """The folder the browser tests' screenshots go to (``<artifacts>/screenshots``)."""
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
