"""ExampleGen for image folders (one subfolder per class) and TFRecord folders.

Its defaults live here, importing nothing, so the pipeline's config reads them without loading
TensorFlow.
"""

# Share of files (by hash of their path) in the eval split.
DEFAULT_EVAL_PERCENT = 20
# Undecodable files are skipped and reported; beyond this share of the folder, ingestion fails.
DEFAULT_MAX_BAD_FILE_FRACTION = 0.01

# Its node id: the KFP task name, the folder under the pipeline root, the run summary's key.
EXAMPLE_GEN_NODE_ID = "ImageExampleGen"


def split_dir(examples_uri: str, split: str) -> str:
    """Where TFX keeps one split of an Examples artifact (its `Split-<name>` folder)."""
    return f"{examples_uri.rstrip('/')}/Split-{split}"
