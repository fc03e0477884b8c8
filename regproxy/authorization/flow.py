"""The one decision flow: a pure generator every driver runs (the registry edge, the token
service, ``regproxy explain``).

After httpx's auth flows: :func:`authorize` yields the facts it needs (:class:`RepositoryExists`,
:class:`TagExists`, and, once a request is allowed, :class:`UpstreamSupports` for what it needs
of the registry) only when an answer would change the decision, receives each answer
(``True``, ``False`` or ``None`` for "cannot tell", which takes the stricter branch) and returns
a :class:`Verdict`. The edge answers from the upstream, ``explain`` from flags; :func:`decide`
runs the flow with an answering function, for drivers with no I/O.

Decision rule per permission: the policy in force, then the credential's own scope (an
intersection). For a principal holding one of regproxy's access tokens, a permission the policy
and the credential allow but the token's ``access`` does not is *insufficient scope*: the client
is told 401 ``insufficient_scope`` and fetches a better token. Any other refusal is 403 (401 with
a challenge for an anonymous caller).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace

from regproxy.authorization.permissions import Permission, base_permissions, creates_content, pushed_tags
from regproxy.authorization.verdict import (
    Answer,
    Check,
    Fact,
    Reply,
    RepositoryExists,
    TagExists,
    UpstreamSupports,
    Verdict,
    allowed_decision,
)
from regproxy.oci.actions import Action
from regproxy.oci.capability import needed_capability
from regproxy.oci.routes import RegistryRequest, RouteKind
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import Decision, Effect, Outcome, RequestContext, principal_keys

Flow = Generator[Fact, Answer, Verdict]


class Evaluator:
    """Decides single permissions for one request: policy, credential scope, token access."""

    def __init__(self, policy: CompiledPolicy, context: RequestContext) -> None:
        self.policy = policy
        self.context = context
        principal = context.principal
        self._token = principal.token
        # What a fresh token could carry: the same principal bounded by its credential only.
        self._renewable = (
            None
            if principal.token is None
            else replace(context, principal=replace(principal, scope=principal.token.credential, token=None))
        )

    def decide(self, permission: Permission) -> Decision:
        action, repository, tag = permission.action, permission.repository, permission.tag
        if self._token is None or self._renewable is None:
            return self.policy.evaluate(self.context, action, repository, tag)
        decision = self.policy.evaluate(self._renewable, action, repository, tag)
        if decision.allowed and not self._token.access.permits(action, repository):
            return Decision(Effect.DENY, Outcome.INSUFFICIENT_SCOPE, decision.statements, decision.generation)
        return decision

    def sees_catalog(self) -> bool:
        """Whether policy lets this principal see the catalog at all (some allow names it)."""
        return self.policy.may_allow(principal_keys(self.context.principal), Action.CATALOG)


def authorize(request: RegistryRequest, context: RequestContext, policy: CompiledPolicy) -> Flow:
    """The decision for one request; yields facts, returns the :class:`Verdict`."""
    evaluator = Evaluator(policy, context)
    principal = context.principal
    generation = policy.generation

    if request.route is RouteKind.BASE:
        reply = Reply.ALLOW if principal.authenticated else Reply.CHALLENGE
        return _plain(reply, generation, request)
    if request.route is RouteKind.CATALOG:
        if not evaluator.sees_catalog():
            # the listing is filtered anyway; a stranger is asked to log in first
            return _plain(Reply.ALLOW if principal.authenticated else Reply.CHALLENGE, generation, request)
        if principal.token is not None and not principal.token.grants_catalog():
            return _plain(Reply.INSUFFICIENT_SCOPE, generation, request)
        return _plain(Reply.ALLOW, generation, request)

    if request.mount is None and not creates_content(request):
        # reads, deletes and upload sessions: one permission, no fact (the common case, kept short)
        permission = base_permissions(request)[0]
        decision = evaluator.decide(permission)
        checks = (Check(permission, decision),)
        if decision.allowed:
            capability = needed_capability(request)
            if capability is None:
                return Verdict(Reply.ALLOW, decision, checks, (), request)
            fact = UpstreamSupports(capability)
            supported = yield fact
            # only a known "no" refuses: "cannot tell" forwards and the registry answers
            reply = Reply.UNSUPPORTED if supported is False else Reply.ALLOW
            return Verdict(reply, decision, checks, ((fact, supported),), request)
        return Verdict(_refusal(decision, principal.authenticated), decision, checks, (), request)

    run = _Run(evaluator, request, generation, principal.authenticated)
    for permission in base_permissions(request):
        run.check(permission)
    if run.refused():
        return run.verdict()
    if creates_content(request):
        yield from run.create_repository(request.repository)
        if run.refused():
            return run.verdict()
    for tag in pushed_tags(request):
        yield from run.push_tag(request.repository, tag)
        if run.refused():
            return run.verdict()
    mount_dropped = False
    if request.mount is not None:
        source = Permission(Action.PULL, request.mount.source)
        decision = evaluator.decide(source)
        if decision.outcome is Outcome.INSUFFICIENT_SCOPE:
            run.record(source, decision)  # a token with the source's pull would mount
        else:
            # decided before forwarding, so a refused source reveals nothing about its blobs
            mount_dropped = not decision.allowed
            run.record(source, decision, deciding=False)
    return run.verdict(mount_dropped)


class _Run:
    """The checks and facts of one run of the flow."""

    def __init__(self, evaluator: Evaluator, request: RegistryRequest, generation: int, authenticated: bool) -> None:
        self.evaluator = evaluator
        self.request = request
        self.generation = generation
        self.authenticated = authenticated
        self.checks: list[Check] = []
        self.facts: list[tuple[Fact, Answer]] = []

    def record(self, permission: Permission, decision: Decision, *, deciding: bool = True) -> None:
        self.checks.append(Check(permission, decision, deciding))

    def check(self, permission: Permission, *, deciding: bool = True) -> Decision:
        decision = self.evaluator.decide(permission)
        self.record(permission, decision, deciding=deciding)
        return decision

    def refused(self) -> bool:
        return any(c.deciding and not c.decision.allowed for c in self.checks)

    def create_repository(self, repository: str) -> Generator[Fact, Answer, None]:
        """A push into a repository that does not exist (or that we cannot tell about) needs
        ``create-repository``; the upstream is asked only when that is not allowed anyway."""
        create = Permission(Action.CREATE_REPOSITORY, repository)
        decision = self.evaluator.decide(create)
        if decision.allowed:
            self.record(create, decision, deciding=False)
            return
        fact = RepositoryExists(repository)
        exists = yield fact
        self.facts.append((fact, exists))
        self.record(create, decision, deciding=exists is not True)

    def push_tag(self, repository: str, tag: str) -> Generator[Fact, Answer, None]:
        """``tag-create`` or ``tag-overwrite``: the upstream is asked only when they differ."""
        created_p = Permission(Action.TAG_CREATE, repository, tag)
        overwritten_p = Permission(Action.TAG_OVERWRITE, repository, tag)
        created, overwritten = self.evaluator.decide(created_p), self.evaluator.decide(overwritten_p)
        if created.allowed == overwritten.allowed:
            self.record(created_p, created)
            self.record(overwritten_p, overwritten, deciding=False)
            return
        fact = TagExists(repository, tag)
        exists = yield fact
        self.facts.append((fact, exists))
        # cannot tell: take the stricter branch, the one that refuses
        use_created = (not created.allowed) if exists is None else (not exists)
        self.record(created_p, created, deciding=use_created)
        self.record(overwritten_p, overwritten, deciding=not use_created)

    def verdict(self, mount_dropped: bool = False) -> Verdict:
        return _verdict(self.checks, self.facts, self.request, self.generation, self.authenticated, mount_dropped)


def decide(
    request: RegistryRequest, context: RequestContext, policy: CompiledPolicy, answer: Callable[[Fact], Answer]
) -> Verdict:
    """Run the flow to the end, answering each fact with ``answer`` (no I/O drivers)."""
    flow = authorize(request, context, policy)
    try:
        fact = next(flow)
        while True:
            fact = flow.send(answer(fact))
    except StopIteration as done:
        result: Verdict = done.value
        return result


def _refusal(decision: Decision, authenticated: bool) -> Reply:
    if decision.outcome is Outcome.INSUFFICIENT_SCOPE:
        return Reply.INSUFFICIENT_SCOPE
    return Reply.DENY if authenticated else Reply.CHALLENGE


def _plain(reply: Reply, generation: int, request: RegistryRequest) -> Verdict:
    if reply is Reply.ALLOW:
        decision = allowed_decision((), generation)
    elif reply is Reply.INSUFFICIENT_SCOPE:
        decision = Decision(Effect.DENY, Outcome.INSUFFICIENT_SCOPE, (), generation)
    else:
        decision = Decision(Effect.DENY, Outcome.DEFAULT_DENY, (), generation)
    return Verdict(reply, decision, request=request)


def _verdict(
    checks: list[Check],
    facts: list[tuple[Fact, Answer]],
    request: RegistryRequest,
    generation: int,
    authenticated: bool,
    mount_dropped: bool,
) -> Verdict:
    deciding = [c.decision for c in checks if c.deciding]
    refused = next((d for d in deciding if not d.allowed and d.outcome is not Outcome.INSUFFICIENT_SCOPE), None)
    if refused is not None:
        reply = Reply.DENY if authenticated else Reply.CHALLENGE
        return Verdict(reply, refused, tuple(checks), tuple(facts), request)
    insufficient = next((d for d in deciding if not d.allowed), None)
    if insufficient is not None:
        return Verdict(Reply.INSUFFICIENT_SCOPE, insufficient, tuple(checks), tuple(facts), request)
    ids: list[str] = []
    for d in deciding:
        ids.extend(i for i in d.statements if i not in ids)
    return Verdict(
        Reply.ALLOW, allowed_decision(tuple(ids), generation), tuple(checks), tuple(facts), request, mount_dropped
    )
