"""Frozen pydantic models at rest: updated copies on the hot path, and one fields-set per shape.

``model.model_copy(update=…)`` copies the ``__dict__``, the extras and the fields-set and then updates
them, with a branch per option; a record changes on every order event and every acknowledged status, so
``updated`` builds the copy in one step instead. Rules kept: the result equals
``model.model_copy(update=changes)`` (same fields, same fields-set, no validation — the caller checks
what it passes, as ``workflows/facts.py`` does for an event's facts); only for frozen models whose
extras are forbidden (nothing is shared that anyone could change in place).

Every pydantic model carries ``__pydantic_fields_set__``, a set of the names it was given: 216 bytes up to
four names, 728 from five — more than most of its values. A run keeps one order aggregate and one order
record per order, each with nested models (customer, address, lines, payment), so these sets were the
largest single item of a run's memory. They are all alike, so frozen models share them: ``updated``
keeps the original's set when the changes name nothing new, and ``share_fields_sets`` (the memory store
calls it on every model it keeps) gives a model and the frozen models inside it the one shared set
equal to theirs. Sharing a mutable set is safe here because nothing changes a frozen model's set in
place: assignment is refused, and ``model_copy`` copies the set before it adds the updated names.

Equal small dicts of counters are shared the same way: ``updated`` puts the one shared dict equal to a
change's value into the copy when that value is a dict of a few ints (the order record's ``synced``,
destination → the newest status it acknowledged: a handful of distinct ones in a run, one per order
before). Rule kept by the core: a frozen model's containers are never changed in place (a new state gets
new ones). At most ``SHARED_DICTS`` are kept: counters that never repeat do not grow the table for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__

# The shared fields-sets, one per distinct set of names (a handful per model class), and their ids for a
# constant-time "already shared" check. Kept for the life of the process: ids stay valid.
_shared_sets: dict[frozenset[str], set[str]] = {}
_shared_ids: set[int] = set()


def _shared(names: set[str]) -> set[str]:
    """The shared set equal to ``names``."""
    key = frozenset(names)
    found = _shared_sets.get(key)
    if found is None:
        found = _shared_sets[key] = set(key)
        _shared_ids.add(id(found))
    return found


SHARED_DICTS = 4096
_shared_dicts: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}


def _shared_counters(value: dict[str, int]) -> dict[str, int]:
    """The shared dict equal to ``value`` (a dict of ints), or ``value`` once the table is full."""
    key = tuple(value.items())
    found = _shared_dicts.get(key)
    if found is None:
        if len(_shared_dicts) >= SHARED_DICTS:
            return value
        found = _shared_dicts[key] = value
    return found


def updated(model: M, changes: Mapping[str, Any]) -> M:
    """A copy of the frozen ``model`` with ``changes`` applied (see the module docstring)."""
    cls = type(model)
    copy = cls.__new__(cls)
    fields = {**model.__dict__, **changes}
    for name, value in changes.items():
        if type(value) is dict and len(value) <= 8 and all(type(v) is int for v in value.values()):
            fields[name] = _shared_counters(value)
    _set(copy, "__dict__", fields)
    _set(copy, "__pydantic_extra__", None)
    names = model.__pydantic_fields_set__
    if not names.issuperset(changes):
        names = _shared(names | changes.keys())
    _set(copy, "__pydantic_fields_set__", names)
    private = model.__pydantic_private__
    _set(copy, "__pydantic_private__", None if private is None else dict(private))
    return copy


def share_fields_sets(model: BaseModel) -> None:
    """Give the frozen ``model``, and the frozen models in its fields (directly, or in a tuple or list),
    the shared fields-set equal to their own. A model whose set is shared already is left as it is, with
    what it holds (an ``updated`` copy of a shared model: its nested models are the original's, unless
    the changes put in a new one — the order record's changes are plain values)."""
    if id(model.__pydantic_fields_set__) in _shared_ids or not model.model_config.get("frozen"):
        return
    _set(model, "__pydantic_fields_set__", _shared(model.__pydantic_fields_set__))
    for value in model.__dict__.values():
        if isinstance(value, BaseModel):
            share_fields_sets(value)
        elif isinstance(value, tuple | list):
            for item in value:
                if isinstance(item, BaseModel):
                    share_fields_sets(item)
