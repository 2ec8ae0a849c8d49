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


def load_every_module() -> None:
    """Import every module of retailsim, so that what hypothesis draws from a seed never depends on
    which of them a test run happened to import first.

    Hypothesis mixes literal constants of the *local* modules loaded at the time of a draw into what it
    generates (``hypothesis.internal.conjecture.providers._get_local_constants``); retailsim is local when
    installed editable, as in development. Without this, one session seed drew other fault plans in the
    whole suite than in a single test file — a CI failure that did not replay. Modules of the user's own
    project are the user's to keep stable.
    """
    import importlib
    import pkgutil

    import retailsim

    for module in pkgutil.walk_packages(retailsim.__path__, "retailsim."):
        importlib.import_module(module.name)
