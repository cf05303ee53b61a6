"""A real browser on the managers' page: Debian's chromium, driven by Playwright, against the
whole stack of `tests/e2e/conftest.py` (per database, on its own broker).

Playwright drives the system chromium (`executable_path`); it never downloads a browser.
Without chromium these tests skip locally and fail in CI (`missing_infra`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from e2e.browser.site import Site
from support.infra import missing_infra
from support.stack import Stack

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_INSTALLED = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        missing_infra(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def site(stack: Stack, chromium: Browser) -> AsyncIterator[Site]:
    site = Site(stack, chromium)
    try:
        yield site
    finally:
        await site.close()
