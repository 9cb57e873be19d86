"""The library's version (its own module, so that ``io`` can name it without importing the package)."""

__version__ = "0.2.0"
