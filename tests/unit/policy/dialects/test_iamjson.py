"""The one IAM-JSON compiler: the same logical statement in CAM's words and in RAM's compiles to
the same model statement; only the vocabulary differs."""

from __future__ import annotations

from regproxy.errors import SourceLocation
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.alibaba import ALIBABA_ACTIONS
from regproxy.policy.dialects.alibaba import VOCABULARY as RAM
from regproxy.policy.dialects.iamjson import compile_iam_json, glob_actions
from regproxy.policy.dialects.tencent import TENCENT_ACTIONS
from regproxy.policy.dialects.tencent import VOCABULARY as CAM

CAM_DOC = """{"version": "2.0", "statement": [{"effect": "deny", "action": ["ccr:pull", "ccr:push"],
  "resource": "qcs::ccr:::repo/team/*", "condition": {"ip_equal": {"qcs:ip": ["10.0.0.0/8"]}}}]}"""
RAM_DOC = """{"Version": "1", "Statement": [{"Effect": "Deny", "Action": ["cr:PullRepository", "cr:PushRepository"],
  "Resource": "acs:cr:*:*:repository/team/*", "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}"""


def test_the_same_statement_in_both_vocabularies_compiles_alike() -> None:
    context = DialectContext()
    (cam,) = compile_iam_json(CAM_DOC, SourceLocation("c.json"), "c", CAM, context).statements
    (ram,) = compile_iam_json(RAM_DOC, SourceLocation("r.json"), "r", RAM, context).statements
    for s in (cam, ram):
        assert s.effect.value == "deny"
        assert s.actions == {Action.PULL, Action.LIST, Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE}
        assert [str(r) for r in s.resources] == ["team/**"]
        assert [c.describe() for c in s.conditions] == ["source in 10.0.0.0/8"]
    assert (cam.dialect, ram.dialect) == ("tencent", "alibaba")


def test_action_wildcards_match_whole_names() -> None:
    assert {a.name for a in glob_actions("ccr:Delete*", TENCENT_ACTIONS)} == {
        "ccr:DeleteRepository",
        "ccr:DeleteTag",
        "ccr:DeleteUserNamespace",
    }
    assert {a.name for a in glob_actions("cr:pull*", ALIBABA_ACTIONS)} == {"cr:PullRepository"}
