"""gespace: search the Gather-Excite design space."""
__version__ = "0.1.0"
