"""The offline pipeline: ``python -m precompute --config <profile or file>``."""
