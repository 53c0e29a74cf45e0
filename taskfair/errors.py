"""Errors that more than one stage raises. Each stage keeps its own error type beside its code
(``DataError``, ``ModelError``, ``ConfigError`` …); only those shared across stages live here."""

__all__ = ["StoreError"]


class StoreError(RuntimeError):
    """A missing, corrupt or tampered file (an artifact, a safetensors shard); the message names
    the file."""
