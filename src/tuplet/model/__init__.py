"""The model: the transformer, its layers, checkpoints (safetensors + JSON) and int8 weights."""
