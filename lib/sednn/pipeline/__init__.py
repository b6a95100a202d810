"""The top: the headless runner (papermill) with its machine record and rendering for readers, the torchrun
launcher, the benchmark, the GPU check and JupyterLab."""
