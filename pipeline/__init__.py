"""The pipeline definition (`create_pipeline`) and one thin runner per target."""
