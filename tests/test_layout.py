"""The package's folders name roles in an order: a module imports only from its own role or lower
ones, and no chain of imports comes back to where it started (read from the source with ast). The
command line (cli/, beside the package) is the top role: it imports the package, never the other
way. And what the command line and the predict app import when they start is light."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nogancolor"
# lowest first: the three shared basics at the top of the package (colour conversion, configs, files), then
# the folders in the order they may build on each other, then the command line
ROLES = ("", "data", "models", "evaluation", "train", "methods", "study", "apps", "cli")


def module_name(path: Path) -> str:
    if path.parent.name == "cli":
        return f"cli.{path.stem}"
    parts = ("nogancolor", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The nogancolor modules `path` imports, at the top or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.startswith("nogancolor"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names if (PACKAGE.parent / f"{target}.{a.name}".replace(".", "/")).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nogancolor"))
    return found - {name}


def role(module: str) -> int:
    if module.startswith("cli."):
        return ROLES.index("cli")
    parts = module.split(".")
    folder = parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""
    return ROLES.index(folder)


GRAPH = {module_name(p): imports(p) for p in [*PACKAGE.rglob("*.py"), *(ROOT / "cli").glob("*.py")]}


def test_every_module_is_in_a_role_folder_or_one_of_the_three_basics():
    top = sorted(m for m in GRAPH if m.startswith("nogancolor.") and m.count(".") == 1
                 and not (PACKAGE / m.split(".")[1]).is_dir())
    assert top == ["nogancolor.color", "nogancolor.config", "nogancolor.files"]
    assert {role(m) for m in GRAPH} == set(range(len(ROLES)))


def test_no_module_imports_from_a_higher_role():
    upward = [f"{m} ({ROLES[role(m)] or 'top'}) imports {t} ({ROLES[role(t)]})"
              for m, targets in GRAPH.items() for t in targets if role(t) > role(m)]
    assert upward == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A chain of imports that comes back to its start, or None."""
    done, stack = set(), []

    def visit(module):
        if module in stack:
            return stack[stack.index(module):] + [module]
        if module in done:
            return None
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if cycle := visit(target):
                return cycle
        stack.pop()
        done.add(module)
        return None

    return next((cycle for module in sorted(graph) if (cycle := visit(module))), None)


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None


def test_the_checker_finds_cycles_and_resolves_relative_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "nogancolor.models.names" in GRAPH["nogancolor.models.generator"]  # from .names import ...
    assert "nogancolor.files" in GRAPH["nogancolor.models.generator"]  # from ..files import ...
    assert "nogancolor.methods.nogan.config" in GRAPH["nogancolor.methods.nogan.stages"]  # from .config import ...
    assert role("cli.main") > role("nogancolor.apps.predict") > role("nogancolor.train.run") > role("nogancolor.files")
    assert "nogancolor.methods" in GRAPH["cli.main"]


def imported_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after `statement`."""
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.split())


def test_the_command_line_starts_without_torch_or_fastai():
    """So `nogancolor --help` and a mistyped path answer at once (benchmarks/cli_start.py times it)."""
    loaded = imported_by("import cli.main")
    assert "cli.main" in loaded and "nogancolor.methods.nogan" in loaded  # every method is known ...
    assert not {"torch", "fastai", "timm", "numpy"} & loaded  # ... and none of the training stack is loaded


def test_the_predict_app_imports_neither_the_gan_stack_nor_any_method():
    loaded = imported_by("import nogancolor.apps.predict")
    assert "nogancolor.apps.predict" in loaded
    assert not {"fastai.vision.gan", "accelerate", "torch"} & loaded
    assert not [m for m in loaded if m.startswith("nogancolor.methods")]
