"""The README stays true: every setting is documented, and the demo logins match the seed's accounts."""

from __future__ import annotations

from pathlib import Path

from fieldops.demo.accounts import DEMO_PASSWORD, STAFF
from fieldops.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [
        f"FIELDOPS_{name.upper()}" for name in Settings.model_fields if f"`FIELDOPS_{name.upper()}`" not in README
    ]
    assert not missing, f"document these in README.md: {missing}"


def test_demo_logins_are_listed() -> None:
    assert DEMO_PASSWORD in README
    for local, _role, _name, phone in STAFF:
        assert f"{local}@demo.fieldops.local" in README
        assert f"617-555-{phone[-4:]}" in README


def test_two_commands() -> None:
    assert "make run" in README and "make test" in README
