"""The package's layout, read from its source (nothing is imported): which code may import which.

- No import cycle among the package's modules, counting imports inside functions (an import
  moved into a function to dodge a cycle is still one).
- What runs in the kernel's own process before or around it (the sandbox launcher, Landlock,
  seccomp, the fork server) imports only the standard library and each other at module level.
- No module is longer than 400 lines.
"""
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "autograde"
IN_THE_KERNELS_PROCESS = ("sandbox", "landlock", "seccomp", "forkserver")


def modules():
    """{dotted name: path} of every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name, path, top_level_only=False):
    """The absolute names a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def graph():
    known = modules()
    return {name: {other for other in imports(name, path) if other in known and other != name}
            for name, path in known.items()}


def find_cycle(edges):
    """One cycle of the graph as a list of names, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                cycle = visit(other)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_even_through_imports_inside_functions():
    edges = graph()
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    edges = {name: {other for other in targets if not other.startswith(name + ".")} for name, targets in edges.items()}
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_what_runs_in_the_kernels_process_imports_only_the_standard_library_at_module_level():
    known = modules()
    allowed = set(sys.stdlib_module_names) | {"autograde", "autograde.grading", "autograde.grading.kernels"}
    for leaf in IN_THE_KERNELS_PROCESS:
        name = f"autograde.grading.kernels.{leaf}"
        for other in imports(name, known[name], top_level_only=True):
            top = other.split(".")[0]
            assert top in allowed or other in {f"autograde.grading.kernels.{m}" for m in IN_THE_KERNELS_PROCESS}, \
                f"{name} imports {other} at module level"


def test_no_module_is_longer_than_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long
