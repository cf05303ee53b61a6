"""Screenshots of the admin area's settings for the docs (docs/screenshots/admin-*.png).

The same believable morning as `screenshots.py` (its seed, on a throw-away SQLite database),
then the administrator's classification section with the preview of a longer short-call
threshold against the last 7 days, and the outcomes section.

    .venv/bin/python scripts/screenshots_admin.py [--out DIR] [--chromium PATH]

Needs no broker and nothing from the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import async_playwright

from crm_store.config import Settings
from crm_store.migrate import migrate
from harness.databases import temporary_database
from harness.service import free_port
from screenshots import ADMIN_TOKEN, CHROMIUM_ARGS, DESKTOP, build_app, seed, signed_in


async def shoot(base_url: str, out: Path, chromium: str) -> list[Path]:
    written = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await signed_in(browser, base_url, ADMIN_TOKEN, DESKTOP)
            await page.goto("/admin/settings/classification")
            await page.get_by_label("Short call (seconds)").fill("120")
            await page.get_by_label("Service numbers").fill("+1 415 555 0188")
            await page.get_by_role("button", name="Preview against the last 7 days").click()
            await page.locator("#preview-calls").wait_for()
            written.append(out / "admin-classification.png")
            await page.screenshot(path=written[-1], full_page=True)

            await page.goto("/admin/settings/outcomes")
            written.append(out / "admin-outcomes.png")
            await page.screenshot(path=written[-1], full_page=True)
        finally:
            await browser.close()
    return written


async def run(out: Path, chromium: str) -> list[Path]:
    async with temporary_database("sqlite://", "screenshots_admin") as url:
        await migrate(url)
        app = build_app(Settings(database_url=url, bootstrap_admin_token=ADMIN_TOKEN))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
            base_url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_url) as client:
                await seed(client, app)
            return await shoot(base_url, out, chromium)
        finally:
            server.should_exit = True
            await serving
            await app.state.engine.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(run(args.out, args.chromium)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
