"""Fixtures for the flow tests: ``fake_yahoo`` (see ``fake_yahoo.py``) and ``fake_edgar``
(``fake_edgar.py``) are available to every test here."""

from fake_edgar import fake_edgar
from fake_yahoo import fake_yahoo

__all__ = ["fake_edgar", "fake_yahoo"]
