"""Mapping between each product's payloads and the canonical model — the only place that knows them.

Rules kept here: every system maps to and from the canonical model, never to another system's shape;
field names are the products' own (see shared/reference/payloads.md); a payload that cannot be mapped
raises :class:`~retailsim.core.errors.InvalidPayload` with field paths, never a half-built object.
"""
