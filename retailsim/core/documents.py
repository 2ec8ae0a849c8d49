"""The kinds of document the core keeps in its store, as one enum (the store's ``kind`` column).

Each kind is keyed by the id named here. Rules kept: a kind is named here once and nowhere invented
inline; the values are the stored strings (renaming one is a data migration, not a refactor).
"""

from __future__ import annotations

from enum import StrEnum


class DocKind(StrEnum):
    ORDER = "order"  # an order's record (OrderRecord), by order number
    ORDER_DOC = "order_doc"  # the order as the storefront sent it (canonical Order), by order number
    ORDER_RETURNS = "order_returns"  # the return numbers opened against an order, by order number
    ORDER_ACTIONS = "order_actions"  # the service agent's actions on an order, by order number
    ORDER_REPLACEMENTS = "order_replacements"  # replacement orders made for an order, by order number
    RETURN = "return"  # a return's record (ReturnRecord), by return number
    TRACKING = "tracking"  # tracking code → its order
    ATP_PUBLICATION = "atp_publication"  # a SKU's availability publication waiting, by SKU
    MIGRATION = "migration"  # the open-order migration job's state of one order, by order number
    PIX = "pix"  # the warehouse adjustments applied and their watch ("applied", "watch")
    AWAITED_ACK = "awaited_ack"  # a message waiting for its deferred acknowledgement, by aggregate id
    ACK_COLLECTION = "ack_collection"  # the acknowledgement collector's cursor and pace, by its command kind
