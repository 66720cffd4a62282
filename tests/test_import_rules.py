"""DESIGN.md section 2 import rules, checked on the AST of every module of the four packages.

Besides the package rules: no import cycle between modules (imports inside functions count;
only ``if TYPE_CHECKING:`` imports are exempt, they never run), and a module whose file name
starts with ``_`` is private to its package: nothing outside that package's folder imports it.

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
#: typing_extensions: pydantic's own dependency, for the TypedDict pydantic needs on Python < 3.12.
PROTOCOL_THIRD_PARTY = {"pydantic", "pydantic_core", "typing_extensions"}
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
SINGLE_HOMES: dict[str, dict[str, str | tuple[str, ...]]] = {
    "subprocess": {"agent": "agent/sysexec.py", "provisioning": "provisioning/localbroker.py"},
    "pyroute2": {"agent": "agent/netlink.py"},
    "netifaces": {"agent": "agent/netlink.py"},
    "psutil": {"agent": "agent/hostinfo.py"},
    "gpiozero": {"agent": "agent/actuators/gpio.py"},
    # command signatures: the agent verifies in one pure module, central signs in one
    "cryptography": {"agent": "agent/policy/signature.py",
                     "central": "central/commands/signer.py",
                     "provisioning": ("provisioning/pki.py", "provisioning/tokens.py")},
}
# Developer tooling that never runs on a node: the simulator's local stack starts mosquitto,
# central and simulated fleets as processes for `make demo`, tests and benches.
TOOLING: tuple[str, ...] = ("agent/sim/",)
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
            homes = (home,) if isinstance(home, str) else home
            bad += [f"{rel}:{line} imports {mod}: in {pkg}/ only {' or '.join(homes)} may "
                    f"import {mod}; call it through that (or change SINGLE_HOMES in "
                    f"tests/test_import_rules.py)"
                    for rel, line in sorted(files.items()) if rel not in homes]
        elif len(files) > 1:
            where = ", ".join(f"{r}:{n}" for r, n in sorted(files.items()))
            bad.append(f"{mod} is imported by {len(files)} modules of {pkg}/ ({where}): keep it "
                       f"in one module and record that home in SINGLE_HOMES")
    return bad


def _module_of(rel: str) -> str:
    """Dotted module name of a repo-relative file (a package's __init__ is the package)."""
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges_of(root: Path, rel: str, ours: set[str]) -> Iterator[tuple[str, int]]:
    """(module of ours, line) for each import that runs: ``from a import b`` is a.b when b is
    a module of ours, else a; ``if TYPE_CHECKING:`` imports are left out."""
    tree = ast.parse((root / rel).read_text(encoding="utf-8"), filename=rel)
    skip = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = _package_of(rel).split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, mod] if mod else base)
            names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in ours else mod for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module")):
            names = [node.args[0].value]
        for name in names:
            while name and name not in ours:
                name = name.rpartition(".")[0]
            if name:
                yield name, node.lineno


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: first line} over the four packages."""
    files = list(python_files(root))
    ours = {_module_of(rel) for rel in files}
    graph: dict[str, dict[str, int]] = {}
    for rel in files:
        me = _module_of(rel)
        edges = graph.setdefault(me, {})
        for target, line in _edges_of(root, rel, ours):
            if target != me:
                edges.setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, {})))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def check_cycles(root: Path) -> list[str]:
    """No two modules import each other, directly or through others (function imports count)."""
    graph = import_graph(root)
    bad = []
    for comp in _cycles(graph):
        members = set(comp)
        links = [f"{a} -> {b} (line {graph[a][b]})" for a in comp for b in sorted(graph[a])
                 if b in members]
        bad.append(f"import cycle between {', '.join(comp)}: " + "; ".join(links)
                   + ": move the shared piece into a module both can import, or pass it in")
    return bad


def check_private(root: Path) -> list[str]:
    """A module named _x.py is imported only from inside its own package folder."""
    bad = []
    for rel in python_files(root):
        for imp in imports_of(root, rel):
            parts = imp.module.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__") and imp.root in PACKAGES:
                    owner = "/".join(parts[:i]) + "/"
                    if not rel.startswith(owner):
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
        "central/__init__.py": "",
        "central/a.py": "from central import b\n",
        "central/b.py": "def f():\n    import central.a\n",
        "central/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from central import d\n",
        "central/d.py": "from central import c\n",
        "central/feat/__init__.py": "",
        "central/feat/_sql.py": "X = 1\n",
        "central/feat/store.py": "from central.feat._sql import X\n",
        "central/other.py": "from central.feat import _sql\n",
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
                     "import cycle between central.a, central.b: central.a -> central.b "
                     "(line 1); central.b -> central.a (line 2)",
                     "central/other.py:1 imports central.feat._sql: _sql is private to "
                     "central/feat/"]:
        assert expected in text, expected
    assert "protocol/ok.py" not in text and "agent/policy/ok.py" not in text
    assert not any(line.startswith("agent/sysexec.py") for line in text.splitlines())
    assert "central.c" not in text  # a TYPE_CHECKING import never runs: no cycle
    assert "central/feat/store.py" not in text  # the package itself may use its private module
