"""What the project installs: one package, customer360, that does nothing heavy at import."""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
FIND = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
# Modules that must not be loaded by importing the package or its settings.
HEAVY = (
    "airflow",
    "pandas",
    "numpy",
    "dbt",
    "great_expectations",
    "splink",
    "sklearn",
    "matplotlib",
    "psycopg",
)


def test_customer360_is_the_only_top_level_name_installed():
    packages = find_packages(where=str(ROOT / FIND["where"][0]), include=FIND["include"])
    assert "customer360" in packages
    assert {name.split(".")[0] for name in packages} == {"customer360"}


def test_a_build_of_the_project_holds_customer360_alone(tmp_path):
    """setuptools builds what an install copies (build_py): only customer360 comes out."""
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert {p.name for p in tmp_path.iterdir()} == {"customer360"}
    built = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")}
    assert "customer360/__init__.py" in built and "customer360/config.py" in built
    assert "customer360/orchestration/stages.py" in built and "customer360/devtools/run_dag.py" in built


def test_every_source_folder_is_a_package_that_is_installed():
    """A folder of modules without an __init__.py would be left out of the wheel."""
    src = ROOT / "src"
    packages = set(find_packages(where=str(src), include=FIND["include"]))
    folders = {".".join(p.parent.relative_to(src).parts) for p in src.rglob("*.py") if "__pycache__" not in p.parts}
    assert folders <= packages, f"not installed: {sorted(folders - packages)}"


def test_nothing_outside_src_is_installed():
    assert FIND["where"] == ["src"]
    assert FIND["include"] == ["customer360*"]
    top_level = {p.name for p in (ROOT / "src").iterdir() if not p.name.startswith(".") and p.suffix != ".egg-info"}
    assert top_level == {"customer360"}


def test_importing_the_package_and_its_settings_loads_nothing_heavy():
    code = (
        "import json, sys; import customer360, customer360.config; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    loaded = set(json.loads(out.stdout))
    assert "customer360" in loaded
    assert not loaded & set(HEAVY), f"importing customer360 loads {sorted(loaded & set(HEAVY))}"


def test_project_root_is_the_repository_root():
    from customer360.config import PROJECT_ROOT, Settings

    assert PROJECT_ROOT == ROOT
    assert (PROJECT_ROOT / "dbt_project" / "dbt_project.yml").exists()
    assert Settings(warehouse_url="postgresql://postgres@127.0.0.1/x").dbt_project_dir == ROOT / "dbt_project"


def _imports_of(path: Path, module: str) -> set[str]:
    """customer360 modules `path` imports anywhere (also inside functions), except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: a relative import (the project imports by absolute name)"
            base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("customer360")}


def test_no_two_modules_import_each_other():
    """An import circle is two modules that are really one; a lazy import inside a function hides it, not ends it."""
    root = ROOT / "src"
    modules = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in root.joinpath("customer360").rglob("*.py")
    }
    graph = {name: _imports_of(path, name) & modules.keys() - {name} for name, path in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        return False

    # A package's __init__ importing its own modules is not a circle through them.
    circles = sorted(
        {tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if reaches(b, a)}
        - {(a, b) for a in modules for b in modules if b.startswith(a + ".") or a.startswith(b + ".")}
    )
    assert circles == []


def test_one_module_creates_the_python_owned_tables_and_declares_their_owners():
    """Every `create table` in src/ is in customer360.db.tables, which names each table and its owner."""
    import re

    from customer360.db import tables
    from customer360.db.bootstrap import TABLE_OWNERS

    pattern = re.compile(r"create table if not exists (\w+\.\w+)")
    creating = {
        str(path.relative_to(ROOT)): set(pattern.findall(path.read_text())) for path in (ROOT / "src").rglob("*.py")
    }
    assert {path for path, found in creating.items() if found} == {"src/customer360/db/tables.py"}
    declared = {name for group in tables.REGISTRY for name in group.names}
    assert declared == creating["src/customer360/db/tables.py"]
    for group in tables.REGISTRY:
        for name in group.names:
            schema = name.split(".")[0]
            # outside ops a table belongs to its schema's owner; the declaration must say the same
            assert schema == "ops" or group.owner == TABLE_OWNERS[schema], name
