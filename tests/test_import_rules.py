"""DESIGN.md section 2 import rules, checked on the AST of every module of the four packages.

Edit the allow-lists just below when a module legitimately moves; the failure message says
which file imported what, on which line, and where that import belongs instead.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "agent", "central", "provisioning")

# --- allow-lists (edit here) -----------------------------------------------------------------
#: protocol/ may import the standard library, itself, and these third-party packages only.
PROTOCOL_THIRD_PARTY = {"pydantic", "pydantic_core"}
#: Top-level packages central/ must never import.
CENTRAL_FORBIDDEN = {"agent"}
#: agent/policy is pure: no I/O modules, no clock, no agent module that does I/O.
POLICY_DIR = "agent/policy"
POLICY_FORBIDDEN = {
    "socket", "ssl", "subprocess", "sqlite3", "paho", "pyroute2", "gpiozero", "netifaces",
    "psutil", "os", "shutil", "pathlib", "io", "tempfile", "glob", "select", "selectors",
    "fcntl", "ctypes", "signal", "multiprocessing", "threading", "asyncio", "urllib", "http",
    "aiohttp", "requests", "time", "logging.handlers",
    "agent.transport", "agent.actuators", "agent.probes", "agent.sysexec", "agent.netlink",
    "agent.runtime", "agent.systemd", "agent.cli", "agent.sim", "agent.controllers",
    "agent.clock",
}
#: Builtins that do I/O and must not be called in agent/policy.
POLICY_FORBIDDEN_CALLS = {"open", "input", "print", "exec", "eval", "__import__"}
#: Modules that live behind one small swappable interface: {module: {package: home file}}.
#: A package missing from the inner dict may import the module in at most one file.
SINGLE_HOMES: dict[str, dict[str, str]] = {
    "subprocess": {"agent": "agent/sysexec.py", "provisioning": "provisioning/localbroker.py"},
    "pyroute2": {"agent": "agent/netlink.py"},
    "netifaces": {"agent": "agent/netlink.py"},
    "gpiozero": {"agent": "agent/actuators/gpio.py"},
}
# Developer tooling that never runs on a node: the simulator's local stack starts mosquitto,
# central and simulated fleets as processes for `make demo`, tests and benches.
TOOLING: tuple[str, ...] = ("agent/sim/",)
#: Packages with no import cycle between their modules (imports inside functions count,
#: `if TYPE_CHECKING:` imports do not). central and provisioning join once theirs are gone.
ACYCLIC: tuple[str, ...] = ("protocol", "agent")
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imp:
    """One import statement: file (relative to the repo), line, and the full module name."""

    path: str
    line: int
    module: str

    @property
    def root(self) -> str:
        """Top-level name of the imported module."""
        return self.module.split(".")[0]

    def where(self) -> str:
        """file:line for messages."""
        return f"{self.path}:{self.line}"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _package_of(rel: str) -> str:
    parts = rel.split("/")[:-1]
    return ".".join(parts)


def imports_of(root: Path, rel: str) -> list[Imp]:
    """Every module imported by one file (absolute, relative, importlib by literal name)."""
    tree = ast.parse((root / rel).read_text(encoding="utf-8"), filename=rel)
    skip = _type_checking_lines(tree)
    out: list[Imp] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [Imp(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(rel).split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out += [Imp(rel, node.lineno, mod)]
            out += [Imp(rel, node.lineno, f"{mod}.{a.name}") for a in node.names if a.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module",
                                             "__import__")):
            out.append(Imp(rel, node.lineno, node.args[0].value))
    return out


def python_files(root: Path) -> Iterator[str]:
    """Repo-relative paths of every .py file under the four packages."""
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            yield path.relative_to(root).as_posix()


def _matches(module: str, names: set[str]) -> str | None:
    for name in names:
        if module == name or module.startswith(name + "."):
            return name
    return None


def check_protocol(root: Path) -> list[str]:
    """protocol imports only stdlib, itself and pydantic."""
    bad = []
    for rel in python_files(root):
        if not rel.startswith("protocol/"):
            continue
        for imp in imports_of(root, rel):
            ok = imp.root in sys.stdlib_module_names or imp.root in PROTOCOL_THIRD_PARTY
            if not ok and imp.root != "protocol":
                bad.append(f"{imp.where()} imports {imp.module}: protocol/ may import only the "
                           f"standard library and {sorted(PROTOCOL_THIRD_PARTY)}; move the code "
                           "that needs it out of protocol/")
    return sorted(set(bad))


def check_central(root: Path) -> list[str]:
    """central never imports agent."""
    bad = []
    for rel in python_files(root):
        if rel.startswith("central/"):
            bad += [f"{i.where()} imports {i.module}: central/ must not import agent/; share it "
                    "via protocol/ (wire types) or copy the small piece"
                    for i in imports_of(root, rel) if i.root in CENTRAL_FORBIDDEN]
    return sorted(set(bad))


def check_policy(root: Path) -> list[str]:
    """agent/policy imports no I/O module and calls no I/O builtin."""
    bad = []
    for rel in python_files(root):
        if not rel.startswith(POLICY_DIR + "/"):
            continue
        for imp in imports_of(root, rel):
            hit = _matches(imp.module, POLICY_FORBIDDEN)
            if hit:
                bad.append(f"{imp.where()} imports {imp.module}: {POLICY_DIR} must stay pure; do "
                           f"the I/O ({hit}) in agent/probes, agent/actuators or agent/transport "
                           "and pass the result (or the time) in")
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in POLICY_FORBIDDEN_CALLS):
                bad.append(f"{rel}:{node.lineno} calls {node.func.id}(): {POLICY_DIR} must stay "
                           "pure (return data, let the caller do I/O)")
    return sorted(set(bad))


def check_single_homes(root: Path) -> list[str]:
    """subprocess, gpiozero, netifaces, pyroute2: one importing module per top-level package."""
    users: dict[tuple[str, str], dict[str, int]] = {}
    for rel in python_files(root):
        pkg = rel.split("/")[0]
        if rel.startswith(TOOLING):
            continue
        for imp in imports_of(root, rel):
            if imp.root in SINGLE_HOMES:
                users.setdefault((imp.root, pkg), {}).setdefault(rel, imp.line)
    bad = []
    for (mod, pkg), files in sorted(users.items()):
        home = SINGLE_HOMES[mod].get(pkg)
        if home is not None:
            bad += [f"{rel}:{line} imports {mod}: in {pkg}/ only {home} may import {mod}; call "
                    f"it through {home} (or change SINGLE_HOMES in tests/test_import_rules.py)"
                    for rel, line in sorted(files.items()) if rel != home]
        elif len(files) > 1:
            where = ", ".join(f"{r}:{n}" for r, n in sorted(files.items()))
            bad.append(f"{mod} is imported by {len(files)} modules of {pkg}/ ({where}): keep it "
                       f"in one module and record that home in SINGLE_HOMES")
    return bad


def _module_of(rel: str) -> str:
    name = rel[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def check_cycles(root: Path) -> list[str]:
    """No import cycle between the modules of the ACYCLIC packages."""
    rels = {_module_of(rel): rel for rel in python_files(root)
            if rel.split("/")[0] in ACYCLIC}
    graph: dict[str, dict[str, int]] = {mod: {} for mod in rels}  # module -> {dep: line}
    for mod, rel in rels.items():
        for imp in imports_of(root, rel):
            dep = imp.module
            while dep and dep not in rels:
                dep = dep.rpartition(".")[0]
            if dep and dep != mod:
                graph[mod].setdefault(dep, imp.line)
    bad: list[str] = []
    done: set[str] = set()

    def visit(mod: str, path: list[str]) -> None:
        for dep in sorted(graph[mod]):
            if dep in path:
                ring = [*path[path.index(dep):], dep]
                steps = [f"{rels[a]}:{graph[a][b]} imports {b}" for a, b in zip(ring, ring[1:], strict=False)]
                bad.append("import cycle: " + " -> ".join(steps) + "; depend on a Protocol or "
                           "move the shared piece down")
            elif dep not in done:
                visit(dep, [*path, dep])
        done.add(mod)

    for mod in sorted(graph):
        if mod not in done:
            visit(mod, [mod])
    return sorted(set(bad))


def check_private(root: Path) -> list[str]:
    """A module named _x.py is private to its package: nothing outside it imports it."""
    bad = []
    for rel in python_files(root):
        for imp in imports_of(root, rel):
            parts = imp.module.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if _package_of(rel) != owner:
                        bad.append(f"{imp.where()} imports {imp.module}: {part} is private to "
                                   f"{owner}; use that package's public modules")
                    break
    return sorted(set(bad))


RULES = {"protocol": check_protocol, "central": check_central, "policy": check_policy,
         "single_homes": check_single_homes, "cycles": check_cycles, "private": check_private}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_import_rule_holds_in_the_tree(rule: str) -> None:
    bad = RULES[rule](ROOT)
    assert not bad, f"import rule '{rule}' broken:\n  " + "\n  ".join(bad)


def test_every_package_file_parses() -> None:
    files = list(python_files(ROOT))
    assert any(f.startswith("protocol/") for f in files)
    for rel in files:
        imports_of(ROOT, rel)  # a SyntaxError here names the file


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    _write(tmp_path, {
        "protocol/ok.py": "import json\nfrom pydantic import BaseModel\nfrom . import ok\n",
        "protocol/bad.py": "import paho.mqtt.client\nfrom agent.config import AgentConfig\n",
        "central/bad.py": "def f():\n    from agent import netlink\n",
        "agent/policy/bad.py": "from .. import sysexec\nimport os.path\n"
                               "def g():\n    return open('/etc/x')\n",
        "agent/policy/ok.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    import socket\nimport dataclasses\n",
        "agent/sysexec.py": "import subprocess\n",
        "agent/probes/ping.py": "import importlib\nsp = importlib.import_module('subprocess')\n",
        "agent/lights.py": "import gpiozero\n",
        "provisioning/x.py": "import pyroute2\n",
        "provisioning/y.py": "from pyroute2 import IPRoute\n",
        "agent/ring_a.py": "def f():\n    from agent import ring_b\n",
        "agent/ring_b.py": "from agent.ring_a import f\n",
        "agent/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                          "    from agent import ring_c\n",
        "agent/ring_c.py": "from agent import typed\n",
        "agent/pkg/_inner.py": "X = 1\n",
        "agent/pkg/user.py": "from agent.pkg._inner import X\n",
        "agent/outside.py": "from agent.pkg import _inner\n",
    })
    text = "\n".join(sum((check(tmp_path) for check in RULES.values()), []))
    for expected in ["protocol/bad.py:1 imports paho.mqtt.client",
                     "protocol/bad.py:2 imports agent.config",
                     "central/bad.py:2 imports agent.netlink",
                     "agent/policy/bad.py:1 imports agent.sysexec",
                     "agent/policy/bad.py:2 imports os.path",
                     "agent/policy/bad.py:4 calls open()",
                     "agent/probes/ping.py:2 imports subprocess: in agent/ only agent/sysexec.py",
                     "agent/lights.py:1 imports gpiozero: in agent/ only agent/actuators/gpio.py",
                     "pyroute2 is imported by 2 modules of provisioning/",
                     "import cycle: agent/ring_a.py:2 imports agent.ring_b -> "
                     "agent/ring_b.py:1 imports agent.ring_a",
                     "agent/outside.py:1 imports agent.pkg._inner: _inner is private to "
                     "agent.pkg"]:
        assert expected in text, expected
    assert "protocol/ok.py" not in text and "agent/policy/ok.py" not in text
    assert "agent/typed.py" not in text and "agent/pkg/user.py" not in text
    assert not any(line.startswith("agent/sysexec.py") for line in text.splitlines())
