"""Datasets, no torch: the manifest any dataset comes in and its checked readers, CCP built into that form, the map
vocabularies, the prepared (split) dataset, and the array cache of photos and maps."""
