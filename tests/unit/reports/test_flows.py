"""Unit tests of the message flows: trace lines → OrderFlow (choose_orders, order_flows) → SVG and table.

Rules kept: hand-written trace lines in the trace's own format (time|kind|fields…), no simulation.
"""

from __future__ import annotations

from retailsim.reports.flows import DeadLetterNote, SentWebhook, TraceSpill, choose_orders, order_flows
from retailsim.reports.flowsvg import flow_svg, flow_table, lanes
from retailsim.reports.record import OrderFlow

TRACE = [
    "0.000000|fault-on|lost_response|erp",
    "1.000000|status|A1|stock_reserved",
    "1.000000|checkout|A1|202",
    "1.500000|checkout|B2|202",
    "1.600000|checkout|C3|409",
    "2.000000|reply|erp|PostSalesOrder|A1|None",
    "2.100000|reply|storefront|UpdateOrderStatus|A1|200",
    "2.200000|reply|storefront|UpdateOrderStatus|A1|200",
    "22.000000|reply|erp|PostSalesOrder|A1|201",
    "30.000000|webhook|wms|whk_1|200",
    "31.000000|webhook|wms|whk_1|200",
    "32.000000|webhook|carrier|trk_1|503",
    "40.000000|webhook|carrier|trk_1|200",
    "50.000000|reply|wms|ReleaseToWarehouse|B2|500",
    "50.000000|export-again|B2|200",
    "end|60.000000",
]
HOOKS = [
    SentWebhook("wms", "whk_1", "order.shipped", "A1", 29.0, 2),
    SentWebhook("carrier", "trk_1", "tracker.updated", "A1", 31.5, 1),
    SentWebhook("carrier", "trk_2", "tracker.updated", "A1", 45.0, 0),
    SentWebhook("carrier", "trk_9", "tracker.updated", "B2", 46.0, 1),
]


def marks(flow: OrderFlow) -> list[tuple[str, str]]:
    return [(m.label, m.mark) for m in flow.messages if m.mark]


def test_a_retry_a_duplicate_and_a_dropped_event_are_marked() -> None:
    (flow,) = order_flows(TRACE, [("A1", "why")], HOOKS)
    assert marks(flow) == [
        ("(lost or timed out)", "no_reply"),
        ("PostSalesOrder", "retry"),
        ("order.shipped (whk_1)", "duplicate"),
        ("503", "error"),
        ("tracker.updated (trk_1)", "retry"),
        ("tracker.updated (trk_2)", "dropped"),
    ]
    # A second status update after an acknowledged one is news, not a retry.
    updates = [m for m in flow.messages if m.label == "UpdateOrderStatus"]
    assert [m.mark for m in updates] == ["", ""]
    assert [m.at for m in flow.messages] == sorted(m.at for m in flow.messages)
    assert flow.messages[0].sender == flow.messages[0].receiver == "core"  # the status note


def test_dead_letters_mark_the_last_request_and_say_why() -> None:
    (flow,) = order_flows(TRACE, [("B2", "why")], HOOKS, [DeadLetterNote("B2", "wms", "ReleaseToWarehouse", "HTTP 500")])
    assert ("ReleaseToWarehouse: HTTP 500", "dead_letter") in marks(flow)
    assert ("order export (again)", "duplicate") in marks(flow)
    assert all("trk_2" not in m.label for m in flow.messages)  # A1's events stay A1's


def test_long_flows_are_cut_and_counted() -> None:
    (flow,) = order_flows(TRACE, [("A1", "why")], HOOKS, max_messages=3)
    assert len(flow.messages) == 3
    assert flow.omitted > 0


def test_orders_come_from_examples_first_then_spread_samples() -> None:
    chosen = choose_orders(TRACE, [("no_lost_orders", ["order B2: lost; see C3."])], sampled=1)
    assert chosen == [
        ("B2", "named in an example of no_lost_orders"),
        ("C3", "named in an example of no_lost_orders"),
        ("A1", "sampled order (named in no invariant example)"),
    ]
    assert choose_orders(TRACE, [], sampled=0) == []


def test_the_spill_gives_back_what_it_was_tapped() -> None:
    spill = TraceSpill()
    for line in TRACE:
        spill(line)
    assert list(spill.lines()) == TRACE
    assert list(spill.lines()) == TRACE  # it can be read twice
    spill.close()


def test_svg_says_every_mark_in_words_and_escapes_text() -> None:
    odd = SentWebhook("wms", "<x>", "a&b", "A1", 5.0, 1)
    (flow,) = order_flows([*TRACE, "5.000000|webhook|wms|<x>|200"], [("A1", "why")], [*HOOKS, odd])
    svg = flow_svg(flow)
    assert "a&amp;b (&lt;x&gt;)" in svg and "<x>" not in svg
    assert svg.startswith("<svg") and 'role="img"' in svg and "<script" not in svg
    for word in ("[retry]", "[duplicate]", "[dropped]", "[no reply]", "[error]"):
        assert word in svg
    assert lanes(flow) == ["storefront", "core", "erp", "wms", "carrier"]
    assert svg.count('<g class="msg">') + svg.count('<g class="note">') == len(flow.messages)
    assert flow_svg(flow) == svg
    table = flow_table(flow)
    assert table.count("<tr>") == len(flow.messages) + 1
    assert "duplicate" in table and "retry" in table
