"""pyproject.toml and environment.yml pin the same packages; notebooks are committed clean."""
import json
import re
import tomllib

from sednn.core import paths


def _pins(lines):
    pin = re.compile(r"\s*-?\s*\"?([A-Za-z0-9_.\-]+)==([^\",\s]+)")
    return {m.group(1).lower(): m.group(2) for line in lines if (m := pin.match(line))}


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyproject = _pins(project)
    env_lines = (paths.REPO_ROOT / "environment.yml").read_text().splitlines()
    pip_section = env_lines[[i for i, line in enumerate(env_lines) if line.strip() == "- pip:"][0] + 1:]
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


def test_committed_results_show_no_machine_paths():
    """Readers see repo-relative paths (sednn.render.as_readers_see), not the folders of the machine that ran: in the
    rendered notebooks, the runs' RUN.json, the tables and the docs."""
    machine_path = re.compile(r"(^|[^A-Za-z0-9_.])/(work|tmp|home|root|Users|mnt|opt|usr|var)/")
    files = [f for f in sorted(paths.RESULTS_DIR.rglob("*")) if f.suffix in {".ipynb", ".json", ".csv", ".md"}]
    files += [paths.REPO_ROOT / "README.md", *sorted((paths.REPO_ROOT / "docs").glob("*.md"))]
    assert len([f for f in files if f.suffix == ".ipynb"]) >= 6 and len([f for f in files if f.name == "RUN.json"]) >= 4
    for f in files:
        hit = machine_path.search(f.read_text())
        assert hit is None, f"{f.relative_to(paths.REPO_ROOT)}: {hit.group(0)!r}"


def test_run_parameters_are_kept_as_readers_see_them(tmp_path):
    from sednn.pipeline.render import parameters_for_readers

    repo = tmp_path / "clone"
    params = {"PROFILE": "cpu", "SEED": 0, "DATA_DIR": str(tmp_path / "shared" / "data"), "MANIFEST": None,
              "WORK_DIR": str(repo / "runs" / "cpu"), "RESULTS_DIR": str(repo / "results"), "OTHER": "/elsewhere/x"}
    assert parameters_for_readers(params, repo) == {**params, "DATA_DIR": "../shared/data", "WORK_DIR": "runs/cpu",
                                                    "RESULTS_DIR": "results"}


def test_notebooks_are_stored_as_jupyterlab_saves_them():
    """Opening a notebook in JupyterLab leaves git clean: the installed kernel's display name, nbformat's own JSON
    layout, and (rendered runs) merged streams and no widget state (sednn.render.as_jupyterlab_saves)."""
    import copy

    import nbformat

    from sednn.pipeline.render import as_jupyterlab_saves, kernel_display_name

    files = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")) + sorted(paths.RESULTS_DIR.glob("**/notebooks/*.ipynb"))
    for f in files:
        text = f.read_text()
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        assert nb.metadata.kernelspec.display_name == kernel_display_name(), f.name
        saved = nbformat.writes(as_jupyterlab_saves(copy.deepcopy(nb))) + "\n"
        assert saved == text, f"{f} is not as JupyterLab saves it"


RENDERED_BUDGET_MB = 15


def test_committed_rendered_notebooks_are_compact():
    """Every committed rendered notebook stores photo-like figures as JPEG (sednn.render.compact_images leaves it
    unchanged), and all of them together stay under 15 MB."""
    import copy

    import nbformat

    from sednn.pipeline.render import compact_images

    files = sorted(paths.RESULTS_DIR.glob("**/notebooks/*.ipynb"))
    assert files
    for f in files:
        nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
        assert compact_images(copy.deepcopy(nb)) == nb, f"{f}: figures that JPEG would halve"
    assert sum(f.stat().st_size for f in files) < RENDERED_BUDGET_MB * 2**20


def test_photo_figures_become_jpeg_and_plots_stay_png(ccp_root):
    import base64
    import io

    import matplotlib
    import nbformat
    from matplotlib import pyplot as plt
    from PIL import Image

    from sednn.pipeline.render import compact_images

    matplotlib.use("Agg")

    def png_of(draw):
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    photo = png_of(lambda ax: ax.imshow(Image.open(ccp_root / "photos" / "0001.jpg")))
    plot = png_of(lambda ax: ax.plot([0, 1, 2], [0.6, 0.7, 0.65]))
    outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"},
                                      metadata={"image/png": {"width": 600}}) for png in (photo, plot)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    photo_out, plot_out = compact_images(nb).cells[0].outputs
    assert set(photo_out.data) == {"image/jpeg", "text/plain"} and photo_out.metadata == {"image/jpeg": {"width": 600}}
    assert 2 * len(photo_out.data["image/jpeg"]) < len(photo)
    assert Image.open(io.BytesIO(base64.b64decode(photo_out.data["image/jpeg"]))).size == \
        Image.open(io.BytesIO(base64.b64decode(photo))).size
    assert plot_out.data["image/png"] == plot  # flat colours: PNG is the smaller
