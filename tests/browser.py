"""Helpers of the browser tests: README screenshots and the narrow-screen check."""

import os
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parent.parent / "static" / "screenshots"


def shot(page, name, mask=()):
    """Screenshots for the README when UPDATE_SCREENSHOTS=1; always taken (catches crashes)."""
    kwargs = {"full_page": True, "mask": list(mask)}
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        kwargs["path"] = str(SCREENSHOTS / f"{name}.png")
    page.screenshot(**kwargs)


def fits(page) -> bool:
    """The page does not scroll sideways (wide tables scroll inside their own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
