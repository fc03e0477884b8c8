"""Each dialect's own section of the config (`dialects.<dialect>.<key>`), and the flat spellings
older configs use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.settings import config_keys
from regproxy.settings.files import load_config

SECTIONED = """\
dialects:
  thalassa:
    projects: {A: [team-a, "team-a-*"]}
  oci:
    compartments: {acme-compartment: [acme]}
    administrators_group: Admins
  alibaba:
    region: cn-hangzhou
    account: 1234567890123456
    account_owners: [user:root]
"""

FLAT = """\
dialects:
  thalassa_projects: {A: [team-a, "team-a-*"]}
  oci_compartments: {acme-compartment: [acme]}
  oci_administrators_group: Admins
  alibaba_region: cn-hangzhou
  alibaba_account: "1234567890123456"
"""

EXPECTED = DialectContext(
    thalassa_projects={"A": ("team-a", "team-a-*")},
    oci_compartments={"acme-compartment": ("acme",)},
    oci_administrators_group="Admins",
    alibaba_region="cn-hangzhou",
    alibaba_account="1234567890123456",
    alibaba_account_owners=("user:root",),
)


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> DialectContext:
    path = tmp_path / "regproxy.yaml"
    path.write_text(text)
    return load_config(path, env=env or {}).dialects


def test_each_dialect_has_its_own_section(tmp_path: Path) -> None:
    assert load(tmp_path, SECTIONED) == EXPECTED


def test_the_flat_spelling_is_still_read(tmp_path: Path) -> None:
    context = load(tmp_path, FLAT)
    assert context == dataclasses.replace(EXPECTED, alibaba_account_owners=())


def test_an_empty_administrators_group_names_none(tmp_path: Path) -> None:
    assert load(tmp_path, "dialects: {oci: {administrators_group: ''}}").oci_administrators_group == ""


def test_an_environment_variable_sets_a_dialect_setting(tmp_path: Path) -> None:
    context = load(tmp_path, "", {"REGPROXY_DIALECTS_ALIBABA_REGION": "cn-beijing"})
    assert context.alibaba_region == "cn-beijing"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("dialects: {thalassa: {projects: [a]}}", "dialects.thalassa.projects", "must map names"),
        ("dialects: {alibaba: {account_owners: [group:admins]}}", "dialects.alibaba.account_owners", "not `user:"),
        ("dialects: {alibaba: {region: cn-a}, alibaba_region: cn-b}", "dialects.", "keep one"),
        ("dialects: {alibaba: {regio: x}}", "dialects.alibaba.regio", "unknown setting"),
    ],
)
def test_a_bad_dialect_setting_is_refused_naming_its_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert key in str(caught.value)
    assert message in str(caught.value)


def test_every_section_key_is_documented() -> None:
    """policies/README.md's configuration table names every key of every section."""
    readme = (Path(__file__).parents[4] / "policies" / "README.md").read_text()
    for key in config_keys():
        if key.count(".") == 2:
            assert f"`{key}`" in readme, key


def test_the_dialect_context_survives_the_pickle_a_worker_receives() -> None:
    """The supervisor pickles the config for each worker; the read-only maps come back read-only."""
    import pickle  # noqa: PLC0415 - only this test pickles
    from types import MappingProxyType  # noqa: PLC0415

    from regproxy.config import Config  # noqa: PLC0415
    from regproxy.policy.dialects import DialectContext  # noqa: PLC0415

    context = DialectContext(
        thalassa_projects=MappingProxyType({"web": ("web-*",)}), alibaba_account_owners=("user:root",)
    )
    restored = pickle.loads(pickle.dumps(context))
    assert restored == context
    assert isinstance(restored.thalassa_projects, MappingProxyType)
    assert pickle.loads(pickle.dumps(Config())) == Config()
