"""What more than one stage uses: headless plots for the reports, and Keras and tf.Transform
traced unconverted by AutoGraph inside TFX's executors."""
