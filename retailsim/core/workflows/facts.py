"""Facts an event brings to an aggregate, checked where they enter a transition table.

An event's facts (``{"erp_sales_order": "4711", "posted_at": 12.5}``) become fields of the order's or the
return's record. ``model_copy(update=…)`` does not validate: a misspelt key would be dropped or smuggled
in, a value of the wrong type kept. ``checked_facts`` refuses both where the facts enter the table —
every key must be a field of the record, every value of that field's type (strict: no coercion) — with
:class:`InvalidFacts`, a programming error of the core, never retried.

Rules kept: the facts are returned as given (a check, not a conversion: what is saved is unchanged);
pure, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from retailsim.core.errors import CoreError


class InvalidFacts(CoreError):
    """Facts that are no fields of the record, or of the wrong type: a bug in the core. Not retryable."""


@functools.cache
def _field_type(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    annotation = model.model_fields[name].annotation
    assert annotation is not None, f"{model.__name__}.{name} has no type"
    return TypeAdapter(annotation)


def checked_facts(model: type[BaseModel], facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """``facts`` as an update of ``model``'s fields, or InvalidFacts naming what is wrong."""
    if not facts:
        return {}
    unknown = sorted(set(facts) - set(model.model_fields))
    if unknown:
        raise InvalidFacts(f"{model.__name__} has no field {', '.join(unknown)}")
    for name, value in facts.items():
        try:
            _field_type(model, name).validate_python(value, strict=True)
        except ValidationError as exc:
            raise InvalidFacts(f"{model.__name__}.{name}: {exc.errors()[0]['msg']} (got {value!r})") from None
    return dict(facts)
