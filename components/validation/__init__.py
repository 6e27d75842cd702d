"""A gate that stops the pipeline when ExampleValidator found anomalies."""
