"""The web layer's module boundaries (issue 9, section 2), read from the source: no blueprint imports
another, no module outside the services imports another module's `_private` name, and no import
hides inside a function in the blueprints, web.py, cli.py or filters.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
BLUEPRINTS = sorted(p.parent.name for p in APP.glob("*/__init__.py") if "Blueprint(" in p.read_text())
WEB_LAYER = [p for name in BLUEPRINTS for p in (APP / name).glob("*.py")] + [
    APP / "web.py", APP / "cli.py", APP / "filters.py", APP / "forms.py"]


def _imports(path: Path):
    """(module imported from, names, inside a function?) for each import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    in_function = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(fn) if node is not fn}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names], id(node) in in_function
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], id(node) in in_function


def _name(path: Path) -> str:
    return path.relative_to(APP).as_posix()


def test_the_blueprints_are_found():
    assert {"leads", "settings", "public", "api"} <= set(BLUEPRINTS)


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_a_blueprint_imports_no_other_blueprint(blueprint):
    others = {f"app.{name}" for name in BLUEPRINTS if name != blueprint}
    crossings = [(_name(path), module) for path in (APP / blueprint).glob("*.py")
                 for module, _, _ in _imports(path)
                 if module in others or any(module.startswith(o + ".") for o in others)]
    assert crossings == []


def test_no_module_imports_another_modules_private_name():
    reached = {(_name(path), name) for path in APP.rglob("*.py")
               for module, names, _ in _imports(path) if module.startswith("app")
               for name in names if name.startswith("_") and not name.startswith("__")}
    assert reached == set()


def test_the_web_layer_imports_at_module_top():
    hidden = [(_name(path), module) for path in WEB_LAYER for module, _, inside in _imports(path) if inside]
    assert hidden == []
