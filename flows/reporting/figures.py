"""Figure files: the style every plot is drawn and saved in, and saving figures as PNG and SVG,
in a process of its own when there are many (:func:`saving_figures`).

Light on purpose (matplotlib, :mod:`analysis.formats` and :mod:`flows.lifetime` only): the saving process imports
this module, and every figure pickles with references to it alone (its tick formatters).
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from analysis.formats import dollars, pct
from flows.lifetime import die_with_parent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
STYLE = {
    "svg.hashsalt": "market-reaction", "svg.fonttype": "none", "font.size": 11, "axes.titlesize": 12,
    "axes.labelsize": 11, "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10,
}
"""matplotlib settings of every figure (text about 1/40 of a figure's width)."""
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
"""The lines' colours: tab10 without its red, the confounders' colour."""
PNG_DPI = 100
"""The PNGs' resolution (520 px wide CAR plots, text 15 px): at 150 dpi the plots of a report took 10 % longer."""


def style():
    """The settings of :data:`STYLE` while a figure is made or saved (a notebook's own stay as they are)."""
    import matplotlib
    from cycler import cycler

    return matplotlib.rc_context({**STYLE, "axes.prop_cycle": cycler(color=COLORS)})


def plain(text: str) -> str:
    """User text shown by matplotlib: escape '$' so it is not read as mathtext."""
    return text.replace("$", r"\$")


def pct_tick(y: float, _position: int) -> str:
    """A percent tick label, as the tables write it (:func:`analysis.formats.pct`); a module
    function, so that a figure pickles (:func:`saving_figures`)."""
    return pct(y)


def dollar_tick(v: float, _position: int, unit: str) -> str:
    """A dollar tick label in the plot's ``unit`` (:func:`analysis.formats.dollars`)."""
    return plain(dollars(v, unit))


def save_figures(figures: list[tuple[str, Figure]], folder: Path) -> list[Path]:
    """Write each ``(stem, figure)`` as ``<stem>.png`` and ``<stem>.svg`` in ``folder``; the
    paths, in order. The settings of :func:`style` apply (the SVG's are read when it is
    written)."""
    folder.mkdir(parents=True, exist_ok=True)
    return _write(figures, folder)


def _write(figures: list[tuple[str, Figure]], folder: Path) -> list[Path]:
    paths = []
    png = {"metadata": {"Software": None}, "pil_kwargs": {"compress_level": 1}}  # level 6: +13 ms a figure
    with style():
        for stem, fig in figures:
            for ext in FORMATS:
                path = folder / f"{stem}.{ext}"
                fig.savefig(path, format=ext, dpi=PNG_DPI, **({"metadata": {"Date": None}} if ext == "svg" else png))
                paths.append(path)
    return paths


OWN_PROCESS = 8
"""Figures from which :func:`saving_figures` saves them in a process of its own."""


@contextmanager
def saving_figures(figures: list[tuple[str, Figure]], folder: Path) -> Iterator[list[Path]]:
    """:func:`save_figures` beside the caller's block: gives the paths at once and returns when
    every file is written, raising the error of the first that could not be (a few figures:
    saved after the block).

    Saving is most of a plot's cost (the demo's figures: PNG 62 %, SVG 24 %, drawing them
    14 %), and matplotlib's drawing is Python code that holds the GIL, so from
    :data:`OWN_PROCESS` figures on a Python process of their own saves them (``python -c``
    :func:`_save_pickled`, which imports matplotlib and this module only, 0.4 s; in its own
    process group, so a terminal's Ctrl-C reaches only the run, which stops it; it dies with
    the run, :func:`flows.lifetime.die_with_parent`). It takes the figures one at a time,
    pickled (~70 kB each), from the front of the list; when the caller's block ends, the
    caller saves the figures from the back until they meet."""
    paths = [folder / f"{stem}.{ext}" for stem, _ in figures for ext in FORMATS]
    if len(figures) < OWN_PROCESS:
        yield paths
        save_figures(figures, folder)
        return
    folder.mkdir(parents=True, exist_ok=True)
    proc = _READY.pop() if _READY else _saver()
    left = deque(figures)
    errors: list[str] = []
    feed = threading.Thread(target=_feed, args=(proc, left, folder, errors), name="save-figures", daemon=True)
    feed.start()
    try:
        yield paths
        while True:  # the caller's share: from the back
            try:
                mine = left.pop()
            except IndexError:
                break
            _write([mine], folder)
    except BaseException:
        proc.kill()
        raise
    finally:
        feed.join()
        proc.wait()
    if proc.returncode:
        proc.log.seek(0)
        said = proc.log.read().decode(errors="replace").strip()[-2000:]
        try:
            error = json.loads(errors[-1]) if errors else {"message": said or f"exit {proc.returncode}"}
        except json.JSONDecodeError:
            error = {"message": errors[-1].strip()}
        if "errno" in error:
            raise OSError(error["errno"], error["strerror"], error["filename"])
        raise RuntimeError(f"saving the plots in {folder}: {error['message']}")


def _feed(proc: subprocess.Popen, left: deque, folder: Path, errors: list[str]) -> None:
    """Hand ``proc`` the figures of ``left`` from the front, one each time it asks (a line
    ``next``), then an empty frame; keep a line that is not ``next`` (its error) in ``errors``."""
    try:
        _send(proc.stdin, folder)
        for line in proc.stdout:
            if line.strip() != b"next":
                errors.append(line.decode(errors="replace"))
                break
            try:
                figure = left.popleft()
            except IndexError:
                break
            _send(proc.stdin, figure)
        proc.stdin.close()
    except OSError:  # it died (killed, or an error it said): the caller reads why
        pass


def _send(pipe: IO[bytes], value: object) -> None:
    data = pickle.dumps(value)
    pipe.write(len(data).to_bytes(8, "little") + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> object | None:
    head = pipe.read(8)
    return pickle.loads(pipe.read(int.from_bytes(head, "little"))) if len(head) == 8 else None


def _saver() -> subprocess.Popen:
    """A saving process (:func:`_save_pickled`), waiting for its figures on stdin."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    log = tempfile.TemporaryFile()  # its stderr: a pipe nobody reads while it works could fill
    proc = subprocess.Popen([sys.executable, "-c", "from flows.reporting.figures import _save_pickled; _save_pickled()",
                             str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, process_group=0)
    proc.log = log
    return proc


_READY: list[subprocess.Popen] = []


def warm_up() -> None:
    """Get ready to save many figures while the caller computes them (a study of many events,
    before its engine): start the saving process (it imports matplotlib while it waits), and
    import matplotlib here on a thread (0.4 s each: the engine's group tests leave a core
    idle). A process left unused is stopped at exit."""
    if not _READY:
        _READY.append(_saver())
        atexit.register(_stop_unused)
    threading.Thread(target=_import_matplotlib, name="import-matplotlib", daemon=True).start()


def _import_matplotlib() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.backends.backend_svg  # noqa: F401
    import matplotlib.figure  # noqa: F401


def _stop_unused() -> None:
    while _READY:
        proc = _READY.pop()
        proc.kill()
        proc.wait()


def _save_pickled() -> None:
    """The saving process of :func:`saving_figures`: the folder, then one ``(stem, figure)``
    after each ``next`` it says, pickled and length-prefixed on stdin, until an empty frame;
    on an error, exit 1 with it as JSON on stdout."""
    die_with_parent(int(sys.argv[1]))
    _import_matplotlib()  # while the run computes what to draw (warm_up)
    folder = _receive(sys.stdin.buffer)  # None: an unused process of warm_up, its run ended
    try:
        while folder is not None:
            print("next", flush=True)
            figure = _receive(sys.stdin.buffer)
            if figure is None:
                break
            _write([figure], folder)  # into the folder the run made
    except OSError as e:
        print(json.dumps({"errno": e.errno, "strerror": e.strerror, "filename": str(e.filename)}), flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - said by the run
        print(json.dumps({"message": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
