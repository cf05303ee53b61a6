"""axe-core in a real browser: the engine the `axe-playwright-python` package bundles
(`axe.min.js`), evaluated in the page through the DevTools protocol (the page's own policy
allows no inline script), then run on the whole document. Tests assert that no violation is
serious or critical."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from playwright.async_api import Page

BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    return files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    result: dict[str, Any] = await page.evaluate(
        "async () => await window.axe.run(document, {resultTypes: ['violations']})"
    )
    return list(result["violations"])


async def blocking_violations(page: Page) -> list[str]:
    """The serious and critical ones, each as `rule: the first offending element`."""
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target'] if v['nodes'] else ''} {v['help']}"
        for v in await violations(page)
        if v.get("impact") in BLOCKING
    ]


async def serious_violations(page: Page) -> list[str]:
    """Each serious or critical violation: its rule, impact, help and the first nodes."""
    out = []
    for violation in await violations(page):
        if violation.get("impact") not in BLOCKING:
            continue
        nodes = [", ".join(node.get("target", [])) for node in violation.get("nodes", [])[:3]]
        out.append(
            f"{violation['id']} ({violation['impact']}): {violation.get('help', '')} "
            f"at {'; '.join(nodes)}"
        )
    return out
