"""One training recipe for every model (``fit``: resumable, best epoch by validation), the tensors and views it
cuts batches from, the stored frozen prefix, the device, distributed helpers, progress reports, and the fingerprint
of the code a checkpoint was made by."""
