"""Input-side hygiene: user files are data, never code; nothing secret is printed.

* Catalogs are parsed with ``tomllib`` and ``csv``, price files with polars/pyarrow readers:
  no ``eval``/``exec``, no pickle, marshal or shelve, no shell, and no YAML library imported
  (one exception: a report's figures are pickled to the saving process the run started, over
  the pipe it created, :data:`PICKLED_PIPE`; never a file, never user bytes),
  so our code cannot load ``prefect.yaml`` or any YAML a user hands it (``prefect deploy``
  reads ``deployments/prefect.yaml``; that is Prefect's own loader, run by the operator).
* Names from user files never become paths outside their folder (event ids:
  tests/analysis/test_catalog.py; tickers: tests/flows/io/test_store_durability.py).
* The environment is never dumped: a secret in it appears in no output.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flows.cli.main import main
from tests.conftest import REPO_ROOT

PACKAGES = ("analysis", "flows")
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
BANNED_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "yaml", "ruamel", "jsonpickle"}
SECRET = "s3cr3t-value-in-the-environment"
PICKLED_PIPE = "flows/reporting/figures.py"
"""The module that pickles (matplotlib figures) to its own child's stdin, and unpickles only that."""


def sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((REPO_ROOT / pkg).rglob("*.py"))]
    assert len(files) > 10
    return files


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_code_execution_or_unsafe_deserialisation(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):  # the builtins (re.compile and polars' list.eval are fine)
                assert func.id not in BANNED_CALLS, f"{where}: {func.id}()"
            if isinstance(func, ast.Attribute):
                assert func.attr not in {"read_pickle", "unsafe_load", "full_load"}, f"{where}: {func.attr}()"
            for kw in node.keywords:
                assert not (kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value), f"{where}: shell=True"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pickle" and path == REPO_ROOT / PICKLED_PIPE:
                    continue
                assert alias.name.split(".")[0] not in BANNED_MODULES, f"{where}: import {alias.name}"
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in BANNED_MODULES, f"{where}: from {node.module}"


def test_the_one_unpickling_reads_the_pipe_of_its_own_parent():
    source = (REPO_ROOT / PICKLED_PIPE).read_text(encoding="utf-8")
    loads = [line.strip() for line in source.splitlines() if "pickle.load" in line or "_receive(" in line]
    assert loads == [
        "def _receive(pipe: IO[bytes]) -> object | None:",
        'return pickle.loads(pipe.read(int.from_bytes(head, "little"))) if len(head) == 8 else None',
        "folder = _receive(sys.stdin.buffer)  # None: an unused process of warm_up, its run ended",
        "figure = _receive(sys.stdin.buffer)",
    ]
    assert "stdin=subprocess.PIPE" in source


def test_catalog_values_are_data_not_code(tmp_path, capsys):
    """A catalog full of would-be code is just text: parsed, listed, never run."""
    marker = tmp_path / "pwned"
    catalog = tmp_path / "events.csv"
    payload = f"__import__('os').system('touch {marker}')"
    catalog.write_text(f'event_id,ticker,announced,description,size\nev,AMZN,2025-11-03,"{payload}","{payload}"\n')
    assert main(["events", "list", "--catalog", str(catalog)]) == 0
    toml = tmp_path / "events.toml"
    toml.write_text(f'[[events]]\nid = "ev"\ntickers = ["AMZN"]\nannounced = "2025-11-03"\ndescription = "{{{{7*7}}}} ${{HOME}} `id`"\n'
                    f'[events.characteristics]\nx = "{payload}"\n')
    assert main(["events", "list", "--catalog", str(toml)]) == 0
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["events", "list", "--catalog", "{repo}/deployments/events.toml"],
        ["events", "validate", "--catalog", "{tmp}/bad.toml"],
        ["prices", "import", "{tmp}/AMZN.csv"],
        ["prices", "import", "{tmp}/BAD.csv"],
        ["prices", "show"],
        ["--verbose", "prices", "import", "{tmp}/AMZN.csv"],
    ],
)
def test_no_secret_from_the_environment_is_printed(mr_home, tmp_path, monkeypatch, capsys, argv):
    for name in ("AWS_SECRET_ACCESS_KEY", "MR_API_TOKEN", "PREFECT_API_KEY"):
        monkeypatch.setenv(name, SECRET)
    (tmp_path / "bad.toml").write_text("[[events]]\nid = 1\n")
    (tmp_path / "AMZN.csv").write_text("date,close\n2025-01-02,1\n2025-01-03,1.01\n")
    (tmp_path / "BAD.csv").write_text("date,close\n2025-01-02,-1\n")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{repo}", str(REPO_ROOT)) for a in argv]
    main(args)
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    for path in mr_home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
