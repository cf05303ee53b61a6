"""axe-core on a page in the browser tests: the `axe.min.js` that `axe-playwright-python`
bundles (pinned in constraints.txt, nothing fetched), run against the rendered page.

`serious_violations(page)` lists what axe rates serious or critical, in words a failing test
can print; the pages must have none.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA, and axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


async def violations(page: Page) -> list[dict[str, Any]]:
    results = await Axe().run(
        page, options={"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": TAGS}}
    )
    found: list[dict[str, Any]] = results.response.get("violations", [])
    return found


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
