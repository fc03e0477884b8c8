"""What is allowed: one policy model, five dialects, one evaluator (pure)."""

# Session policies (an Alibaba RAM document on a short-lived credential) are compiled by this
# layer; importing it installs the compiler identity calls (identity never imports policy).
from regproxy.policy import session_policy as _session_policy  # noqa: F401
