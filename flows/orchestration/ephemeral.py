"""The Prefect API of a tracked ``run`` or ``demo``: the configured one, or a temporary local
server that this process starts, owns and stops.

Without a configured API, Prefect would start a temporary server itself (its
``SubprocessASGIServer``), and that server (i) shared the terminal's process group, so a
Ctrl-C stopped it under the run, which then waited up to the startup timeout for it (exit 1
after 80–164 s); (ii) outlived a run killed with SIGKILL (~210 MB left running); (iii) wrote
thousands of traceback lines when ``PREFECT_HOME`` could not be written. Here:

- ``PREFECT_HOME`` is checked first, before Prefect is imported or anything started: a
  folder that cannot be created or written (read-only, full, over a file-size limit) is one
  line naming it (:func:`check_prefect_home`);
- the server is Prefect's own application (``uvicorn prefect.server.api.server:create_app``,
  UI off, on 127.0.0.1 at a free port) in a session of its own: a terminal's Ctrl-C reaches
  the run only, and the run stops the server on its way out (SIGTERM, SIGKILL after
  :data:`STOP_GRACE` seconds);
- the server dies with the run however the run dies (:func:`flows.lifetime.die_with_parent`);
- ``PREFECT_API_URL`` points at it before Prefect is imported (Prefect is imported while the
  server starts) and is restored afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from analysis.errors import MarketReactionError
from flows import progress
from flows.settings import prefect_api_url, prefect_home

STOP_GRACE = 1.0
"""Seconds the server gets to stop after SIGTERM before it is killed."""
DRAIN_TIMEOUT = 5.0
"""Seconds Prefect gets to send its queued logs and events when a run ends."""
PROBE_BYTES = 1 << 20
"""Bytes written (and fsync'ed) into ``PREFECT_HOME`` to tell a full disk: its database grows by megabytes."""

# Runs in the server's interpreter before uvicorn: die with the parent (argv[1]), however it dies.
_LAUNCH = """\
import sys
from flows.lifetime import die_with_parent
die_with_parent(int(sys.argv[1]))
import runpy
sys.argv = ["uvicorn", *sys.argv[2:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


def check_prefect_home(folder: Path | None = None) -> Path:
    """Raise a one-line :class:`MarketReactionError` (exit 1) naming ``PREFECT_HOME`` unless it
    can be created and :data:`PROBE_BYTES` written into it and fsync'ed (Prefect keeps its
    database and cached task results there); return the folder."""
    folder = prefect_home() if folder is None else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".market-reaction-probe-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(bytes(PROBE_BYTES))
                f.flush()
                os.fsync(f.fileno())
        finally:
            with contextlib.suppress(OSError):
                os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            reason += f": {PROBE_BYTES >> 20} MiB could not be written"
        raise MarketReactionError(f"PREFECT_HOME {folder}: not writable ({reason}); "
                                  "set PREFECT_HOME to a writable folder with free space") from None
    return folder


@contextlib.contextmanager
def prefect_api(verbose: bool = False) -> Iterator[str]:
    """The Prefect API of a tracked run for the block: the configured one
    (:func:`flows.settings.prefect_api_url`), else a temporary server of this process's own
    (module docstring), stopped when the block ends, however it ends; yields its URL.

    ``PREFECT_HOME`` is checked first. When the block ends, Prefect's queued logs and events
    are sent (at most :data:`DRAIN_TIMEOUT` seconds), so that nothing is left for Prefect's
    own exit to do, unless the block was interrupted (Ctrl-C: out at once). The server's
    output is shown with ``verbose``, else kept for the message should it fail to start."""
    check_prefect_home()
    with contextlib.ExitStack() as stack:
        url = prefect_api_url() or stack.enter_context(_temporary_server(verbose))
        try:
            yield url
        except KeyboardInterrupt:
            raise
        except BaseException:
            _drain()
            raise
        _drain()


def _drain() -> None:
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is not None:  # every Prefect service (logs, events) is drained, not only the logs
        handlers.APILogWorker.drain_all(timeout=DRAIN_TIMEOUT)


@contextlib.contextmanager
def _temporary_server(verbose: bool) -> Iterator[str]:
    with tempfile.TemporaryFile() as log:
        server, url = _start(None if verbose else log)
        grace = STOP_GRACE
        try:
            with _api_url(url):
                with progress.stage("temporary Prefect server"):
                    import prefect  # noqa: F401  (imported while the server starts)

                    _wait_ready(server, url, log)
                yield url
        except KeyboardInterrupt:
            grace = 0.0  # killed at once
            raise
        finally:
            _stop(server, grace)


def _start(log) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    app_dir = Path(find_spec("prefect").origin).parent.parent
    args = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "--app-dir", str(app_dir), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
            "--lifespan", "on"]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "ERROR"}  # its errors reach its output (the command hides the run's)
    server = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=None if log is None else subprocess.STDOUT, start_new_session=True)
    progress.say(f"starting a temporary Prefect server on {url}")
    return server, url


def _wait_ready(server: subprocess.Popen, url: str, log) -> None:
    """Return when ``url``/health answers 200; raise a one-line error when the server exits or
    does not answer within ``$PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``."""
    try:
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    except ValueError:
        timeout = 120.0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1
    deadline = time.monotonic() + timeout
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with opener.open(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    what = (f"exited with code {server.returncode}" if server.returncode is not None else
            f"did not answer within {timeout:g} s (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
    raise MarketReactionError(f"the temporary Prefect server on {url} {what}{_reason(log)}")


_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception): .*")


def _reason(log) -> str:
    """``: <the last exception line, else the last line>`` of the server's output, and where to see it all."""
    if log is None:
        return ""
    log.seek(0)
    lines = [line.strip() for line in log.read()[-65536:].decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return ""
    reason = next((line for line in reversed(lines) if _EXCEPTION.fullmatch(line)), lines[-1])
    return f": {reason} (--verbose shows its output)"


def _stop(server: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (at once when 0)."""
    try:
        if grace > 0:
            server.terminate()
            server.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@contextlib.contextmanager
def _api_url(url: str) -> Iterator[None]:
    """``PREFECT_API_URL=url`` in the environment (read when Prefect is imported; Prefect's
    global settings are refreshed if it already was), restored afterwards."""
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    _refresh_prefect()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        _refresh_prefect()


def _refresh_prefect() -> None:
    context = sys.modules.get("prefect.context")
    if context is not None:
        context.refresh_global_settings_context()
