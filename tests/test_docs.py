"""The documentation describes the product: its commands run as written, the files it names
exist, and it speaks of the tool and its measured figures, not of how the work on it was
organised."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from circuit2mlp.cli import cli

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "circuits/SOURCES.md"]

#: Words about how the work was organised rather than about the tool. Chosen so that ordinary
#: technical prose passes ("branching process", "merge()" of statistics, "before composing").
PROCESS_WORDS = [
    r"\bsessions?\b",
    r"\bissues?\b",
    r"\bdeliverables?\b",
    r"\bacceptance\b",
    r"\bshared/",
    r"\bwork periods?\b",
    r"\bperiod \d",
    r"\bbox\b",
    r"\bbefore this\b",
    r"\bthis work\b",
    r"\bhelpers?\b",
    r"\bmerged?\b(?!\()",
    r"\bbranch\b",
    r"\bTODO\b",
    r"\bFIXME\b",
    r"\bthe project's\b",
    r"\bfor the record\b",
    r"\bwhat changed\b",
    r"\bearlier (version|build|figure)s?\b",
    r"\bprevious version\b",
    r"\bgit archive\b",
    r"\bsprint\b",
    r"\bticket\b",
    r"\bmilestones?\b",
]


def doc_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_speak_of_the_product(path):
    found = []
    for number, line in enumerate(doc_text(path).splitlines(), 1):
        for pattern in PROCESS_WORDS:
            if re.search(pattern, line, flags=re.IGNORECASE):
                found.append(f"{path.name}:{number}: {pattern}: {line.strip()[:80]}")
    assert not found, "\n".join(found)


def test_the_word_list_can_fail():
    line = "Measured in session 3 on the project's 2-core box for the acceptance runs."
    hits = [p for p in PROCESS_WORDS if re.search(p, line, flags=re.IGNORECASE)]
    assert len(hits) >= 4
    fine = "a critical branching process; LevelStats.merge() sums the counts before composing"
    assert not [p for p in PROCESS_WORDS if re.search(p, fine, flags=re.IGNORECASE)]


def help_texts() -> dict[str, str]:
    """`circuit2mlp --help` and every subcommand's --help."""
    runner = CliRunner()
    texts = {"circuit2mlp": runner.invoke(cli, ["--help"]).output}
    for name, command in cli.commands.items():
        texts[name] = runner.invoke(cli, [name, "--help"]).output
        if isinstance(command, click.Group):
            for sub in command.commands:
                texts[f"{name} {sub}"] = runner.invoke(cli, [name, sub, "--help"]).output
    return texts


# a repository path: circuits/..., docs/..., benchmarks/..., tests/... (not ../circuits)
REPO_PATH = re.compile(r"(?<![\w./-])((?:circuits|docs|benchmarks|tests)/[\w./*-]*)")


def mentioned_paths(text: str) -> set[str]:
    paths = set()
    for match in REPO_PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if "*" not in path:
            paths.add(path)
    return paths


def test_every_repository_path_in_docs_and_help_exists():
    # circuits/SOURCES.md names paths inside the repositories the circuits come from
    sources = {str(p.relative_to(REPO)): doc_text(p) for p in DOCS if p.name != "SOURCES.md"}
    sources.update({f"help of {k}": v for k, v in help_texts().items()})
    missing = []
    for where, text in sources.items():
        missing += [
            f"{where}: {p}" for p in sorted(mentioned_paths(text)) if not (REPO / p).exists()
        ]
    assert not missing, missing
    every = set().union(*(mentioned_paths(t) for t in sources.values()))
    assert "circuits/generated/uand60.yaml" in every  # the regex finds what it should


def test_help_example_circuit_exists():
    top = help_texts()["circuit2mlp"]
    assert mentioned_paths(top), top
    for path in mentioned_paths(top):
        assert (REPO / path).exists(), path


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path):
    broken = []
    for target in LINK.findall(doc_text(path)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, broken


def readme_commands() -> list[str]:
    """The bash blocks above the README's first section."""
    head = doc_text(REPO / "README.md").split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", head, flags=re.DOTALL)


def test_readme_has_two_commands_at_the_top():
    main_job, test_command = readme_commands()
    assert "\n" not in main_job and "\n" not in test_command
    assert main_job.startswith("pip install . && circuit2mlp compile ")
    assert "circuit2mlp verify" in main_job
    for path in mentioned_paths(main_job):
        assert (REPO / path).is_file(), path
    ci = (REPO / ".ci/run").read_text()
    marker = "<!-- test-command -->"
    assert marker in ci
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == test_command == "pip install '.[test]' && python -m pytest"
