"""Errors that the command line prints as one clear line instead of a traceback."""

from __future__ import annotations


class GraceEdgeError(Exception):
    """A user-facing error: the message names the input and what is wrong with it."""


class InputError(GraceEdgeError, ValueError):
    """Bad input from the caller (file, image, array, option)."""


class ArtifactError(GraceEdgeError):
    """A model artifact (ONNX, engine, checkpoint) is missing, foreign, truncated or stale."""


class BackendUnavailable(GraceEdgeError):
    """A backend's packages or hardware are not present on this machine."""
