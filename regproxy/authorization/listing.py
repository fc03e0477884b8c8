"""Paginated listings that show only what the caller may see (pure).

``GET /v2/_catalog`` and ``GET /v2/<name>/tags/list`` take ``n`` (page size) and ``last`` (the
entry after which to start); the registry answers the entries in lexical order and a ``Link:
<…?last=X&n=N>; rel="next"`` header while more remain (distribution spec, "Listing Tags",
distribution docs/spec/api.md "Pagination"). The registry's cursor names entries the caller may
not see, so regproxy never passes it on: :func:`walk` reads upstream pages after ``last``,
keeps the visible entries, and returns a page of exactly ``n`` of them, with a cursor (the last
entry returned, which the caller may see) only when more visible entries remain.

The walk is a generator, as the decision flow is: it yields :class:`FetchPage` and receives
:class:`Page`, so the edge does the fetching and tests drive it with lists. It reads a bounded
number of upstream pages; a listing too sparse to fill a page within that bound is an error,
never a silently short page.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

UPSTREAM_PAGE = 1000  # entries asked of the registry at a time (distribution's catalog maximum)
MAX_PAGE = 1000  # the most entries one answer holds, whatever `n` asks (a bigger n gets pages of this)
MAX_FETCHES = 256  # registry pages one answer may read: 256,000 names before it gives up


@dataclass(frozen=True, slots=True)
class FetchPage:
    """Ask the registry for up to ``n`` entries after ``last`` (None: from the start)."""

    last: str | None
    n: int


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[str, ...]
    more: bool  # the registry said more remain (a Link header)


@dataclass(frozen=True, slots=True)
class Listing:
    entries: tuple[str, ...]
    next_last: str | None  # the cursor of the next page, or None: nothing visible remains


class ListingTooSparse(Exception):
    """More than the bound of upstream pages without filling one visible page."""


def walk(
    n: int | None,
    last: str | None,
    visible: Callable[[str], bool],
    *,
    lexical: bool = False,
    upstream_page: int = UPSTREAM_PAGE,
    max_fetches: int = MAX_FETCHES,
) -> Generator[FetchPage, Page, Listing]:
    """One page of visible entries after ``last``: ``n`` of them (all of them when ``n`` is None).

    The registry's order is followed, and the next upstream page is asked after the last entry
    it answered. ``lexical`` (tags, whose order the spec fixes) also copes with a registry that
    ignores ``n`` and ``last`` (distribution 2.8 on tags answers every tag, unsorted): a paged
    request's entries are sorted and those at or before the cursor skipped. The catalog's order
    is the registry's own (distribution's puts ``a/b`` before ``a-c``), so it is never re-sorted.
    """
    wanted = None if n is None else n + 1  # one more than the page: do more remain?
    paged = n is not None or last is not None
    found: list[str] = []
    cursor = last
    for _ in range(max_fetches):
        size = upstream_page if wanted is None else min(upstream_page, max(wanted - len(found), 100))
        page = yield FetchPage(cursor, size)
        entries = sorted(page.entries) if lexical and paged else list(page.entries)
        for entry in entries:
            if cursor is not None and (entry == cursor or (lexical and entry < cursor)):
                continue
            if visible(entry):
                found.append(entry)
                if wanted is not None and len(found) >= wanted:
                    break
        if wanted is not None and len(found) >= wanted:
            shown = tuple(found[: wanted - 1])
            return Listing(shown, shown[-1] if shown else None)
        if not page.more or not entries or entries[-1] == cursor:
            return Listing(tuple(found), None)  # the registry has no more (or makes no progress)
        cursor = entries[-1]
    raise ListingTooSparse(f"no page of visible entries within {max_fetches} registry pages")
