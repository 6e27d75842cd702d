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


# ImageExampleGen writes plain TFRecords: the images in them are already compressed by their
# codec, so gzip saved 0.5% of the bytes (PNG and JPEG) and cost about 40 MB/s of one core to
# write, and again to read in each later step. Files named *.gz (TFX's own ExampleGen's) are
# gzipped.
GZIP_SUFFIX = ".gz"


def record_compression(files: list[str]) -> str:
    """`tf.data.TFRecordDataset`'s compression_type for `files`: "GZIP" for *.gz, "" for plain.

    Raises ValueError for a mix, which one dataset cannot read.
    """
    gzipped = {f.endswith(GZIP_SUFFIX) for f in files}
    if len(gzipped) > 1:
        raise ValueError(
            f"Example files mix gzipped (*{GZIP_SUFFIX}) and plain TFRecords: {sorted(files)}"
        )
    return "GZIP" if gzipped == {True} else ""


def split_dir(examples_uri: str, split: str) -> str:
    """Where TFX keeps one split of an Examples artifact (its `Split-<name>` folder)."""
    return f"{examples_uri.rstrip('/')}/Split-{split}"
