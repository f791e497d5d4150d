"""Publishing under faults: report writers killed with SIGKILL at random moments and at every
step of the swap, two writers on the same folder at once, and the bytes of two runs.

Writers are fresh Python processes running ``WRITER`` (imports take about 1 s), so no writer
inherits the locks of another process's threads as a forked one would (polars starts threads
when it is imported); each computes the simulated study (~1 s) and writes reports. Versions
are told apart by the manifest's ``version`` (and ``version.txt``), and the CARs of version v
are shifted by v x 1e-4, so every data file and table differs between versions. A report is
*complete* when its files are exactly those its manifest lists, with the listed hashes.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from analysis import schema as S
from analysis.calendar import exchange_calendar
from analysis.engine import run_study
from flows.devtools.market import DEMO_EVENTS, simulate_market
from analysis.specs import StudySpec, events_frame
from flows.io import atomic
from flows.reporting.index import write_index
from flows.reporting.publish import VARYING_FIELDS, file_sha256, write_report
from tests.conftest import REPO_ROOT

WRITER = textwrap.dedent("""
    import os, signal, sys
    from dataclasses import replace
    from pathlib import Path
    import matplotlib
    matplotlib.use("Agg")
    import polars as pl
    from analysis.calendar import exchange_calendar
    from analysis.engine import run_study
    from flows.devtools.market import DEMO_EVENTS, simulate_market
    from analysis.specs import StudySpec, events_frame
    from flows.io import atomic
    from flows.reporting.index import write_index
    from flows.reporting.publish import write_report

    def say(*words):
        print(os.getpid(), *words, flush=True)

    def study():
        cal = exchange_calendar()
        market = simulate_market(cal, events=DEMO_EVENTS[:2])
        return run_study(events_frame(market.events), market.prices, StudySpec(), cal, market.shares)

    def write(res, out, v, tag):
        shifted = replace(res, car=res.car.with_columns(pl.col("car") + v * 1e-4))
        write_report(shifted, out, {"version": v, "writer": tag, "created_utc": "fixed"}, title=f"{tag} version {v}",
                     extra={"version.txt": f"{tag}{v}"})

    def mode(name):
        if name == "renames":  # no atomic exchange: the two-rename path and its recovery
            atomic._renameat2 = None

    def loop(out, how, tag, first, count):
        # write versions first, first+1, ... (count of them; 0: until killed), each followed by the index
        out, v, count = Path(out), int(first), int(count)
        mode(how)
        res = study()
        say("ready")
        while count == 0 or v < int(first) + count:
            write(res, out, v, tag)
            write_index(out.parent)
            say("wrote", v)
            v += 1
        say("done")

    def crash(out, how, step):
        # write version 2 over version 1 and die with SIGKILL at one step of the swap:
        # step k kills right after the k-th rename / exchange of the swap (0: as it starts);
        # "rmtree" kills after deleting the first file of the old version.
        out = Path(out)
        mode(how)
        res = study()
        die = lambda: os.kill(os.getpid(), signal.SIGKILL)
        state = {"armed": False, "n": 0}
        def counted(fn):
            def call(*args, **kwargs):
                done = fn(*args, **kwargs)
                if state["armed"] and done is not False:  # exchange() is False when it cannot
                    state["n"] += 1
                    if str(state["n"]) == step:
                        die()
                return done
            return call
        def partial_rmtree(path, **kwargs):
            if state["armed"]:
                next(p for p in Path(path).rglob("*") if p.is_file()).unlink()
                die()
        real_swap = atomic._swap
        def swap(new, target):
            state["armed"] = True
            if step == "0":
                die()
            real_swap(new, target)
        os.replace = counted(os.replace)
        atomic.exchange = counted(atomic.exchange)
        atomic._swap = swap
        if step == "rmtree":
            atomic.shutil.rmtree = partial_rmtree
        write(res, out, 2, "w")
        say("done")

    {"loop": loop, "crash": crash}[sys.argv[1]](*sys.argv[2:])
""")


class Writers:
    """Writer processes: ``start(command, *args)`` runs ``WRITER`` with them and returns its pid;
    the lines they print come on one queue, their stderr goes to ``log``."""

    def __init__(self, log: Path):
        self.log, self.stderr = log, log.open("w")
        self.procs: dict[int, subprocess.Popen] = {}
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []

    def start(self, *args: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, *map(str, args)], stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        threading.Thread(target=lambda: [self.lines.put(line.strip()) for line in proc.stdout], daemon=True).start()
        self.procs[proc.pid] = proc
        return proc.pid

    def expect(self, match, timeout: float = 120) -> str:
        end = time.monotonic() + timeout
        while True:
            for line in self.said:
                if match(line):
                    self.said.remove(line)
                    return line
            try:
                self.said.append(self.lines.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                raise TimeoutError(f"writers: no line expected after {timeout}s; stderr: {self.log.read_text()[-3000:]}") from None

    def poll(self, match) -> str | None:
        try:
            return self.expect(match, timeout=0.01)
        except TimeoutError:
            return None

    def wait(self, pid: int, word: str, timeout: float = 120) -> None:
        self.expect(lambda line: line == f"{pid} {word}", timeout)

    def kill(self, pid: int) -> None:
        self.procs[pid].kill()
        self.gone(pid)

    def gone(self, pid: int, timeout: float = 120) -> int:
        """Wait for writer ``pid`` to exit; its exit code."""
        return self.procs.pop(pid).wait(timeout)

    def stop(self) -> None:
        for pid in list(self.procs):
            self.kill(pid)
        self.stderr.close()


@pytest.fixture
def writers(tmp_path):
    w = Writers(tmp_path / "writers-stderr.txt")
    yield w
    w.stop()


@pytest.fixture(scope="module")
def result():
    """The writers' study: two events of the simulated market (a write takes ~1 s)."""
    cal = exchange_calendar()
    market = simulate_market(cal, events=DEMO_EVENTS[:2])
    return run_study(events_frame(market.events), market.prices, StudySpec(), cal, market.shares)


@pytest.fixture(scope="module")
def clean_versions(result, tmp_path_factory) -> dict[str, Path]:
    """Versions 1 and 2 as clean runs in this process write them."""
    base = tmp_path_factory.mktemp("clean")
    return {f"w{v}": write(result, base / f"v{v}" / "run", v) for v in (1, 2)}


def write(res, out: Path, v: int, tag: str = "w") -> Path:
    """What the writers write (the ZYGOTE's ``write``), from this process."""
    shifted = replace(res, car=res.car.with_columns(pl.col(S.CAR) + v * 1e-4))
    return write_report(shifted, out, {"version": v, "writer": tag, "created_utc": "fixed"}, title=f"{tag} version {v}",
                        extra={"version.txt": f"{tag}{v}"})


def complete_version(folder: Path) -> str:
    """The writer and version of the report in ``folder``; fails unless it is complete."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files == {*manifest["outputs"], "manifest.json"}, files ^ {*manifest["outputs"], "manifest.json"}
    for name, sha in manifest["outputs"].items():
        assert file_sha256(folder / name) == sha, name
    assert (folder / "version.txt").read_text() == f"{manifest['writer']}{manifest['version']}"
    return f"{manifest['writer']}{manifest['version']}"


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and p.name != atomic.LOCK)


@pytest.mark.slow
def test_writers_killed_at_random_moments_leave_the_old_or_the_new_report(writers, result, tmp_path):
    reports = tmp_path / "reports"
    out = reports / "run"
    rng = random.Random(20251103)
    versions, leftovers, missing = [0], set(), 0
    for i in range(20):
        how = ("exchange", "renames")[i % 2]
        first = versions[-1] + 1
        pid = writers.start("loop", out, how, "w", first, 0)
        writers.wait(pid, "ready")
        started = time.monotonic()
        writers.wait(pid, f"wrote {first}")
        time.sleep(rng.uniform(0.0, 1.2 * (time.monotonic() - started)))  # a random moment of the next write
        writers.kill(pid)
        if out.exists():
            versions.append(int(complete_version(out)[1:]))
        elif versions[-1]:  # only a kill between the two renames of the fallback: the next write restores .old-
            assert how == "renames"
            (old,) = [p for p in reports.iterdir() if ".run.old-" in p.name]
            versions.append(int(complete_version(old)[1:]))
            missing += 1
        assert versions == sorted(versions)  # never back to an older version
        if (reports / "index.html").exists():
            assert "</html>" in (reports / "index.html").read_text()
        leftovers |= {name.split("-")[0] for name in hidden(reports)}
    assert versions[-1] >= 20, versions
    # the rerun repairs what the kills left and writes what a clean run writes, byte for byte
    final = versions[-1] + 1
    write(result, out, final)
    write_index(reports)
    assert hidden(reports) == [] and sorted(p.name for p in reports.iterdir()) == [atomic.LOCK, "index.html", "run"]
    clean = write(result, tmp_path / "clean" / "run", final)
    write_index(clean.parent)
    assert tree(out) == tree(clean)
    assert (reports / "index.html").read_bytes() == (clean.parent / "index.html").read_bytes()
    print(f"20 kills: versions {versions[1:]}, folder missing after {missing}, hidden leftovers seen: {sorted(leftovers)}")


# step -> what the folder holds right after the kill: "w1" the previous report, "w2" the new
# one, None nothing (the fallback's two renames were cut in the middle: .old- waits)
CRASH_POINTS = [
    ("exchange", "0", "w1"), ("exchange", "1", "w2"), ("exchange", "2", "w2"), ("exchange", "rmtree", "w2"),
    ("renames", "0", "w1"), ("renames", "1", None), ("renames", "2", "w2"), ("renames", "3", "w2"),
    ("renames", "rmtree", "w2"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("how", "step", "after_kill"), CRASH_POINTS, ids=[f"{h}-{s}" for h, s, _ in CRASH_POINTS])
def test_a_kill_at_each_step_of_the_swap_is_repaired_by_the_next_write(
    writers, result, clean_versions, tmp_path, how, step, after_kill
):
    reports = tmp_path / "reports"
    out = reports / "run"
    shutil.copytree(clean_versions["w1"], out)
    expected = {name: tree(folder) for name, folder in clean_versions.items()}
    pid = writers.start("crash", out, how, step)
    assert writers.gone(pid) == -signal.SIGKILL
    if after_kill is None:
        assert not out.exists() and [p.name for p in reports.iterdir() if ".run.old-" in p.name]
    else:
        assert complete_version(out) == after_kill and tree(out) == expected[after_kill]
    done = atomic.recover(reports)  # what the next writer (or index update) does first, under the lock
    assert any(line.startswith("restored run") for line in done) == (after_kill is None), done
    assert hidden(reports) == []
    repaired = after_kill or "w1"  # the fallback restores the previous report
    assert complete_version(out) == repaired and tree(out) == expected[repaired]
    write(result, out, 3)
    assert complete_version(out) == "w3" and hidden(reports) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", ["exchange", "renames"])
def test_two_writers_on_the_same_folder_leave_one_complete_report(writers, tmp_path, how):
    reports = tmp_path / "reports"
    out = reports / "run"
    pids = [writers.start("loop", out, how, tag, 1, 4) for tag in ("a", "b")]
    seen_missing = 0
    for pid in pids:
        writers.wait(pid, "ready")
    while not out.exists():
        time.sleep(0.01)
    pending, end = {str(pid) for pid in pids}, time.monotonic() + 300
    while pending and time.monotonic() < end:  # never missing while both write (exchange)
        seen_missing += not out.is_dir()
        line = writers.poll(lambda line: line.split()[0] in pending and line.endswith(" done"))
        if line:
            pending.discard(line.split()[0])
    assert not pending, writers.log.read_text()[-3000:]
    if how == "exchange":
        assert seen_missing == 0
    assert complete_version(out) in {"a4", "b4"}  # the last of the eight writes won, complete
    assert hidden(reports) == [] and sorted(p.name for p in reports.iterdir()) == [atomic.LOCK, "index.html", "run"]
    assert 'href="run/report.html"' in (reports / "index.html").read_text()


def test_stale_temporary_folders_are_removed_and_live_ones_kept(tmp_path):
    reports = tmp_path / "reports"
    (reports / "run").mkdir(parents=True)
    (reports / "run" / "manifest.json").write_text("current")
    stale = reports / ".run.tmp-0123456789ab"
    (stale / "tables").mkdir(parents=True)
    (reports / ".run.tmp-0123456789ab.lock").touch()  # its writer died: the lock is free
    (reports / ".index.html.tmp-aaaaaaaaaaaa").write_text("<html")
    (reports / ".run.del-bbbbbbbbbbbb").mkdir()
    (reports / ".other.old-cccccccccccc").mkdir()  # a report whose writer died between the renames
    (reports / ".other.old-cccccccccccc" / "f").write_text("previous")
    with atomic.staged_folder(reports / "run") as live:  # a live writer's folder survives a recovery
        assert live.is_dir() and not stale.exists()
        assert atomic.recover(reports) == []
        (live / "manifest.json").write_text("new")
    assert (reports / "run" / "manifest.json").read_text() == "new" and (reports / "other" / "f").read_text() == "previous"
    assert hidden(reports) == []
    (reports / "notes").mkdir()
    (reports / "notes" / "mine.txt").write_text("not a report")
    with pytest.raises(FileExistsError, match="holds no manifest.json"):  # --out on a folder we did not write
        write_report(None, reports / "notes", {}, title="x")
    assert (reports / "notes" / "mine.txt").exists()


@pytest.mark.parametrize("how", ["exchange", "renames"])
def test_a_ctrl_c_during_the_swap_takes_effect_when_it_is_done(tmp_path, monkeypatch, how):
    """SIGINT after each rename of the swap: ``KeyboardInterrupt`` once the new report is in
    place, nothing hidden left (it left a ``.run.del-`` folder; with two renames, no ``run`` at
    all and the previous report in ``.run.old-``)."""
    reports = tmp_path / "reports"
    out = reports / "run"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("old")
    if how == "renames":
        monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    replace = os.replace

    def interrupted(src, dst):
        replace(src, dst)
        signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        with atomic.staged_folder(out) as new:
            (new / "manifest.json").write_text("new")
            monkeypatch.setattr(os, "replace", interrupted)
    monkeypatch.undo()
    assert (out / "manifest.json").read_text() == "new" and hidden(reports) == []


def test_a_process_ending_without_unwinding_first_discards_its_unfinished_folders(tmp_path):
    """What the Ctrl-C deadline of the command line does before ``os._exit``."""
    reports = tmp_path / "reports"
    with pytest.raises(KeyboardInterrupt):
        with atomic.staged_folder(reports / "run") as new:
            (new / "plots").mkdir()
            (new / "plots" / "a.svg").write_text("<svg")
            atomic.discard_unfinished()
            assert hidden(reports) == []
            raise KeyboardInterrupt
    atomic.discard_unfinished()  # nothing left to discard
    assert hidden(reports) == [] and not (reports / "run").exists()


def test_a_scratch_folder_is_deleted_at_the_end_and_after_its_writer_is_killed(tmp_path):
    """The folder a study streams rows into (beside its report): gone when the run ends, and,
    when the run is killed, removed by the next write into that parent."""
    reports = tmp_path / "reports"
    with atomic.scratch_folder(reports / "run") as scratch:
        (scratch / "abnormal_returns.parquet").write_bytes(b"rows")
        assert atomic.recover(reports) == []  # a live run's scratch survives a recovery
    assert hidden(reports) == []
    # a run killed while it streams
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from flows.io import atomic
        with atomic.scratch_folder(Path({str(reports / "run")!r})) as scratch:
            (scratch / "abnormal_returns.parquet").write_bytes(b"rows")
            os.kill(os.getpid(), signal.SIGKILL)
    """)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert len(hidden(reports)) == 2  # the folder and its lock file
    assert [line.endswith("(unfinished: its writer was killed)") for line in atomic.recover(reports)] == [True]
    assert hidden(reports) == []


def test_two_runs_give_the_same_bytes_except_the_documented_manifest_fields(result, tmp_path):
    first = write_report(result, tmp_path / "one" / "run", {"created_utc": "2025-11-03T21:00:00+00:00"}, title="t", latex=True)
    second = write_report(result, tmp_path / "two" / "run", {"created_utc": "2025-11-04T21:00:00+00:00"}, title="t", latex=True)
    a, b = tree(first), tree(second)
    assert a.keys() == b.keys()
    assert {name for name in a if a[name] != b[name]} == {"manifest.json"}
    m1, m2 = (json.loads(x["manifest.json"]) for x in (a, b))
    assert m1["varying_fields"] == list(VARYING_FIELDS) == ["created_utc", "flow_run"]
    assert {k: v for k, v in m1.items() if k not in VARYING_FIELDS} == {k: v for k, v in m2.items() if k not in VARYING_FIELDS}
    kinds = {Path(name).suffix for name in a}
    assert {".parquet", ".csv", ".md", ".html", ".tex", ".png", ".svg", ".json"} <= kinds
    for name, data in a.items():  # no clock or software stamp in the plots
        if name.endswith(".svg"):
            assert b"<dc:date>" not in data and b"Date" not in data
        if name.endswith(".png"):
            chunks = png_chunks(data)
            assert "tIME" not in chunks and not any(k.startswith(b"Software") for k in chunks.get("tEXt", []))


def png_chunks(data: bytes) -> dict[str, list[bytes]]:
    """PNG chunk type -> the chunks' data (signature, then length, type, data, CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[str, list[bytes]] = {}
    i = 8
    while i < len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        chunks.setdefault(data[i + 4 : i + 8].decode("ascii"), []).append(data[i + 8 : i + 8 + length])
        i += 12 + length
    assert "IEND" in chunks
    return chunks


@pytest.mark.slow
def test_two_cli_runs_on_the_same_inputs_write_the_same_bytes(prefect_api, mr_home, tmp_path, capsys, monkeypatch):
    """``market-reaction run`` twice (the event-study flow, with its artifacts and index) into
    two folders: every file is byte-identical but the manifest's documented varying fields;
    secrets in the environment are written nowhere."""
    from flows.cli.main import main
    from flows.io.store import PriceStore

    secret = "s3cr3t-api-key-value"
    for name in ("PREFECT_API_KEY", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, secret)
    market = simulate_market(exchange_calendar())
    store = PriceStore(mr_home)
    for (ticker,), frame in market.prices.partition_by(S.TICKER, as_dict=True, include_key=False).items():
        store.upsert(ticker, frame, (frame[S.DATE].min(), frame[S.DATE].max()), "simulated")
    store.upsert_shares(market.shares, "simulated")
    catalog = tmp_path / "events.csv"
    pl.DataFrame(
        [(e.id, e.tickers[0], e.announced_text, e.timing, e.benchmark, e.group, e.description) for e in market.events],
        schema=["event_id", "ticker", "announced", "timing", "benchmark", "group", "description"], orient="row",
    ).write_csv(catalog)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name / "run"
        code = main(["run", "--catalog", str(catalog), "--source", "store", "--out", str(out), "--latex"])
        assert code == 0, capsys.readouterr().err
        runs.append(out)
    a, b = tree(runs[0]), tree(runs[1])
    assert a.keys() == b.keys() and len(a) > 50
    assert {name for name in a if a[name] != b[name]} <= {"manifest.json"}
    m1, m2 = (json.loads(x["manifest.json"]) for x in (a, b))
    assert {k: v for k, v in m1.items() if k not in m1["varying_fields"]} == {k: v for k, v in m2.items() if k not in m2["varying_fields"]}
    index = [(out.parent / "index.html").read_text().replace(m["created_utc"], "") for out, m in zip(runs, (m1, m2))]
    assert index[0] == index[1]  # the index differs by the runs' creation times only
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
