"""The listing walk, driven with lists: exact pages, cursors only while more remain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regproxy.authorization.listing import FetchPage, Listing, ListingTooSparse, Page, walk


def drive(
    entries: list[str], visible: set[str], n: int | None, last: str | None, *, page: int = 3, honour: bool = True
) -> tuple[Listing, int]:
    """Run the walk against a registry holding ``entries`` (sorted), ``page`` at a time."""
    ordered = sorted(entries)
    flow = walk(n, last, visible.__contains__, lexical=not honour, upstream_page=page)
    fetches = 0
    ask: FetchPage = next(flow)
    try:
        while True:
            fetches += 1
            if honour:
                after = [e for e in ordered if ask.last is None or e > ask.last]
                size = min(ask.n, page)
                ask = flow.send(Page(tuple(after[:size]), len(after) > size))
            else:  # a registry that ignores n and last: everything, unsorted, no Link
                ask = flow.send(Page(tuple(reversed(ordered)), False))
    except StopIteration as done:
        return done.value, fetches


NAMES = [f"r{i:02d}" for i in range(20)]


def test_pages_hold_exactly_n_visible_entries_and_a_cursor_only_while_more_remain() -> None:
    visible = {"r03", "r07", "r08", "r15"}
    assert drive(NAMES, visible, 2, None)[0] == Listing(("r03", "r07"), "r07")
    assert drive(NAMES, visible, 2, "r07")[0] == Listing(("r08", "r15"), None)
    assert drive(NAMES, visible, 4, None)[0] == Listing(("r03", "r07", "r08", "r15"), None)
    assert drive(NAMES, visible, None, None)[0] == Listing(("r03", "r07", "r08", "r15"), None)


def test_a_registry_that_ignores_pagination_is_paged_by_regproxy() -> None:
    visible = set(NAMES)
    assert drive(NAMES, visible, 2, "r05", honour=False)[0] == Listing(("r06", "r07"), "r07")


def test_the_registry_order_is_kept_when_it_pages_itself() -> None:
    # distribution's catalog walks its storage: `a/b` comes before `a-c`
    order = ["a/b", "a/c", "a-c", "b"]
    flow = walk(2, None, lambda name: True)
    ask = next(flow)
    ask = flow.send(Page(tuple(order[:2]), True))
    assert ask == FetchPage("a/c", 100)  # after the registry's own last entry, not a sorted one
    with pytest.raises(StopIteration) as done:
        flow.send(Page(tuple(order[2:]), False))
    assert done.value.value == Listing(("a/b", "a/c"), "a/c")


def test_a_listing_too_sparse_for_the_bound_is_an_error_not_a_short_page() -> None:
    flow = walk(1, None, lambda name: False, upstream_page=1, max_fetches=3)
    next(flow)
    with pytest.raises(ListingTooSparse):
        for i in range(10):
            flow.send(Page((f"x{i}",), True))


@given(
    visible=st.sets(st.sampled_from(NAMES)),
    n=st.integers(min_value=1, max_value=6),
    page=st.integers(min_value=1, max_value=7),
)
def test_walking_every_page_shows_every_visible_entry_once_in_order(visible: set[str], n: int, page: int) -> None:
    shown: list[str] = []
    last = None
    for _ in range(len(NAMES) + 2):
        listing, _ = drive(NAMES, visible, n, last, page=page)
        assert len(listing.entries) == n or listing.next_last is None
        assert all(e in visible for e in listing.entries)
        shown += listing.entries
        if listing.next_last is None:
            break
        assert listing.next_last == listing.entries[-1]  # a cursor names only what was shown
        last = listing.next_last
    assert shown == sorted(visible)
