"""The dialects regproxy knows, by the name of the policies sub-directory that holds them."""

from __future__ import annotations

from regproxy.policy.dialects import Dialect
from regproxy.policy.dialects.native import NativeDialect

DIALECTS: dict[str, Dialect] = {
    "native": NativeDialect(),
}
