from __future__ import annotations

from pathlib import Path

from asgi_rotator.catalogue import table
from asgi_rotator.config.reference import render

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_reference_matches_the_models():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "regenerate: python -m asgi_rotator.config.reference > docs/configuration.md"


def test_the_preset_table_matches_the_presets():
    committed = (ROOT / "docs" / "providers.md").read_text()
    block = committed[committed.index(table.START) : committed.index(table.END) + len(table.END)] + "\n"
    assert block == table.render(), "regenerate the table between the markers: python -m asgi_rotator.catalogue.table"


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "asgi-rotator serve --config examples/demo.yaml --fake-upstream" in readme
    assert ".venv/bin/python -m pytest" in readme
    assert ".venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text()
