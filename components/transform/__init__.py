"""Transform: decode, resize and normalize per channel (preprocessing), and the augmentation
spec it writes beside the transform graph for the Trainer (augmentation)."""

TRANSFORM_NODE_ID = "Transform"
