"""The sandboxes never import the client's code (p2p_assets.lib, p2p_assets.defs).

A simulator that borrows the client's constants or encoders can never disagree with the client,
so it can never catch the client misreading the vendor's manual. Every module under
p2p_assets/sandbox is parsed (not imported) and each forbidden import is named.
"""

import ast
from pathlib import Path

import pytest

import p2p_assets

PACKAGE_ROOT = Path(p2p_assets.__file__).resolve().parent
SANDBOX_ROOT = PACKAGE_ROOT / "sandbox"
FORBIDDEN = ("p2p_assets.lib", "p2p_assets.defs")
_IMPORTERS = {"import_module", "__import__"}


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def _resolve(module: str | None, level: int, package: str) -> str:
    """The absolute name of `from <level dots><module> import ...` inside `package`."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - level + 1]
    return ".".join(base + ([module] if module else []))


def forbidden_imports(source: str, module_name: str, is_package: bool = False) -> list[str]:
    """The client's modules that `source` (module `module_name`) imports, in source order."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, package)
            # `from p2p_assets import lib` imports the module p2p_assets.lib.
            found += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in _IMPORTERS and isinstance(first, ast.Constant):
                found.append(str(first.value))
    forbidden = [name for name in found if _is_forbidden(name)]
    # `from p2p_assets.lib.x import y` names p2p_assets.lib.x once, not also p2p_assets.lib.x.y.
    return [n for n in forbidden if not any(n.startswith(f"{o}.") for o in forbidden)]


def _module_name(path: Path) -> tuple[str, bool]:
    relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def test_no_sandbox_module_imports_the_client():
    modules = sorted(SANDBOX_ROOT.rglob("*.py"))
    assert len(modules) > 20  # the walk found the sandboxes
    offenders = {}
    for path in modules:
        name, is_package = _module_name(path)
        found = forbidden_imports(path.read_text(encoding="utf-8"), name, is_package)
        if found:
            offenders[name] = found
    assert not offenders, "sandbox modules importing the client's code: " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in offenders.items()
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import p2p_assets.lib.currency", ["p2p_assets.lib.currency"]),
        ("import p2p_assets.defs as d", ["p2p_assets.defs"]),
        ("from p2p_assets.lib.basware.tables import ALL_TABLES", ["p2p_assets.lib.basware.tables"]),
        ("from p2p_assets import lib", ["p2p_assets.lib"]),
        ("from p2p_assets import settings, defs", ["p2p_assets.defs"]),
        ("from ...lib import currency", ["p2p_assets.lib"]),
        ("from ... import lib", ["p2p_assets.lib"]),
        ("importlib.import_module('p2p_assets.lib.files')", ["p2p_assets.lib.files"]),
        ("def f():\n    from p2p_assets.defs.basware import x", ["p2p_assets.defs.basware"]),
        ("from p2p_assets.sandbox import http\nimport p2p_assets.library", []),
        ("from p2p_assets import settings", []),
    ],
)
def test_the_check_finds_every_form_of_import(source: str, expected: list[str]):
    assert forbidden_imports(source, "p2p_assets.sandbox.basware.app") == expected
