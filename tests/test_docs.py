"""The README and docs/ stay true: CI runs the README's test command, every linked document
and every file they name exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"# 2\. .*\n(.*)\n", readme).group(1)
    assert (REPO / ".ci" / "run").read_text().rstrip().splitlines()[-1] == command


def test_every_linked_document_and_named_file_exists():
    for doc in DOCS:
        text = doc.read_text()
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):  # relative links
            assert (doc.parent / link).exists(), (doc.name, link)
        for path in re.findall(r"`((?:analysis|flows|market_reaction|tests|deployments)/[\w/.-]+\.(?:py|toml|yaml))", text):
            assert (REPO / path).exists(), (doc.name, path)
