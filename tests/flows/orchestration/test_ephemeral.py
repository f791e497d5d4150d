"""The Prefect API of a tracked run (:mod:`flows.orchestration.ephemeral`) in this process; the
command stopped from outside is in ``tests/flows/cli/test_clean_exit.py``."""

from __future__ import annotations

import errno
import os
import urllib.error
import urllib.request

import pytest

from analysis.errors import MarketReactionError
from flows.orchestration import ephemeral


def _health(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/health", timeout=5) as answer:
        return answer.status


@pytest.mark.prefect
def test_a_temporary_server_serves_the_block_then_is_gone(monkeypatch, tmp_path):
    import prefect.context  # Prefect already imported: its global settings are refreshed

    def global_url():
        return prefect.context.GLOBAL_SETTINGS_CONTEXT.settings.api.url

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    with ephemeral.prefect_api() as url:
        assert url.startswith("http://127.0.0.1:") and os.environ["PREFECT_API_URL"] == url
        assert global_url() == url and _health(url) == 200
    assert "PREFECT_API_URL" not in os.environ and global_url() is None
    with pytest.raises(urllib.error.URLError):
        _health(url)


def test_a_configured_api_starts_nothing(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ephemeral, "_start", None)  # would fail if called
    with ephemeral.prefect_api() as url:
        assert url == "http://127.0.0.1:9/api"


@pytest.mark.parametrize(("fault", "reason"), [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device: 1 MiB could not be written"),
    (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "Permission denied"),
])
def test_an_unwritable_prefect_home_is_one_line_naming_it(monkeypatch, tmp_path, fault, reason):
    """A full disk shows at the fsync (ext4 allocates late); the probe file is removed."""
    def fail(fd):
        raise fault

    monkeypatch.setattr(ephemeral.os, "fsync", fail)
    home = tmp_path / "prefect"
    with pytest.raises(MarketReactionError) as raised:
        ephemeral.check_prefect_home(home)
    assert str(raised.value) == (f"PREFECT_HOME {home}: not writable ({reason}); "
                                 "set PREFECT_HOME to a writable folder with free space")
    assert raised.value.exit_code == 1 and list(home.iterdir()) == []


@pytest.mark.prefect
def test_a_server_that_fails_to_start_is_one_line_with_its_reason(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{tmp_path}/missing/prefect.db")
    with pytest.raises(MarketReactionError) as raised:
        with ephemeral.prefect_api():
            pytest.fail("the block ran")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("the temporary Prefect server on http://127.0.0.1:")
    assert "exited with code" in message and "unable to open database file (--verbose shows its output)" in message
    assert "PREFECT_API_URL" not in os.environ
