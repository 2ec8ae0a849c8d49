"""Updated copies of frozen pydantic models, on the hot path of every transition and status reply.

``model.model_copy(update=…)`` copies the ``__dict__``, the extras and the fields-set and then updates
them, with a branch per option; a record changes on every order event and every acknowledged status, so
``updated`` builds the copy in one step instead. Rules kept: the result equals
``model.model_copy(update=changes)`` (same fields, same fields-set, no validation — the caller checks
what it passes, as ``workflows/facts.py`` does for an event's facts); only for frozen models whose
extras are forbidden (nothing is shared that anyone could change in place).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


def updated(model: M, changes: Mapping[str, Any]) -> M:
    """A copy of the frozen ``model`` with ``changes`` applied (see the module docstring)."""
    cls = type(model)
    copy = cls.__new__(cls)
    _set(copy, "__dict__", {**model.__dict__, **changes})
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    private = model.__pydantic_private__
    _set(copy, "__pydantic_private__", None if private is None else dict(private))
    return copy
