"""A Dask cluster of separate processes on 127.0.0.1, each worker in its own folder and environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

START_SECONDS = 120  # bound on the wait for the scheduler and the workers


@contextmanager
def loopback_cluster(folder: Path, worker_homes: list[Path | None]) -> Iterator[str]:
    """A ``distributed`` scheduler and one single-threaded worker process per entry of
    ``worker_homes``, all on 127.0.0.1; each worker starts in an empty folder of its own, with
    ``MARKET_REACTION_HOME`` set to its entry (None: this process's environment). Yields the
    scheduler's address; stops the processes it started (by their handles) on exit."""
    from distributed import Client

    folder.mkdir(parents=True)
    address_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "wb")
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(address_file)], stdout=log, stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + START_SECONDS
        while not address_file.is_file() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for i, home in enumerate(worker_homes):
            here = folder / f"worker-{i}"
            here.mkdir()
            env = dict(os.environ) if home is None else {**os.environ, "MARKET_REACTION_HOME": str(home)}
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--local-directory", str(here), "--name", f"worker-{i}"],
                cwd=here, env=env, stdout=log, stderr=subprocess.STDOUT))
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(len(worker_homes), timeout=START_SECONDS)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        log.close()


@pytest.fixture
def dask_cluster(tmp_path) -> Callable[[list[Path | None]], AbstractContextManager[str]]:
    """:func:`loopback_cluster` in this test's folder: ``with dask_cluster([None, home]) as address``."""
    return lambda worker_homes: loopback_cluster(tmp_path / "cluster", worker_homes)
