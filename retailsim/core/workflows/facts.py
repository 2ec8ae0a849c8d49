"""Facts an event brings to an aggregate, checked where they enter a transition table.

An event's facts (``{"erp_sales_order": "4711", "posted_at": 12.5}``) become fields of the order's or the
return's record. ``model_copy(update=…)`` does not validate: a misspelt key would be dropped or smuggled
in, a value of the wrong type kept. ``checked_facts`` refuses both where the facts enter the table —
every key must be a field of the record, every value of that field's type (strict: no coercion) — with
:class:`InvalidFacts`, a programming error of the core, never retried.

Rules kept: the facts are returned as given (a check, not a conversion: what is saved is unchanged);
no clock. A plain-scalar field's check is remembered per value type (its outcome depends on nothing
else); every other field's value is checked every time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from retailsim.core.errors import CoreError


class InvalidFacts(CoreError):
    """Facts that are no fields of the record, or of the wrong type: a bug in the core. Not retryable."""


@functools.cache
def _field_type(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    annotation = model.model_fields[name].annotation
    assert annotation is not None, f"{model.__name__}.{name} has no type"
    return TypeAdapter(annotation)


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)


_SCALARS = (str, int, float, bool, type(None))


@functools.cache
def _plain_scalar(model: type[BaseModel], name: str) -> bool:
    """A field typed by plain scalars only (``str | None``, ``float``; no constraint, no Literal): whether a
    value passes its strict check depends on the value's type alone."""
    info = model.model_fields[name]
    annotation = info.annotation
    members = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return not info.metadata and all(member in _SCALARS for member in members)


# (model, field, value type) whose strict check passed for a plain-scalar field: it passes for every
# value of that type, so an order's every event does not pay for the check again.
_passed: set[tuple[type[BaseModel], str, type]] = set()


def checked_facts(model: type[BaseModel], facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """``facts`` as an update of ``model``'s fields, or InvalidFacts naming what is wrong."""
    if not facts:
        return {}
    if not _field_names(model).issuperset(facts):
        unknown = sorted(set(facts) - _field_names(model))
        raise InvalidFacts(f"{model.__name__} has no field {', '.join(unknown)}")
    for name, value in facts.items():
        checked = (model, name, type(value))
        if checked in _passed:
            continue
        try:
            _field_type(model, name).validate_python(value, strict=True)
        except ValidationError as exc:
            raise InvalidFacts(f"{model.__name__}.{name}: {exc.errors()[0]['msg']} (got {value!r})") from None
        if type(value) in _SCALARS and _plain_scalar(model, name):
            _passed.add(checked)
    return dict(facts)
