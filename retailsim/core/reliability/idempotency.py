"""Idempotency: a request is identified by its key, and its body by a fingerprint.

Same key + same fingerprint → the stored response again; same key + another fingerprint → a client
error (422 in our API, per the IETF Idempotency-Key draft); same key still in flight → 409.
The fingerprint is a SHA-256 over canonical JSON (sorted keys, no whitespace), so field order and
formatting of the body do not matter.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# One encoder for every fingerprint: ``json.dumps`` with options builds a new encoder on each call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(body: Any) -> str:
    return _CANONICAL.encode(body)


def fingerprint(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
