"""brownie imports a script by a module name built from its absolute path; a dot in a directory
name splits that name. The finder set-up installs must resolve such paths, relative imports
included, and only as a fallback."""

import subprocess
import sys
import textwrap


def _make_project(root):
    scripts = root / "a.b" / "c.d.e" / "proj" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "helper.py").write_text("VALUE = 42\n")
    (scripts / "01_run.py").write_text("from .helper import VALUE\n\ndef main():\n    return VALUE\n")
    return scripts / "01_run.py"


def _import_as_brownie_does(script, drop_finder: bool):
    # brownie.project.scripts._import_from_path: "/" on sys.path, the path's parts joined by dots.
    code = textwrap.dedent(f"""
        import importlib, sys
        from pathlib import Path
        if {drop_finder}:
            sys.meta_path[:] = [f for f in sys.meta_path
                                if getattr(f, "__name__", "") != "DottedDirectoryFinder"]
        path = Path({str(script)!r})
        sys.path.insert(0, "/")
        name = ".".join(path.parts[1:-1]) + "." + path.stem
        print(importlib.import_module(name).main())
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_a_script_under_dotted_directories_imports_with_its_relative_imports(tmp_path):
    done = _import_as_brownie_does(_make_project(tmp_path), drop_finder=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_without_the_finder_the_same_import_fails(tmp_path):
    done = _import_as_brownie_does(_make_project(tmp_path), drop_finder=True)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr


def test_a_missing_module_under_a_dotted_directory_still_fails(tmp_path):
    script = _make_project(tmp_path)
    done = _import_as_brownie_does(script.with_name("absent.py"), drop_finder=False)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr
