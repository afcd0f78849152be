"""Catalogs shipped as data: models, GPUs, quantization formats, framework profiles."""
