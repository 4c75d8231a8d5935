"""The package layout stays as docs/ARCHITECTURE.md draws it: no import circles, bench imports only `logllm`.

Read from the source with `ast` (nothing is imported), so the checks are cheap and see lazy imports inside
functions too: a circle closed only by a function-level import is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"logllm": ROOT / "logllm", "logllm.train": ROOT / "train", "logllm.space": ROOT / "space"}
KNOWN_CIRCLES: list[set[str]] = []  # none left


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules that `name` imports anywhere in its file (module level or inside functions)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            found.update(c for c in [base, *(f"{base}.{a.name}" for a in node.names)] if c in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    return found - {name}


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_circles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]  # the finder finds one
    new = [sorted(c) for c in _circles(graph) if c not in KNOWN_CIRCLES]
    assert not new, f"import circles: {new}"


def test_hub_copied_modeling_files_import_only_each_other():
    shipped = {"configuration_logllm", "modeling_logllm", "processing_logllm", "masking_logllm", "detection_logllm",
               "templates_logllm"}
    for name in shipped:
        tree = ast.parse((ROOT / "logllm" / "modeling" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and node.module in shipped, f"{name}.py imports .{node.module}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                assert not any(n.split(".")[0] == "logllm" for n in names), f"{name}.py imports {names}"


def test_bench_scripts_import_only_logllm_and_never_patch_sys_path():
    local = {p.stem for p in (ROOT / "bench").glob("*.py")} | {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    for path in sorted((ROOT / "bench").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text, f"{path.name} edits sys.path"
        for node in ast.walk(ast.parse(text)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for top in (n.split(".")[0] for n in names):
                assert top not in local, f"{path.name} imports {top!r} (bench scripts import only logllm)"
