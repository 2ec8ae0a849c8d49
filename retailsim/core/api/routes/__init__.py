"""The HTTP API's routers, one module per resource; each returns its ``Endpoint``s for ``create_app``.

``orders`` (storefront orders, the agent's timeline and actions), ``returns``, ``webhooks`` (signed
events from carrier, WMS and payment), ``inventory`` (stock and catalog), ``payments`` (the sandbox's
payment intents and ledgers), ``ops`` (summary, dead letters and replay, reconciliation, metrics) and
``service`` (health and the OpenAPI document). The rules they share live in ``api/edge.py``.
"""
