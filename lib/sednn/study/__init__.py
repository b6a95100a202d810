"""The study on a ``Run``: the parser and its maps, the classifiers of the plan, the map conditions and the
map-quality study, Grad-CAM and the explorer, and the result tables."""
