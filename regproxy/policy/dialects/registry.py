"""The dialects regproxy knows, by the name of the policies sub-directory that holds them."""

from __future__ import annotations

from regproxy.policy.dialects import Dialect
from regproxy.policy.dialects.alibaba import AlibabaDialect
from regproxy.policy.dialects.native import NativeDialect
from regproxy.policy.dialects.oci import OciDialect
from regproxy.policy.dialects.tencent import TencentDialect
from regproxy.policy.dialects.thalassa import ThalassaDialect

DIALECTS: dict[str, Dialect] = {
    "native": NativeDialect(),
    "thalassa": ThalassaDialect(),
    "oci": OciDialect(),
    "tencent": TencentDialect(),
    "alibaba": AlibabaDialect(),
}
