"""Errors that end a command with one line for the user (kept free of torch imports)."""


class BuildError(ValueError):
    """A point that the backbone cannot honour; the message names the point id."""
