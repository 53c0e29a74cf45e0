"""The library's version, importable without importing the library (the store records it in
every manifest)."""
__version__ = "0.1.0"
