"""The bottom layer, no torch: where things live (``paths``), atomic writes (``io``), the run profiles, the metrics,
the catalog of models, the plan of what a profile trains, and the work count it gives."""
