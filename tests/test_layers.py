"""The package's layers (docs/architecture.md): what may import what, no import circles,
``import jaxrxn`` without ASE or jax-md, and a command line that answers ``--help`` at once."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
import time

import pytest

import jaxrxn
from jaxrxn.cli import COMMANDS

ROOT = pathlib.Path(jaxrxn.__file__).parent

#: Layers from the bottom up, by module-name prefix: a module imports only modules of its own
#: layer or of the ones below. Modules not listed here are not checked.
LAYERS = (
    (
        "jaxrxn._lazy", "jaxrxn._jit", "jaxrxn._linalg", "jaxrxn.units", "jaxrxn._results", "jaxrxn.geometry", "jaxrxn.validation",
        "jaxrxn.io", "jaxrxn.system", "jaxrxn.neighbors", "jaxrxn.checkpoint", "jaxrxn.parallel",
    ),
    ("jaxrxn.potentials",),
    ("jaxrxn._iterate", "jaxrxn.optimize", "jaxrxn.path", "jaxrxn.saddle", "jaxrxn.irc", "jaxrxn.vibrations", "jaxrxn.tune"),
    (
        "jaxrxn.batch", "jaxrxn.rates", "jaxrxn.dynamics", "jaxrxn.explore", "jaxrxn.kmc", "jaxrxn.generative", "jaxrxn.nnp", "jaxrxn.reaction",
        "jaxrxn.systems", "jaxrxn.plot", "jaxrxn.ase_calculator",
    ),
    ("jaxrxn", "jaxrxn.calculators", "jaxrxn.datasets", "jaxrxn.cli", "jaxrxn.commands"),
)  # fmt: skip


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("jaxrxn", *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(tree: ast.AST) -> list[str]:
    """Absolute names of every ``import``, at module level or in a function, except those
    under ``if TYPE_CHECKING:`` (they never run)."""
    names = []

    def visit(node):
        if _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, "jaxrxn uses absolute imports"
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _edges(module: str) -> set[str]:
    """Modules of jaxrxn that importing `module` runs: every imported module and the packages
    above it, except `module`'s own parent packages (already being imported)."""
    own = {module.rsplit(".", k)[0] for k in range(module.count(".") + 1)}
    out = set()
    for name in _imported(ast.parse(MODULES[module].read_text())):
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            target = ".".join(parts[:k])
            if target in MODULES and target not in own:
                out.add(target)
    return out


GRAPH = {m: _edges(m) for m in MODULES}


def _layer(module: str) -> int | None:
    best = None
    for level, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (level, p)
    return None if best is None else best[0]


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_circle_finder():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [{"a", "b", "c"}]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    circles = _circles(GRAPH)
    assert circles == [], f"import circles: {circles}"


def test_layers():
    upward = [
        (m, t)
        for m, targets in GRAPH.items()
        for t in targets
        if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)
    ]
    assert upward == [], f"imports from a lower layer into a higher one: {upward}"


def test_potentials_do_not_import_the_registry():
    assert _layer("jaxrxn.calculators") > _layer("jaxrxn.potentials.emt")
    for m in MODULES:
        if m.startswith("jaxrxn.potentials"):
            assert not {t for t in GRAPH[m] if t.startswith(("jaxrxn.calculators", "jaxrxn.cli", "jaxrxn.commands"))}


def test_no_function_hides_its_module():
    import importlib

    for m in MODULES:
        importlib.import_module(m)
    hidden = []
    for m in MODULES:
        parent, _, name = m.rpartition(".")
        if parent and getattr(sys.modules[parent], name) is not sys.modules[m]:
            hidden.append(m)
    assert hidden == [], f"names that hide the module of the same name: {hidden}"


def _python(code_or_args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *code_or_args], env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def test_import_loads_neither_ase_nor_jax_md():
    code = (
        "import sys, jaxrxn; loaded = lambda: sorted({'ase', 'jax_md', 'flax'} & set(sys.modules)); "
        "print(loaded()); jaxrxn.minimize, jaxrxn.neb, jaxrxn.saddle_search, jaxrxn.irc.irc, "
        "jaxrxn.potentials.Potential; print(loaded())"
    )
    _, proc = _python(["-c", code])
    assert proc.returncode == 0, proc.stderr
    # the solvers need neither ASE nor jax-md either
    assert proc.stdout.split("\n")[:2] == ["[]", "[]"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_is_fast(command):
    """``jaxrxn --help`` and ``jaxrxn COMMAND --help`` in under 2 s of wall time (best of two
    runs, for a loaded machine): they import neither JAX nor the library."""
    argv = ["-m", "jaxrxn.cli", *([command] if command else []), "--help"]
    runs = [_python(argv) for _ in range(2)]
    for _, proc in runs:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: jaxrxn")
    assert min(t for t, _ in runs) < 2.0


def test_one_set_of_physical_constants():
    """Constants live in jaxrxn/units.py: no other module writes kB, h, the fs time unit or
    kJ/mol per eV as a number, or takes them from ``ase.units``. The potentials that mirror
    an ASE calculator keep ASE's units on purpose: emt.py (``ase.calculators.emt.EMT`` to
    1e-10) and qm.py (tblite's ASE calculator to 1e-8 eV)."""
    from jaxrxn import units

    constants = (units.KB, units.H, units.FS, units.TIME_UNIT_S, units.KJMOL_PER_EV, units.KCAL_PER_MOL)
    found = []
    for m, path in MODULES.items():
        if m == "jaxrxn.units":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value != 0:
                if any(abs(node.value / c - 1) < 1e-3 for c in constants):
                    found.append((m, node.lineno, node.value))
        if m not in ("jaxrxn.potentials.emt", "jaxrxn.potentials.qm") and any(n.startswith("ase.units") for n in _imported(tree)):
            found.append((m, "ase.units"))
    assert found == []


def test_lazy_names_resolve():
    import jaxrxn.potentials

    for package in (jaxrxn, jaxrxn.potentials):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
    assert jaxrxn.units.KB == pytest.approx(8.617333262e-5) and jaxrxn.irc.IRCBranch is not None
    with pytest.raises(AttributeError):
        jaxrxn.no_such_name
