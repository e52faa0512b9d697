"""Errors that end a command with one line for the user (kept free of torch imports)."""


class UserError(Exception):
    """A mistake of the user's that ends the command with one line and status 2."""


class BuildError(ValueError):
    """A point that the backbone cannot honour; the message names the point id."""


class DataError(RuntimeError):
    """A dataset that cannot be found or read; the message says how to get it."""


class CheckpointError(ValueError):
    """A file that is not a gespace checkpoint, or one refused unread; the message names it."""
