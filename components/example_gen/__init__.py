"""ExampleGen for image folders (one subfolder per class) and TFRecord folders.

Its defaults live here, importing nothing, so the pipeline's config reads them without loading
TensorFlow.
"""

# Share of files (by hash of their path) in the eval split.
DEFAULT_EVAL_PERCENT = 20
# Undecodable files are skipped and reported; beyond this share of the folder, ingestion fails.
DEFAULT_MAX_BAD_FILE_FRACTION = 0.01
