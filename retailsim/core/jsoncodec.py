"""Compact JSON encoding for what the core writes: store documents, outbox payloads, stored replies.

What it is for: ``dumps`` is the one encoder of the stores (and of the live mocks' journal), done by orjson
— an order's documents are encoded several times on their way through a transaction, and the standard
library's encoder was a measurable part of an order's cost (benchmarks/bench_api.py).

Rules kept: the output is plain compact JSON that ``json.loads`` reads back to an equal value, so files
written before and after this module read the same. Where orjson refuses a value the standard library
accepts — an integer beyond 64 bits, a non-string key, a lone surrogate, as a fuzzed request body can
carry — the standard library encodes it, so nothing that used to be storable fails now. Decoding stays
with ``json.loads``: orjson reads integers beyond 64 bits as floats, which would change a stored value.
Not for fingerprints (``reliability.idempotency`` keeps its canonical form, so stored keys still match)
nor for request bodies (``api.edge.parse_json`` has rules of its own).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    """``value`` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
