"""central/ is laid out by feature: no import cycles between its modules (imports inside
functions count), private modules stay inside their package, the root holds only the
composition root, config, CLI and the one clock.

Edge rule: ``import a.b.c`` -> a.b.c; ``from a.b import c`` -> a.b.c if c is a submodule,
else a.b (relative imports resolved); only ``if TYPE_CHECKING:`` imports are exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "central"
#: The only modules directly in central/ (features live in their packages).
ROOT_MODULES = {"__init__.py", "assemble.py", "config.py", "cli.py", "clock.py"}
#: Trees whose imports of central's private modules are checked (besides central itself).
CALLERS = ("central", "tests", "bench", "scripts", "agent", "provisioning", "protocol")


def module_name(path: Path, root: Path) -> str:
    """Dotted name of a .py file (a package's __init__ is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of central/ by dotted name."""
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imported(path: Path, root: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, resolved by the edge rule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_lines(tree)
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = package[: len(package) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((node.lineno, sub if sub in known else base))
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """central module -> the central modules it imports."""
    mods = modules(root)
    known = set(mods)
    return {m: {i for _, i in imported(p, root, known) if i in known} for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(comp) > 1 or v in graph[v]:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_import_violations(root: Path) -> list[str]:
    """Imports of a central module named _x.py from outside the package that holds it."""
    known = set(modules(root))
    private = {m for m in known if m.rsplit(".", 1)[-1].startswith("_")
               and not m.rsplit(".", 1)[-1].startswith("__")}
    bad = []
    for tree in CALLERS:
        for path in sorted((root / tree).rglob("*.py")) if (root / tree).is_dir() else []:
            caller = module_name(path, root)
            for line, mod in imported(path, root, known):
                owner = mod.rsplit(".", 1)[0]
                if mod in private and not (caller == owner or caller.startswith(owner + ".")):
                    bad.append(f"{path.relative_to(root)}:{line} imports private {mod}")
    return bad


def test_no_import_cycles_in_central() -> None:
    found = cycles(import_graph(ROOT))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_private_modules_stay_in_their_package() -> None:
    bad = private_import_violations(ROOT)
    assert not bad, "\n".join(bad)


def test_central_root_holds_only_the_composition_root_config_cli_and_clock() -> None:
    loose = sorted(p.name for p in (ROOT / PACKAGE).glob("*.py") if p.name not in ROOT_MODULES)
    assert not loose, f"modules in central/ that belong in a feature package: {loose}"


def test_the_checks_catch_a_cycle_and_a_private_import(tmp_path: Path) -> None:
    files = {"central/__init__.py": "", "central/a/__init__.py": "",
             "central/a/_sql.py": "X = 1\n",
             "central/a/x.py": "from central.a import _sql\n\ndef f():\n    import central.b.y\n",
             "central/b/__init__.py": "", "central/b/y.py": "from central.a.x import f\n",
             "central/b/z.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from central.a._sql import X\nfrom central.a._sql import X\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert cycles(import_graph(tmp_path)) == [["central.a.x", "central.b.y"]]
    assert private_import_violations(tmp_path) == [
        "central/b/z.py:4 imports private central.a._sql"]
