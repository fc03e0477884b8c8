"""The connection to the registry: its TLS context, and what went wrong with it in words.

``upstream.ca_file`` (a private CA) and ``upstream.client_cert``/``client_key`` (mTLS) become one
SSL context at start-up, a file that is not usable PEM being a :class:`ConfigError` naming its
key. A connection that fails is described for the operator (the log, /readyz): a certificate
that does not verify, a handshake the registry refused (usually: it wants a client
certificate), a timeout, a refused connection. Clients get a plain 503; the words are the
operator's, read back from the exception's cause by :func:`operator_reason`.
"""

from __future__ import annotations

import ssl

import aiohttp

from regproxy.config import UpstreamConfig
from regproxy.errors import ConfigError, UpstreamUnavailable


def build_ssl_context(config: UpstreamConfig) -> ssl.SSLContext | None:
    """The SSL context for an ``https://`` upstream with a private CA or a client certificate.

    None when neither is set (the system's trust store, no client certificate). A file that is
    not a usable PEM is a :class:`ConfigError` naming the key, at start-up.
    """
    if config.ca_file is None and config.client_cert is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError("upstream.ca_file", f"`{config.ca_file}` is not a PEM CA bundle: {_reason(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.client_cert is not None:
        try:
            context.load_cert_chain(str(config.client_cert), str(config.client_key or config.client_cert))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "upstream.client_cert", f"cannot load the client certificate and key: {_reason(exc)}"
            ) from None
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return str(exc.verify_message)  # "unable to get local issuer certificate", "IP address mismatch, …"
    reason = getattr(exc, "reason", None)  # aiohttp's SSL errors subclass SSLError without one
    if isinstance(exc, ssl.SSLError) and reason:
        return str(reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def describe_connection_error(exc: BaseException) -> str:
    """What went wrong reaching the registry, in an operator's words (for logs and /readyz)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = _reason(exc.certificate_error)
        hint = " (signed by a private CA? set upstream.ca_file)" if "issuer" in reason else ""
        return f"the registry's TLS certificate does not verify: {reason}{hint}"
    tls = _ssl_error_in(exc)
    if tls is not None:
        reason = _reason(tls)
        if "alert" in reason and "certificate" in reason:
            return (
                f"the registry refused the TLS handshake ({reason}): it wants a client certificate "
                "it trusts (upstream.client_cert, upstream.client_key)"
            )
        return f"the TLS handshake with the registry failed: {reason}"
    if isinstance(exc, TimeoutError):
        return "the registry did not answer in time"
    return f"the registry cannot be reached: {exc}"


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind an aiohttp connection error, if any (bounded walk)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, aiohttp.ClientConnectorError) and isinstance(seen.os_error, ssl.SSLError):
            return seen.os_error  # before the next check: aiohttp's wrapper is an SSLError too
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def operator_reason(exc: UpstreamUnavailable) -> str:
    """The operator's reason behind a 503 (what /readyz and the log say; clients get less)."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | TimeoutError | ssl.SSLError):
        return describe_connection_error(cause)
    return exc.message


__all__ = ["build_ssl_context", "describe_connection_error", "operator_reason"]
