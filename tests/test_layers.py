"""The library's folders are its layers: every import points down, and nothing below the models imports torch."""
import ast
from pathlib import Path

import sednn

PACKAGE = Path(sednn.__file__).parent
# lowest first; a module imports from its own layer and the layers before it only
LAYERS = ["core", "data", "reporting", "models", "training", "study", "pipeline"]
WITHOUT_TORCH = {"core", "data", "reporting"}


def imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, at the top or inside a function; relative ones made absolute."""
    here = ["sednn", *path.relative_to(package).with_suffix("").parts]
    if here[-1] == "__init__":
        here = here[:-1] + ["__init__"]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:-node.level] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out += [(node.lineno, module)] + [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return out


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "sednn" and len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the layers' folders: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(LAYERS)


def upward_imports(package: Path) -> list[str]:
    out = []
    for path in package.rglob("*.py"):
        mine = layer_of("sednn." + ".".join(path.relative_to(package).parts))
        for line, module in imports(path, package) if mine else []:
            theirs = layer_of(module)
            if theirs and LAYERS.index(theirs) > LAYERS.index(mine):
                out.append(f"{path.relative_to(package)}:{line} imports {module} ({mine} -> {theirs})")
    return out


def torch_imports(package: Path) -> list[str]:
    return [f"{path.relative_to(package)}:{line} imports {module}"
            for layer in sorted(WITHOUT_TORCH) for path in (package / layer).rglob("*.py")
            for line, module in imports(path, package) if module.split(".")[0] in ("torch", "torchvision", "timm")]


def test_every_import_points_down():
    assert upward_imports(PACKAGE) == []


def test_nothing_below_the_models_imports_torch():
    assert torch_imports(PACKAGE) == []


def test_the_checks_find_an_upward_import_and_torch(tmp_path):
    """The checks above can fail: a core module that imports the study and torch, inside a function, is named."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("def f():\n    from sednn.study.run import Run\n    import torch\n")
    assert upward_imports(tmp_path) == ["core/bad.py:2 imports sednn.study.run (core -> study)",
                                        "core/bad.py:2 imports sednn.study.run.Run (core -> study)"]
    assert torch_imports(tmp_path) == ["core/bad.py:3 imports torch"]
