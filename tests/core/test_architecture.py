"""The package's shape, checked by import-linter (contracts in ``.importlinter``): the core imports no task, no
task imports another, and nothing in ``vae_core`` imports streamlit. Also: every registered task offers the
same set of modules under the same names."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vae_core.core.registry import tasks

ROOT = Path(__file__).resolve().parents[2]
TASK_MODULES = ("data", "model", "loss", "task", "inference", "evaluation", "latents", "demo", "cli", "bench")


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or pytest.fail("import-linter is not installed (requirements.txt has it)")
    r = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout


def test_the_contract_catches_a_core_module_that_imports_a_task(tmp_path):
    """A copy of the package whose core imports the image task breaks the first contract."""
    shutil.copytree(ROOT / "vae_core", tmp_path / "vae_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "lab_ui", tmp_path / "lab_ui", ignore=shutil.ignore_patterns("__pycache__"))
    bad = tmp_path / "vae_core" / "core" / "data.py"
    bad.write_text(bad.read_text() + "\nfrom vae_core.image import model as _model  # noqa\n")
    exe = shutil.which("lint-imports") or pytest.fail("import-linter is not installed")
    r = subprocess.run([exe, "--config", str(ROOT / ".importlinter")], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300, env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    assert "The core imports no task (and not the registry entries) BROKEN" in r.stdout


@pytest.mark.parametrize("task", sorted(tasks()))
def test_every_task_package_has_the_same_modules(task):
    package = importlib.import_module(f"vae_core.{task}")
    missing = [m for m in TASK_MODULES if not (Path(package.__file__).parent / f"{m}.py").is_file()]
    assert missing == []
