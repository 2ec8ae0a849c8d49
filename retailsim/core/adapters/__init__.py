"""Adapters: one module per external product — its mapping to and from the canonical model, and one
command spec per outbox command kind it serves (``spec.py`` says what a spec holds, ``registry.py``
chooses them, the ERP's by dialect).

Rules kept here: every system maps to and from the canonical model, never to another system's shape;
field names are the products' own (see shared/reference/payloads.md); a payload that cannot be mapped
raises :class:`~retailsim.core.errors.InvalidPayload` with field paths, never a half-built object; what
a command kind means (its request, its benign refusals, the event its reply means) is said once, in its
product's module, and nowhere else in the core.
"""
