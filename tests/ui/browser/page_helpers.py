"""Steps the browser tests share: moving between pages and checking a control is on screen."""

from __future__ import annotations


def go(page, name: str) -> None:
    """Open a page from the sidebar, as a person does."""
    page.locator(".gj-nav").get_by_text(name, exact=True).first.click()


def within_viewport(page, selector: str, *, vertically: bool = True) -> None:
    """The first element matching `selector` is inside the window (not clipped off to the side, and with
    `vertically` not below or above it either)."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (selector, box, size)
    if vertically:
        assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (selector, box, size)
