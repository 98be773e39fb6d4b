"""The layering of the library. The package's folders are its layers: a module imports only from
its own folder and the layers below it (never a higher layer, never a sibling folder of its own
layer), and no imports go round in a circle; every import counts, those inside functions and
``TYPE_CHECKING`` blocks too. Within the bottom layer, the config is a plain value: importing it
loads no dataset, model, evaluation, loss or LTD code, and not torch (the registries check a config
when it is built into a run, :func:`svl_lib.experiments.registries.resolve`); the modules a config
is made of never import the config module at run time (only for type hints). Each of those checks
imports in a fresh interpreter."""
import ast
import subprocess
import sys
from pathlib import Path

import svl_lib

PACKAGE = Path(svl_lib.__file__).parent
# lowest first; "" is the top level, the concepts (config, shortcuts, corpus, losses, LTD, ...)
LAYERS = (("",), ("data", "models"), ("evaluate",), ("train",), ("experiments",), ("course",))
NOT_CODE = {"resources", "__pycache__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if not NOT_CODE & set(p.relative_to(PACKAGE).parts)}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (``from x import y`` counts ``x.y`` where that is
    a module, else ``x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in known and m != name}


def room(name: str) -> str:
    """The folder of a module: its first part below ``svl_lib``, or "" for the top level."""
    parts = name.split(".")[1:]
    return parts[0] if len(parts) > 1 or (parts and (PACKAGE / parts[0]).is_dir()) else ""


def layer(folder: str) -> int:
    return next(i for i, rooms in enumerate(LAYERS) if folder in rooms)


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items() if name != "svl_lib"}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer or of a sibling folder of the same layer."""
    wrong = []
    for name, targets in edges.items():
        for target in targets:
            if room(target) != room(name) and target != "svl_lib" and layer(room(target)) >= layer(room(name)):
                wrong.append(f"{name} -> {target}")
    return sorted(wrong)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (strongly connected components of more than one module, or a module
    importing itself), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_top_level_holds_the_concepts_and_the_layer_folders_only() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir()} - NOT_CODE
    assert folders == {room for rooms in LAYERS for room in rooms if room}


def test_every_module_imports_only_its_own_folder_and_the_layers_below() -> None:
    assert upward(graph()) == []


def test_no_imports_go_round_in_a_circle() -> None:
    assert circles(graph()) == []


def test_the_checks_find_an_upward_import_and_a_circle() -> None:
    edges = {"svl_lib.shortcuts": {"svl_lib.data.corpus"}, "svl_lib.models.base": {"svl_lib.data.loading"},
             "svl_lib.experiments.grids": {"svl_lib.experiments.sweep"},
             "svl_lib.experiments.sweep": {"svl_lib.experiments.grids", "svl_lib.config"}}
    assert upward(edges) == ["svl_lib.models.base -> svl_lib.data.loading", "svl_lib.shortcuts -> svl_lib.data.corpus"]
    assert circles(edges) == [["svl_lib.experiments.grids", "svl_lib.experiments.sweep"]]

BELOW_THE_CONFIG = ("svl_lib.data", "svl_lib.models", "svl_lib.evaluate.conditions", "svl_lib.losses",
                    "svl_lib.outputs", "svl_lib.evaluate.retrieval", "svl_lib.shortcuts")
REGISTRIES = ("svl_lib.data", "svl_lib.models", "svl_lib.evaluate.conditions", "svl_lib.losses",
              "svl_lib.ltd", "svl_lib.train.gradients", "svl_lib.digits", "svl_lib.shortcuts", "torch")


def loaded_after(imports: str) -> set[str]:
    code = f"import sys, {imports}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_registry_modules_do_not_import_the_config() -> None:
    loaded = loaded_after(", ".join(BELOW_THE_CONFIG))
    assert "svl_lib.config" not in loaded, f"one of {BELOW_THE_CONFIG} imports svl_lib.config at run time"


def test_the_config_imports_no_registry() -> None:
    loaded = loaded_after("svl_lib.config")
    assert not loaded & set(REGISTRIES), f"svl_lib.config loads {sorted(loaded & set(REGISTRIES))}"
