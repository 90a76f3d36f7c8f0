"""Read a student's code without running it: does it call autograd, patch the checks, or go
after the grading files?

Running code cannot be trusted to report on itself (it can patch whatever would report), so
this reads the cell's syntax tree outside the kernel. Findings are flags for the instructor
and the student, not deductions: the tests decide the score.
"""
import ast

MODULE_ROOTS = {"numpy", "torch", "autograde", "scipy", "builtins", "sys"}  # modules a submission must not patch
AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "functorch", "autograd", "jax")
GRADING_WORDS = ("gradebook", "submitted/", "autograded/", "/proc/", "nbgrader")
CHECKS_MODULES = ("autograde.chapters", "autograde.reference", "autograde.guard", "autograde.off_limits")
CHECKS_ALIASES = ("grader",)  # the name the setup cell gives the chapter's checks
# IPython's own machinery: a hook there runs around every later cell, the tests' included, and can
# erase a failed test's error or print the hidden tests (an answer has no use for it)
IPYTHON_HOOKS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers", "showtraceback",
                 "_showtraceback", "excepthook", "displayhook", "custom_exceptions")
RUNS_BUILT_CODE = ("exec", "eval", "compile", "__import__", "importlib.import_module")


def scan_source(source, protected_names=(), own_functions=(), solution=False):
    """[(flag code, line, message)] for one cell's code. Unparsable code gives no findings
    (it fails when run, and the tests say so).

    solution: the cell holds an answer, which may not use the checks' own code (flag C); other
    cells may (a "check your work" cell that prints grader.accuracy).

    protected_names: names the locked cells import (rebinding one is a patch).
    own_functions: names the notebook defines; `.backward()` is autograd only if the notebook
        defines no `backward` of its own (a hand-written layer has one).
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return []
    scanner = Scanner(set(protected_names), set(own_functions), solution)
    scanner.visit(tree)
    return scanner.findings


def python_source(source):
    """The cell's code with IPython syntax (%magics, !shell) turned into plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 (IPython can fail on odd input: fall back to the raw text)
        return source


def bound_names(source):
    """Names a (locked) cell imports at top level: the setup's `np`, `torch`, `grader`, ..."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
    return names


def defined_functions(source):
    """Names of the functions and methods a cell defines."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set()
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def dotted(node):
    """'torch.autograd.grad' for an attribute chain, None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class Scanner(ast.NodeVisitor):
    def __init__(self, protected_names, own_functions=frozenset(), solution=False):
        self.protected = protected_names
        self.own = own_functions
        self.solution = solution
        self.checks = set(CHECKS_ALIASES)
        self.modules = {"np": "numpy", "numpy": "numpy", "torch": "torch", "autograde": "autograde",
                        "grader": "autograde", "sys": "sys", "builtins": "builtins"}
        self.findings = []

    def add(self, code, node, message):
        finding = (code, getattr(node, "lineno", 0), message)
        if finding not in self.findings:
            self.findings.append(finding)

    def module_of(self, name):
        """The module a dotted name starts in ('numpy' for 'np.linalg.norm'), if known."""
        if not name:
            return None
        head = name.split(".")[0]
        return self.modules.get(head, head if head in MODULE_ROOTS else None)

    # --- imports: remember aliases, flag autograd modules (importing a module again is harmless) ---

    def visit_Import(self, node):
        for alias in node.names:
            self.check_checks_module(node, alias.name, alias.asname or alias.name.split(".")[0])
            root = alias.name.split(".")[0]
            if root in MODULE_ROOTS:
                self.modules[alias.asname or root] = root
            self.check_autograd_module(node, alias.name)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.check_autograd_module(node, module)
        for alias in node.names:
            self.check_checks_module(node, f"{module}.{alias.name}", alias.asname or alias.name)
            self.check_autograd_module(node, f"{module}.{alias.name}")
            if module.split(".")[0] in MODULE_ROOTS:
                self.modules[alias.asname or alias.name] = module.split(".")[0]

    def check_checks_module(self, node, name, bound):
        if self.solution and name.startswith(CHECKS_MODULES):
            self.checks.add(bound)
            self.add("C", node, f"imports {name}: the checks' own code")

    def check_autograd_module(self, node, name):
        if any(name == m or name.startswith(m + ".") for m in AUTOGRAD_MODULES):
            self.add("A", node, f"imports {name} (autograd)")

    # --- autograd calls ---------------------------------------------------------------------

    def visit_Call(self, node):
        name = dotted(node.func) or ""
        if isinstance(node.func, ast.Attribute) and node.func.attr == "backward" and "backward" not in self.own:
            self.add("A", node, f"calls {name or '...'}.backward() (autograd)"
                     if not name.endswith("backward") else f"calls {name}() (autograd)")
        elif any(part in ("autograd", "func", "functorch") for part in name.split(".")[:-1]) and \
                self.module_of(name) == "torch":
            self.add("A", node, f"calls {name}() (autograd)")
        elif name.endswith("requires_grad_"):
            self.add("A", node, "turns on requires_grad (autograd)")
        if name in ("setattr", "delattr") and node.args:
            target = dotted(node.args[0])
            if self.module_of(target):
                self.add("P", node, f"{name}() on {target}: patches {self.module_of(target)}")
        if name in ("importlib.reload", "reload"):
            self.add("P", node, "reloads a module")
        if isinstance(node.func, ast.Attribute) and (
                node.func.attr == "set_custom_exc" or (node.func.attr == "register" and isinstance(node.func.value, ast.Attribute)
                                                       and node.func.value.attr == "events")):
            self.add("P", node, f"{node.func.attr}(): hooks into IPython, around every later cell, the tests' too")
        if name in RUNS_BUILT_CODE:
            self.add("P", node, f"{name}(): runs code built while the notebook runs, which no reader can check")
        if name == "vars" and node.args and (self.module_of(dotted(node.args[0])) or dotted(node.args[0]) in self.checks):
            self.add("P", node, f"vars({dotted(node.args[0])}): reaches into a module's names")
        if name.startswith(("mock.patch", "unittest.mock", "patch")):
            self.add("P", node, f"{name}(): patches code under test")
        for keyword in node.keywords:
            if keyword.arg == "requires_grad" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                self.add("A", node, "creates a tensor with requires_grad (autograd)")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = dotted(node)
        if node.attr in IPYTHON_HOOKS:
            self.add("P", node, f"uses {node.attr}: hooks into IPython, around every later cell, the tests' too")
        if self.solution and name and name.split(".")[0] in self.checks:
            self.add("C", node, f"uses {name}: the checks' own code")
            return
        if name and self.module_of(name) == "torch" and name.endswith(".autograd.Function"):
            return  # a class with its own backward (chapter 6 plugs the student's into torch): no autograd of theirs
        if name and self.module_of(name) == "torch" and ".autograd." in f".{name}.":
            self.add("A", node, f"uses {name} (autograd)")
        self.generic_visit(node)

    # --- patching: assignments into modules, rebinding the setup's names ------------------------

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node.target)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.check_rebinding(node, node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.check_rebinding(node, node.name)
        self.generic_visit(node)

    def check_target(self, target):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.check_target(element)
            return
        if isinstance(target, ast.Attribute):
            name = dotted(target)
            if name and name.endswith(".requires_grad"):
                self.add("A", target, f"sets {name} (autograd)")
            elif self.module_of(name):
                self.add("P", target, f"assigns {name}: patches {self.module_of(name)}")
        elif isinstance(target, ast.Subscript):
            name = dotted(target.value) or ""
            if name in ("sys.modules", "builtins.__dict__", "__builtins__") or name.endswith(".__dict__"):
                self.add("P", target, f"writes into {name}")
        elif isinstance(target, ast.Name):
            self.check_rebinding(target, target.id)

    def check_rebinding(self, node, name):
        if name in self.protected:
            self.add("P", node, f"rebinds `{name}`, which a locked cell defines")

    # --- grading files -----------------------------------------------------------------------

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for word in GRADING_WORDS:
                if word in node.value:
                    self.add("W", node, f"refers to {word.rstrip('/')!r}: grading files are off limits")
