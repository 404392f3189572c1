"""Declared dependencies are the ones the package's code imports; every folder installs under ``icaa.``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "pipeline", "model", "annotation")
IMPORT_NAMES = {"opencv-python-headless": "cv2", "Pillow": "PIL", "ImageHash": "imagehash", "PyYAML": "yaml",
                "dask": "distributed"}
#: Declared for their command-line tool, which the README's commands run: nothing imports them.
TOOLS = {"dvc"}


def _imported_top_level_names() -> set[str]:
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
    return {name for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            for name in pattern.findall(path.read_text())}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]


def test_every_core_dependency_is_imported_by_the_package():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    imported = _imported_top_level_names()
    unused = [name for name in map(_requirement_name, dependencies)
              if name not in TOOLS and IMPORT_NAMES.get(name, name) not in imported]
    assert unused == []


def test_reference_libraries_of_the_tests_are_not_runtime_imports():
    imported = _imported_top_level_names()
    assert "colour" not in imported and "skimage" not in imported
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"colour-science", "scikit-image"} <= {_requirement_name(r) for r in extras["dev"]}


#: What an installation of this project puts on ``sys.path``, run isolated (no current folder, no PYTHONPATH) so
#: that the checkout's own folders do not count.
INSTALLED_LAYOUT = """
import importlib.util, json
print(json.dumps({name: getattr(importlib.util.find_spec(name), "origin", None) for name in NAMES}))
"""


def test_each_folder_installs_as_a_subpackage_of_icaa_and_no_generic_top_level_name(tmp_path):
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert package_dir == {f"icaa.{folder}": folder for folder in PACKAGES}
    names = [f"icaa.{folder}" for folder in PACKAGES] + list(PACKAGES)
    done = subprocess.run([sys.executable, "-I", "-c", f"NAMES = {names!r}" + INSTALLED_LAYOUT], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    origins = json.loads(done.stdout)
    for folder in PACKAGES:  # the checkout's folder (editable install) or site-packages/icaa/<folder> (wheel)
        origin = Path(origins[f"icaa.{folder}"])
        assert origin == ROOT / folder / "__init__.py" or origin.parts[-3:] == ("icaa", folder, "__init__.py")
    assert {folder: origins[folder] for folder in PACKAGES} == dict.fromkeys(PACKAGES)


def _icaa_imports(folder: str) -> dict[str, set[str]]:
    pattern = re.compile(r"^\s*(?:from|import)\s+(icaa\.[A-Za-z0-9_.]+)", re.MULTILINE)
    return {str(path.relative_to(ROOT)): set(pattern.findall(path.read_text()))
            for path in (ROOT / folder).rglob("*.py")}


def test_common_imports_no_other_part_and_neither_model_nor_annotation_imports_the_data_cli():
    outside_common = {path: sorted(m for m in modules if not m.startswith("icaa.common"))
                      for path, modules in _icaa_imports("common").items()}
    assert {path: modules for path, modules in outside_common.items() if modules} == {}
    for folder in ("model", "annotation"):
        cli_users = {path: sorted(m for m in modules if m.startswith("icaa.pipeline.cli"))
                     for path, modules in _icaa_imports(folder).items()}
        assert {path: modules for path, modules in cli_users.items() if modules} == {}
