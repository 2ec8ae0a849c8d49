"""retailsim — a flight simulator for retail integration.

Packages, and the one rule of their dependencies (checked by tests/architecture):
``core`` (the integration core; imports nothing of ours) ← ``sim`` (the SimPy runtime, CLI, live mode)
→ ``systems`` (mock external products; SimPy only), ``scenarios`` (TOML files and their schema),
``reports`` (summary.json, charts, report.html from plain data).
"""

__version__ = "0.1.0"
