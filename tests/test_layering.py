"""The house's one-way imports (docs ARCHITECTURE.md): nothing outside tests/ imports from tests/,
and one module supervises oracle processes (scripts/oracle_cluster.py)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_TESTS = ("bench", "scripts", "oracle", "models")


def imports_of_tests(source: str) -> list[str]:
    """The `import tests...` / `from tests... import` statements in `source` (line: text)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == "tests" or n.startswith("tests.") for n in names):
            found.append(f"{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def path_hacks_into_tests(source: str) -> list[str]:
    """`sys.path.insert/append(...)` calls whose argument mentions "tests" (an import in disguise)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append")
                and ast.get_source_segment(source, node.func.value) == "sys.path"
                and '"tests"' in (ast.get_source_segment(source, node) or "")):
            found.append(f"{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py")
                  if ".venv" not in p.parts and "__pycache__" not in p.parts)


def test_the_import_check_finds_both_import_forms_and_ignores_prose():
    source = ('"""read from tests/contracts/x.py"""\n'
              "from tests.oracle.integration.harness import random_rows\n"
              "def f():\n    import tests.oracle as t\n"
              "from testsuite import x\nimport tests_extra\n")
    assert [line.split(":")[0] for line in imports_of_tests(source)] == ["2", "4"]


def test_nothing_outside_tests_imports_from_tests():
    files = python_files(*OUTSIDE_TESTS)
    assert len(files) > 50  # the folders were found
    offenders = {str(p.relative_to(ROOT)): hits for p in files
                 if (hits := imports_of_tests(p.read_text()))}
    assert offenders == {}


def test_the_path_check_finds_a_sys_path_insert_into_tests():
    source = ('import sys\nsys.path.insert(0, str(ROOT / "tests" / "contracts"))\n'
              'sys.path.append("elsewhere")\n')
    assert [line.split(":")[0] for line in path_hacks_into_tests(source)] == ["2"]


def test_nothing_outside_tests_puts_tests_on_sys_path():
    offenders = {str(p.relative_to(ROOT)): hits for p in python_files(*OUTSIDE_TESTS)
                 if (hits := path_hacks_into_tests(p.read_text()))}
    assert offenders == {}


def test_only_scripts_oracle_cluster_starts_oracle_node_processes():
    """The demo, the integration tests and the benchmarks share one supervisor: no second module
    spawns long-running `oracle serve` processes with Popen."""
    spawners = [str(p.relative_to(ROOT)) for p in python_files("bench", "scripts", "tests")
                if p.name != "test_layering.py"
                and "Popen(" in (text := p.read_text()) and '"serve"' in text]
    assert spawners == ["scripts/oracle_cluster.py"]
