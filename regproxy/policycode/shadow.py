"""Shadow rollout (config ``shadow_policies``): a whole candidate set, compiled and watched like
the one in force, decides every request again, without effect.

The edge calls :meth:`Shadow.observe` once the live verdict is known. The candidate runs the same
flow (:func:`regproxy.authorization.flow.decide`) on the same request, principal and context,
its facts answered from those the live flow asked (a fact only the candidate asks is unknown:
the stricter branch, and no extra upstream call). The audit event gets ``shadow_decision`` (the
reply word: allow, deny, challenge, insufficient-scope) and ``shadow_statements``; a differing
reply counts in ``regproxy_shadow_disagreements_total{live,shadow}``.

Nothing here can change the live answer: the live verdict is decided before and used after,
unchanged; any error in the candidate is logged, counted (``regproxy_shadow_errors_total``) and
recorded as ``shadow_decision: error``. A candidate set that does not load leaves the shadow off
(or its last good set in force) and says so in the log, as a reload of the live set would.
"""

from __future__ import annotations

import logging
import time

from regproxy.audit import AuditEvent
from regproxy.authorization import public_statements
from regproxy.authorization.flow import decide
from regproxy.authorization.verdict import Answer, Fact, Verdict
from regproxy.config import Config
from regproxy.errors import IdentityFileError, PolicyError
from regproxy.identity.identities import Identities
from regproxy.metrics import Metrics
from regproxy.oci.routes import RegistryRequest
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import PolicySetInvalid
from regproxy.policy.model import PolicySet, RequestContext
from regproxy.reload import Reloader, Store, describe_errors, load_all

log = logging.getLogger("regproxy.shadow")
ERROR_REPORT_INTERVAL = 10.0  # seconds between two logged shadow errors


class Shadow:
    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self.errors = 0
        self._reported_at = -ERROR_REPORT_INTERVAL

    @property
    def active(self) -> bool:
        return self.store.policy.generation > 0

    def observe(self, request: RegistryRequest, context: RequestContext, live: Verdict, event: AuditEvent) -> None:
        """Decide ``request`` by the candidate set; record it; never raise."""
        if not self.active:
            return
        try:
            known = dict(live.facts)

            def answer(fact: Fact) -> Answer:
                return known.get(fact)

            shadow = decide(request, context, self.store.policy, answer)
            event.shadow_decision = shadow.reply.value
            event.shadow_statements = shadow.decision.statements
            if shadow.reply is not live.reply:
                labels = (("live", live.reply.value), ("shadow", shadow.reply.value))
                self.metrics.inc("regproxy_shadow_disagreements_total", labels)
        except Exception:  # the shadow never decides anything: an error is reported and counted only
            self.errors += 1
            self.metrics.inc("regproxy_shadow_errors_total")
            event.shadow_decision = "error"
            now = time.monotonic()
            if now - self._reported_at >= ERROR_REPORT_INTERVAL:
                self._reported_at = now
                log.exception("shadow policy evaluation failed (the live decision stands)")


def shadow_of(config: Config, metrics: Metrics) -> tuple[Shadow, Reloader] | None:
    """The shadow and its watcher for config ``shadow_policies`` (None without it). Blocking:
    the candidate set is loaded once here; a broken one leaves the shadow off until it loads."""
    if config.shadow_policies is None:
        return None
    extra = public_statements(config.public)
    empty = compile_policy(PolicySet((), 0, "", ()))
    store = Store(empty, Identities())
    try:
        loaded = load_all(config.shadow_policies, None, config.dialects, extra, 1)
        store.policy = loaded.policy
        log.info(
            "shadow policy set in `%s`: %d statements, %s",
            config.shadow_policies,
            len(loaded.policy.policy_set.statements),
            loaded.policy.policy_set.content_hash,
        )
    except (PolicySetInvalid, PolicyError, IdentityFileError, OSError, UnicodeDecodeError) as exc:
        for line in describe_errors(exc):
            log.error("shadow policy set refused: %s", line)
        log.error("shadow evaluation is off until `%s` loads", config.shadow_policies)
    reloader = Reloader(
        store,
        policies=config.shadow_policies,
        identities=None,
        context=config.dialects,
        extra=extra,
        settle=config.reload_settle,
        what="shadow policy",
    )
    return Shadow(store, metrics), reloader
