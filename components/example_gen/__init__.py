"""ExampleGen for image folders (one subfolder per class) and TFRecord folders."""
