"""Hot reload: read the policies directory and the identities file, compile off the event loop,
swap in with one assignment; a set with any error is refused whole and the last good one stays.

Changes are noticed three ways: a periodic fingerprint of the files (names, sizes, mtimes and
symlink targets — which also catches a Kubernetes ConfigMap swapping its ``..data`` symlink),
SIGHUP, and an explicit :meth:`Reloader.reload`. In-flight requests keep the objects they
started with: nothing is mutated, only the reference in the store changes.

With config ``policy_tests``, a set whose decision tests fail (:mod:`regproxy.policycode.suite`)
is refused like a broken one: counted apart (``tests-failed``), each failing test logged.

A set changes whole or not at all. The watcher reads the files only once they have been quiet
for a settle interval (``reload.settle``): a tool replacing files one by one is done first.
A set whose files moved while it was being read and compiled is never swapped in: the
fingerprint is taken before and after, and a difference means the set may be a mix, so it is
read again once the files are quiet (:class:`Settle`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from regproxy.errors import IdentityFileError, PolicyError, SourceLocation
from regproxy.identity.identities import Identities, htpasswd_path_of, parse_htpasswd, parse_identities
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import CompiledPolicy, compile_policy
from regproxy.policy.load import BINDINGS_FILE, PolicySetInvalid, compile_policy_set, dialect_of
from regproxy.policy.model import Statement
from regproxy.policycode.suite import PolicyTestsFailed, configured_test_files, gate

log = logging.getLogger("regproxy.reload")


def read_policy_files(directory: Path) -> dict[str, str]:
    """Every policy file below ``directory`` (one level of dialect sub-directories), by
    relative path. Hidden entries (``..data``, ``..2026_...``) are skipped; symlinks followed."""
    files: dict[str, str] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for sub in sorted(entry.iterdir()):
                rel = f"{entry.name}/{sub.name}"
                if not sub.name.startswith(".") and sub.is_file() and dialect_of(rel):
                    files[rel] = sub.read_text(encoding="utf-8")
        elif entry.is_file() and (dialect_of(entry.name) or entry.name == BINDINGS_FILE):
            files[entry.name] = entry.read_text(encoding="utf-8")
    return files


def fingerprint(paths: list[Path]) -> tuple[object, ...]:
    """A cheap summary that changes whenever a watched file or directory changes."""
    out: list[object] = []
    for root in paths:
        if not root.exists():
            out.append((str(root), None))
            continue
        targets = [root]
        if root.is_dir():
            targets.extend(sorted(root.iterdir()))
            targets.extend(
                sorted(p for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") for p in d.iterdir())
            )
        for p in targets:
            try:
                st = p.stat()
                link = os.readlink(p) if p.is_symlink() else None
            except OSError:
                out.append((str(p), None))
                continue
            out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ino, link))
    return tuple(out)


class Settle:
    """When a changed set of files may be read: once it has looked the same for ``interval``
    seconds. Pure: the caller passes each fingerprint it sees and the time it saw it."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: object = None
        self._since = 0.0

    @property
    def poll_interval(self) -> float:
        """How often to look: often enough that quiet is noticed soon after ``interval``
        (once a second without settling)."""
        return min(max(self.interval / 2, 0.05), 1.0) if self.interval > 0 else 1.0

    def due(self, current: object, loaded: object, now: float) -> bool:
        """True when ``current`` differs from what was ``loaded`` and has been quiet long enough."""
        if current != self._last:
            self._last, self._since = current, now
        return current != loaded and now - self._since >= self.interval


@dataclass(frozen=True, slots=True)
class Loaded:
    policy: CompiledPolicy
    identities: Identities


class Store:
    """The policy and identities in force. Swapped whole, read without locks."""

    def __init__(self, policy: CompiledPolicy, identities: Identities) -> None:
        self.policy = policy
        self.identities = identities
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.reloads_tests_failed = 0  # refused because the set failed its decision tests
        self.loaded_at = time.time()
        # decision-cache counts of the compiled sets already replaced, so totals never fall
        self.cache_hits_retired = 0
        self.cache_misses_retired = 0


class Reloader:
    def __init__(
        self,
        store: Store,
        *,
        policies: Path | None,
        identities: Path | None,
        context: DialectContext,
        extra: tuple[Statement, ...],
        settle: float = 0.5,
        on_swap: Callable[[Store], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        tests: Path | None = None,
        what: str = "policy",
    ) -> None:
        self.store = store
        self.what = what  # the log's word for the set: "policy", "shadow policy"
        self.tests = tests  # config `policy_tests`: a set whose tests fail is refused
        self.policies = policies
        self.identities = identities
        self.context = context
        self.extra = extra
        self.settle = Settle(settle)
        self.clock = clock
        self.on_swap = on_swap
        self._lock = asyncio.Lock()
        self._seen: tuple[object, ...] = self._fingerprint()

    def _watched(self) -> list[Path]:
        out = [p for p in (self.policies, self.identities, self.tests) if p is not None]
        htpasswd = self._htpasswd_path()
        if htpasswd is not None:
            out.append(htpasswd)
        return out

    def _htpasswd_path(self) -> Path | None:
        if self.identities is None:
            return None
        try:
            rel = htpasswd_path_of(self.identities.read_text(encoding="utf-8"))
        except OSError:
            return None
        return None if rel is None else (self.identities.parent / rel)

    def _fingerprint(self) -> tuple[object, ...]:
        return fingerprint(self._watched())

    async def reload(self, reason: str) -> bool:
        """Load, compile (in a thread) and swap; False (and the old set kept) on any error."""
        async with self._lock:
            before = await asyncio.to_thread(self._fingerprint)
            generation = self.store.policy.generation + 1
            try:
                loaded = await asyncio.to_thread(
                    load_all, self.policies, self.identities, self.context, self.extra, generation, self.tests
                )
            except (
                PolicyTestsFailed,
                PolicySetInvalid,
                PolicyError,
                IdentityFileError,
                OSError,
                UnicodeDecodeError,
            ) as exc:
                if await asyncio.to_thread(self._fingerprint) != before:
                    log.info("policy files changed while loading (%s); loading again once they settle", reason)
                    return False
                self._seen = before
                self._refused(exc, reason)
                return False
            if await asyncio.to_thread(self._fingerprint) != before:
                # read while files moved: possibly a mix of two sets, never put in force
                log.info("policy files changed while loading (%s); loading again once they settle", reason)
                return False
            self._seen = before
            old = self.store.policy
            self.store.cache_hits_retired += old.cache_hits
            self.store.cache_misses_retired += old.cache_misses
            self.store.policy = loaded.policy
            # Identities unchanged (a policy-only edit, a SIGHUP): keep the object in force. A new
            # object, even an equal one, empties Basic's cache of verified passwords, and every
            # active user would pay a deliberately slow password hash again on every reload.
            if loaded.identities != self.store.identities:
                self.store.identities = loaded.identities
            self.store.reloads_ok += 1
            self.store.loaded_at = time.time()
            log.info(
                "%s generation %d in force (%s): %d statements, %s",
                self.what,
                generation,
                reason,
                len(loaded.policy.policy_set.statements),
                loaded.policy.policy_set.content_hash,
            )
            if self.on_swap is not None:
                self.on_swap(self.store)
            return True

    def _refused(self, exc: BaseException, reason: str) -> None:
        """Count and log a refused set: failing decision tests apart from a broken set."""
        if isinstance(exc, PolicyTestsFailed):
            self.store.reloads_tests_failed += 1
            lines = [f"policy test failed: {failure}" for failure in exc.failures]
        else:
            self.store.reloads_failed += 1
            lines = describe_errors(exc)
        for line in lines:
            log.error("%s reload refused (%s): %s", self.what, reason, line)
        log.error("the last good %s set (generation %d) stays in force", self.what, self.store.policy.generation)

    async def check(self) -> bool:
        """One look at the files: reload when they changed and have been quiet long enough."""
        current = await asyncio.to_thread(self._fingerprint)
        if self.settle.due(current, self._seen, self.clock()):
            await self.reload("files changed")
            return True
        return False

    async def watch(self) -> None:
        """Poll the fingerprint until cancelled."""
        while True:
            await asyncio.sleep(self.settle.poll_interval)
            try:
                await self.check()
            except OSError:
                continue


def describe_errors(exc: BaseException) -> list[str]:
    if isinstance(exc, PolicySetInvalid):
        return [str(e) for e in exc.errors]
    if isinstance(exc, OSError):
        return [f"{exc.filename}: {exc.strerror}"]
    return [str(exc)]


def load_identities_file(path: Path | None) -> Identities:
    if path is None:
        return Identities()
    text = path.read_text(encoding="utf-8")
    htpasswd_rel = htpasswd_path_of(text)
    htpasswd = None
    if htpasswd_rel is not None:
        hp = path.parent / htpasswd_rel
        htpasswd = parse_htpasswd(hp.read_text(encoding="utf-8"), SourceLocation(str(hp)))
    return parse_identities(text, SourceLocation(str(path)), htpasswd)


def load_all(
    policies: Path | None,
    identities: Path | None,
    context: DialectContext,
    extra: tuple[Statement, ...],
    generation: int,
    tests: Path | None = None,
) -> Loaded:
    """Blocking: read and compile everything, then run the set's decision tests (config
    ``policy_tests``). Raises on any error, :class:`PolicyTestsFailed` on a failing test."""
    files = read_policy_files(policies) if policies is not None else {}
    policy_set = compile_policy_set(files, context, generation, extra)
    loaded = Loaded(compile_policy(policy_set), load_identities_file(identities))
    if tests is not None:
        # a compiled set of its own: the tests leave nothing in the decision cache of the set in force
        base = tests if tests.is_dir() else tests.parent
        # without an identities file the tests describe principals by hand (`groups:`)
        known = loaded.identities if identities is not None else None
        gate(configured_test_files(tests, policies), compile_policy(policy_set), known, base)
    return loaded
