"""The fingerprint of the code that shapes a trained model: a checkpoint trained by other code is never reused."""
from __future__ import annotations

import ast
from pathlib import Path

from sednn.core.io import sha256_file, sha256_json

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The modules whose code a training runs: what these import within the package, followed to the end.
TRAINING_ENTRY_POINTS = ("study.classifiers", "study.parsing")


def imported_modules(module: str, package_dir: Path) -> set[str]:
    """``module`` (dotted, relative to the package) and every package module it imports, at the top or inside a
    function, followed transitively; read from the source, nothing is imported."""
    def source(name):
        path = package_dir.joinpath(*name.split("."))
        return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or not source(name).exists():
            continue
        seen.add(name)
        here = source(name)
        parent = name.split(".")[:-1] if here.name != "__init__.py" else name.split(".")
        for node in ast.walk(ast.parse(here.read_text())):
            if isinstance(node, ast.Import):  # `import sednn.models as models`
                todo.extend(".".join(a.name.split(".")[1:]) for a in node.names if a.name.startswith("sednn."))
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0:  # `from sednn.data.manifest import X`: absolute, within the package or not at all
                if node.module != "sednn" and not (node.module or "").startswith("sednn."):
                    continue
                target = node.module.split(".")[1:]
            else:  # `from .base import X` (within a folder)
                base = parent[:len(parent) - (node.level - 1)]
                target = [*base, *node.module.split(".")] if node.module else base
            # the module and every package above it (their __init__ runs on import)
            todo.extend(".".join(target[:i]) for i in range(1, len(target) + 1))
            todo.extend(".".join([*target, alias.name]) for alias in node.names)  # `from sednn.study import parsing`
    return seen


def training_files() -> list[Path]:
    """The source files that shape a trained model (``TRAINING_ENTRY_POINTS`` and all they import)."""
    here = PACKAGE_DIR
    names = set().union(*(imported_modules(m, here) for m in TRAINING_ENTRY_POINTS))
    files = {here.joinpath(*n.split(".")) for n in names}
    return sorted(f / "__init__.py" if f.is_dir() else f.with_suffix(".py") for f in files)


def code_fingerprint() -> str:
    """Hash of the source that shapes a trained model: a checkpoint trained by other code is not reused.
    (Reporting and plotting code is not imported by training, so changing a figure does not retrain anything.)"""
    here = PACKAGE_DIR
    return sha256_json([(f.relative_to(here).as_posix(), sha256_file(f)) for f in training_files()])
