"""Executed notebooks as readers get them: no machine's folders, saved as JupyterLab saves them, photo-like figures
as JPEG."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from sednn.core.io import atomic_write


def write_for_readers(executed: Path, rendered: Path) -> None:
    """The executed notebook as readers get it: paths under the repository it ran in made repo-relative, and paths
    beside it (the shared data) relative to it, so no machine's folders show; then in the form JupyterLab saves
    (``as_jupyterlab_saves``), so that opening it leaves it unchanged, with photo-like figures as JPEG
    (``compact_images``). That repository is the one papermill read the
    notebook from; a notebook already written for readers is left as it is."""
    import nbformat

    text = executed.read_text()
    root = Path(json.loads(text)["metadata"]["papermill"]["input_path"]).parent.parent
    nb = nbformat.reads(as_readers_see(text, root), as_version=nbformat.NO_CONVERT)
    nb = compact_images(as_jupyterlab_saves(nb))
    atomic_write(rendered, lambda p: nbformat.write(nb, str(p)))


def as_readers_see(text: str, root: Path) -> str:
    """``text`` with paths under the repository ``root`` made repo-relative and paths beside it (the shared data)
    relative to it: what a committed result shows instead of the folders of the machine it ran on."""
    if root.is_absolute():
        text = text.replace(f"{root}/", "")
        if root.parent != root.parent.parent:  # not directly under the filesystem root
            text = text.replace(f"{root.parent}/", "../")
    return text


def parameters_for_readers(params: dict, root: Path) -> dict:
    """The notebooks' parameters as ``RUN.json`` in results/ keeps them (``as_readers_see``)."""
    return {k: as_readers_see(v, root) if isinstance(v, str) else v for k, v in params.items()}


JPEG_QUALITY = 85


def compact_images(nb, quality: int = JPEG_QUALITY):
    """Inline PNG figures that JPEG stores in less than half the bytes (grids of photos, Grad-CAM overlays) as JPEG:
    the rendered notebooks stay small enough to commit and open; plots with flat colours, which PNG stores well,
    stay PNG. The full-resolution figures are the PNG files under figures/."""
    from PIL import Image

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            png = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(png))
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
            if 2 * buf.tell() < len(png):
                del data["image/png"]
                data["image/jpeg"] = base64.b64encode(buf.getvalue()).decode("ascii")
                if "image/png" in out.get("metadata", {}):
                    out["metadata"]["image/jpeg"] = out["metadata"].pop("image/png")
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kernel_display_name(name: str = "python3") -> str | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name).display_name
    except NoSuchKernel:
        return None


def as_jupyterlab_saves(nb):
    """What JupyterLab would change when it opens and autosaves a notebook, done here: the installed kernel's display
    name, consecutive stream outputs of one stream merged into one, and no widget views or state (a finished
    run's widgets have no kernel to talk to; interactive widgets are for JupyterLab sessions)."""
    spec = nb.metadata.get("kernelspec")
    if spec and (display := kernel_display_name(spec.get("name", "python3"))):
        spec["display_name"] = display
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            if WIDGET_VIEW in out.get("data", {}):
                continue
            if out.output_type == "stream" and outputs and outputs[-1].output_type == "stream" \
                    and outputs[-1].name == out.name:
                outputs[-1].text += out.text
                continue
            outputs.append(out)
        cell.outputs = outputs
    return nb
