"""The package version, importable from any stage without loading the public API."""
__version__ = "0.1.0"
