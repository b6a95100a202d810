"""pyproject.toml and environment.yml pin the same packages; notebooks are committed clean."""
import json
import re
import tomllib

from sednn import paths


def _pins(lines):
    return {m.group(1).lower(): m.group(2) for line in lines if (m := re.match(r"\s*-?\s*\"?([A-Za-z0-9_.\-]+)==([^\",\s]+)", line))}


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyproject = _pins(project)
    env_lines = (paths.REPO_ROOT / "environment.yml").read_text().splitlines()
    pip_section = env_lines[[i for i, l in enumerate(env_lines) if l.strip() == "- pip:"][0] + 1:]
    environment = _pins(pip_section)
    assert len(pyproject) == len(project), "every dependency in pyproject.toml is pinned with =="
    assert pyproject == environment


def test_makefile_pins_the_same_torch():
    make = (paths.REPO_ROOT / "Makefile").read_text()
    pins = _pins(tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    for pkg in ("torch", "torchvision"):
        assert f"{pkg}=={pins[pkg]}" in make


def test_notebooks_are_clean_and_start_with_parameters():
    notebooks = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
    assert len(notebooks) >= 5
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        assert "parameters" in nb["cells"][0]["metadata"].get("tags", []), nb_path.name
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, f"{nb_path.name} has outputs"


def test_python_versions_gpu_machines_run_are_admitted_and_the_conda_one_among_them():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert all(v in spec for v in ("3.11", "3.12", "3.13")) and "3.10" not in spec
    conda = re.search(r"-\s*python=(\S+)", (paths.REPO_ROOT / "environment.yml").read_text()).group(1)
    assert conda in spec


def test_committed_rendered_notebooks_show_no_machine_paths():
    """Readers see repo-relative paths (sednn.runner.write_for_readers), not the folders of the machine that ran."""
    machine_path = re.compile(r"(^|[^A-Za-z0-9_.])/(work|tmp|home|root|Users|mnt|opt|usr|var)/")
    rendered = sorted(paths.RESULTS_DIR.glob("**/notebooks/*.ipynb"))
    assert len(rendered) >= 6
    for nb in rendered:
        hit = machine_path.search(nb.read_text())
        assert hit is None, f"{nb.relative_to(paths.REPO_ROOT)}: {hit.group(0)!r}"


def test_notebooks_are_stored_as_jupyterlab_saves_them():
    """Opening a notebook in JupyterLab leaves git clean: the installed kernel's display name, nbformat's own JSON
    layout, and (rendered runs) merged streams and no widget state (sednn.runner.as_jupyterlab_saves)."""
    import copy

    import nbformat

    from sednn.runner import as_jupyterlab_saves, kernel_display_name

    files = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")) + sorted(paths.RESULTS_DIR.glob("**/notebooks/*.ipynb"))
    for f in files:
        text = f.read_text()
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        assert nb.metadata.kernelspec.display_name == kernel_display_name(), f.name
        assert nbformat.writes(as_jupyterlab_saves(copy.deepcopy(nb))) + "\n" == text, f"{f} is not as JupyterLab saves it"
