"""The one error type for a bad parameter: a ``ValueError`` that knows which field it is about.

Library code names its own parameters (``saturate``, ``lanes``); a front end that spells them
differently (the CLI's ``--saturate``, a sweep file's ``lanes = [...]``) maps :attr:`field` to
its own spelling, so no library message has to know about flags or file keys.
"""

from __future__ import annotations

__all__ = ["FieldError"]


class FieldError(ValueError):
    """``field``: the parameter that was wrong; ``value``: what was given (``None`` if absent)."""

    def __init__(self, field: str, message: str, value=None):
        super().__init__(message)
        self.field = field
        self.value = value

    def __reduce__(self):  # so it crosses a process pool whole (the default pickles the message alone)
        return _rebuild, (type(self), str(self), dict(self.__dict__))

    def renamed(self, name: str) -> "FieldError":
        """The same error with its field spelled ``name`` (a flag, a file key)."""
        return FieldError(name, f"{name}: {self}", self.value)


def _rebuild(cls, message: str, attributes: dict) -> FieldError:
    error = cls.__new__(cls)
    ValueError.__init__(error, message)
    error.__dict__.update(attributes)
    return error
