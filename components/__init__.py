"""User code run by TFX components (features, preprocessing, model, training, export) and our
custom components, one package each."""
