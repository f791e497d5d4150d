"""A run's helper processes (its temporary Prefect server, its plot-saving process) die with
the run however the run dies, though each is in a process group of its own (so a terminal's
Ctrl-C reaches only the run, which stops them). Standard library only: a helper calls
:func:`die_with_parent` first thing.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the run's pid) goes: on Linux the kernel kills it
    (``PR_SET_PDEATHSIG``), elsewhere a daemon thread polls its parent every 0.2 s; exit at
    once if the parent is already gone."""
    try:
        import ctypes
        import signal

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0:  # PR_SET_PDEATHSIG (Linux)
            raise OSError
    except (AttributeError, OSError):
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        sys.exit(1)
