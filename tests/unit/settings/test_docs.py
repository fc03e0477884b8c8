"""The README's configuration table is the declarations' own: it cannot drift from them."""

from __future__ import annotations

from pathlib import Path

from regproxy.settings.docs import BEGIN, END, markdown_table
from regproxy.settings.parse import KEYS

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_table_is_the_generated_one() -> None:
    text = README.read_text()
    assert BEGIN in text and END in text, "README.md lost its settings-table markers"
    copy = text.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")
    assert copy == markdown_table(), "README.md's table is stale: python -m regproxy.settings.docs"


def test_every_current_key_has_a_row_with_its_environment_name() -> None:
    table = markdown_table()
    for key, d in KEYS.items():
        if key.startswith("dialects.") and key.count(".") < 2:
            continue  # legacy spellings are read but not shown
        assert f"| `{key}` | `{d.setting.env}` |" in table


def test_defaults_are_shown_in_the_readers_terms() -> None:
    table = markdown_table()
    assert "| `listen` | `REGPROXY_LISTEN` | `127.0.0.1:5000` |" in table
    assert "| `forwarded_headers` | `REGPROXY_FORWARDED_HEADERS` | `false` |" in table
    assert "| `reload.settle` | `REGPROXY_RELOAD_SETTLE` | 0.5 s |" in table
