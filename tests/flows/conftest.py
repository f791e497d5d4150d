"""Fixtures for the flow tests: ``fake_yahoo`` (see ``fake_yahoo.py``) is available to every test here."""

from fake_yahoo import fake_yahoo

__all__ = ["fake_yahoo"]
