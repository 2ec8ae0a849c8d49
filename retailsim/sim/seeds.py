"""One seed, many named random streams: adding a stream never shifts another stream's draws.

Each stream is a ``random.Random`` seeded from SHA-256 of ``"{seed}/{name}"`` — independent of
``PYTHONHASHSEED`` and of the order in which streams are created.
"""

from __future__ import annotations

import hashlib
import random


class Streams:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def __call__(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
            stream = random.Random(int.from_bytes(digest[:8], "big"))
            self._streams[name] = stream
        return stream
