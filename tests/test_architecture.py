"""The layout ARCHITECTURE.md describes, checked: imports run only from a later stage to an
earlier one, the library never reaches into the pipeline or the dashboard, run paths are built
only by the store's layout, no module imports itself back, file names are ASCII, and the benchmarks do not
borrow from the tests."""
import ast
import re
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
# the library's stages, in order: a package may import only itself and those before it
STAGES = ("errors", "methods", "config", "data", "models", "vectors", "metrics", "store", "steering", "publishing")


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def _imports(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """Absolute module names imported by ``path`` (relative imports resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(root).with_suffix("").parts).rsplit(".", 1)[0]  # (…/__init__ too)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.append((name, node.lineno))
            # ``from . import layout`` names a module, not a package attribute
            out += [(f"{name}.{a.name}", node.lineno) for a in node.names]
    return out


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "taskfair" or len(parts) < 2 or parts[1] not in STAGES:
        return None
    return STAGES.index(parts[1])


def _violations(root: Path) -> list[str]:
    bad = []
    for path in sorted((root / "taskfair").rglob("*.py")):
        own = _stage(".".join(path.relative_to(root).with_suffix("").parts))
        for name, line in _imports(path, root):
            if name.split(".")[0] in ("precompute", "ui", "pages", "streamlit", "tests", "bench"):
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
            target = _stage(name)
            if own is not None and target is not None and target > own:
                bad.append(f"{path.relative_to(root)}:{line} ({STAGES[own]}) imports the later stage {name}")
    return bad


def test_library_imports_run_downward_only():
    bad = _violations(ROOT)
    assert not bad, "\n".join(bad)


def test_the_import_check_catches_an_upward_import(tmp_path):
    (tmp_path / "taskfair" / "data").mkdir(parents=True)
    (tmp_path / "taskfair" / "data" / "bad.py").write_text(
        "from ..steering import exact\nfrom taskfair.config import load_config\nimport streamlit\n")
    bad = _violations(tmp_path)
    assert any(":1 (data) imports the later stage taskfair.steering" in b for b in bad)
    assert any(":3 imports streamlit" in b for b in bad)
    assert not any(":2 " in b for b in bad)   # config is an earlier stage: allowed


def _module_graph(root: Path) -> dict[str, set[str]]:
    """taskfair's modules and what each imports of them, imports inside functions included (they
    hide an arrow, they do not remove it). ``from . import x`` is an arrow to module ``x``; a name
    that is not a module is an arrow to the package (``__init__``) that hands it on."""
    modules = {}
    for path in sorted((root / "taskfair").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        out = set()
        for target, _ in _imports(path, root):
            if target in modules:
                out.add(target)
        # ``from pkg import x`` lists both pkg and pkg.x: keep pkg only if some name is not a module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                pkg = _imports_from(node, path, root)
                if (pkg in out and all(f"{pkg}.{a.name}" in modules for a in node.names)
                        and not _imports_package_elsewhere(tree, node, pkg, path, root)):
                    out.discard(pkg)
        out.discard(name)
        graph[name] = out
    return graph


def _imports_from(node: ast.ImportFrom, path: Path, root: Path) -> str:
    package = ".".join(path.relative_to(root).with_suffix("").parts).rsplit(".", 1)[0]  # (…/__init__ too)
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports_package_elsewhere(tree, this, pkg: str, path: Path, root: Path) -> bool:
    """Whether another import in the file takes a non-module name from ``pkg`` (or imports it)."""
    for node in ast.walk(tree):
        if node is this:
            continue
        if isinstance(node, ast.Import) and any(a.name == pkg for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and _imports_from(node, path, root) == pkg:
            return True
    return False


def _loops(root: Path) -> list[list[str]]:
    """Every loop of imports among taskfair's modules (each once, as a list of module names)."""
    graph = _module_graph(root)
    index, low, stack, on, loops = {}, {}, [], set(), []

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                loops.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return loops


def test_no_module_imports_itself_back_through_others():
    loops = _loops(ROOT)
    assert not loops, "import loops (move what ties them above both): " + "; ".join(" <-> ".join(l) for l in loops)


def test_the_loop_check_catches_a_loop_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "taskfair" / "steering"
    pkg.mkdir(parents=True)
    (tmp_path / "taskfair" / "__init__.py").write_text("from .version import v\n")
    (tmp_path / "taskfair" / "version.py").write_text("v = 1\n")
    (pkg / "__init__.py").write_text("from .a import f\nfrom .b import g\n")
    (pkg / "a.py").write_text("from .b import g\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from .a import f\n    return f\n")
    (pkg / "c.py").write_text("from . import a\nfrom .. import version\n")   # names modules: no loop
    assert _loops(tmp_path) == [["taskfair.steering.a", "taskfair.steering.b"]]
    (pkg / "e.py").write_text("from .. import v\n")    # the package's face, which imports everything
    (tmp_path / "taskfair" / "__init__.py").write_text("from .version import v\nfrom .steering import e\n")
    assert ["taskfair", "taskfair.steering.e"] in _loops(tmp_path)


def test_pipeline_uses_only_the_public_library():
    public = set(__import__("taskfair").__all__)
    bad = []
    for path in _python_files("precompute"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "taskfair":
                bad += [f"{path.name}: {a.name}" for a in node.names if a.name not in public]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("taskfair."):
                # subpackages' own public names (taskfair.store.layout) are fine; private modules not
                mod = __import__(node.module, fromlist=["__all__"])
                names = set(getattr(mod, "__all__", ()))
                bad += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                        if a.name not in names and not a.name.startswith("layout")]
    assert not bad, bad


def test_run_paths_are_built_only_by_the_store_layout():
    pattern = re.compile(r"seed\{|/tv/|/preds/|splits\.json|base\.json|dataset\.parquet|metrics\.parquet|"
                         r"summary\.json|headline\.parquet")
    hits = []
    for path in _python_files("taskfair", "precompute", "ui", "pages") + [ROOT / "app.py"]:
        if path == ROOT / "taskfair" / "store" / "layout.py":
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not code.lstrip().startswith(('"""', "'''")):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_file_names_are_ascii():
    tracked = [p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts
               and "artifacts" not in p.parts and "__pycache__" not in p.parts]
    assert all(p.name.isascii() for p in tracked), [p.name for p in tracked if not p.name.isascii()]


def test_benchmarks_import_nothing_from_the_tests():
    bad = [f"{p.name}:{line} {name}" for p in _python_files("bench") for name, line in _imports(p)
           if name.split(".")[0] in ("tests", "conftest") or name.split(".")[0].startswith("test_")]
    bad += [p.name for p in _python_files("bench")
            if re.search(r"sys\.path\.\w+\(.*tests", p.read_text(encoding="utf-8"))]
    assert not bad, bad


def test_every_subpackage_lists_its_public_names():
    import importlib
    for stage in STAGES[1:]:
        mod = importlib.import_module(f"taskfair.{stage}")
        names = getattr(mod, "__all__", None)
        assert names, f"taskfair.{stage} has no __all__"
        missing = [n for n in names if not hasattr(mod, n)]
        assert not missing, f"taskfair.{stage}.__all__ names what it does not define: {missing}"
