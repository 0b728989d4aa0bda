"""Architecture contracts: the import layers of pyproject.toml, and who may read the ground truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# The product's packages (the simulator writes the ground truth; it is not the pipeline).
PIPELINE = ["andon", "spark_jobs", "expectations", "ml", "reporting", "andon_cli", "dags"]
GROUND_TRUTH = "_ground_truth"
GROUND_TRUTH_READERS = {"ml/evaluate.py"}


def test_import_contracts_hold():
    """lint-imports (import-linter) checks the contracts declared in pyproject.toml."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_package_is_under_contract():
    """A new top-level package must be placed on a layer, or the contracts silently miss it."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    packages -= {"tests"}
    assert packages == set(config["root_packages"]), packages ^ set(config["root_packages"])
    layered = {name.strip() for layer in config["contracts"][0]["layers"] for name in layer.split("|")}
    assert layered == packages


def files_mentioning(text: str, packages: list[str]) -> set[str]:
    found = set()
    for package in packages:
        for path in (REPO / package).rglob("*"):
            if path.suffix in {".py", ".sql", ".yml", ".yaml", ".sh"} and text in path.read_text(encoding="utf-8"):
                found.add(path.relative_to(REPO).as_posix())
    return found


def test_only_the_evaluation_reads_the_ground_truth_ledger():
    assert files_mentioning(GROUND_TRUTH, [*PIPELINE, "dbt", "conf", "expectations"]) == GROUND_TRUTH_READERS


def test_files_mentioning_finds_a_reader():
    """The scan itself works: it finds the one reader there is."""
    assert files_mentioning(GROUND_TRUTH, ["ml"]) == GROUND_TRUTH_READERS
