"""Scenario files: the shipped ones load, and a bad file or override is rejected naming key and reason.

What it is for: DESIGN.md, "Scenario files" — plain TOML validated by pydantic; a bad file is rejected
with the file, the key path and the reason; durations are strings with a unit or plain seconds; any key
can be overridden with ``--set path=value`` and the override is validated exactly like the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retailsim.scenarios import ScenarioError, list_scenarios, load, parse_duration, to_toml

SHIPPED = [name for name, _ in list_scenarios()]


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- shipped scenarios ---------------------------------------------------------------------------


def test_the_shipped_scenarios_include_the_documented_ones_each_with_a_description() -> None:
    described = dict(list_scenarios())
    assert {"baseline", "flash-sale", "erp-outage", "duplicate-webhooks", "core-crash"} <= set(described)
    assert {"omnichannel-returns", "delayed-shipment-support", "bopis-reroute"} <= set(described)
    assert all(line.strip() for line in described.values()), described
    assert sorted(SHIPPED) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_loads(name: str) -> None:
    scenario = load(name)
    assert scenario.name == name
    assert scenario.workload.orders >= 1
    assert scenario.expect.invariants


@pytest.mark.parametrize("name", SHIPPED)
def test_a_resolved_scenario_written_as_toml_loads_back_unchanged(name: str, tmp_path: Path) -> None:
    scenario = load(name)
    assert load(write(tmp_path, to_toml(scenario), f"{name}.toml")) == scenario


# ---- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("20m", 1200.0),
        ("20min", 1200.0),
        ("2h", 7200.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        (90, 90.0),
        (2.5, 2.5),
        ("90", 90.0),
    ],
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["20x", "", "m", "-5s", -1, True, None])
def test_malformed_durations_are_rejected(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_nan_duration_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_duration("nan")
    with pytest.raises(ScenarioError):
        load("flash-sale", ["workload.spike_start=nan"])


def test_durations_in_a_file_are_read_as_seconds(tmp_path: Path) -> None:
    scenario = load(
        write(tmp_path, 'name = "d"\n[workload]\nduration = "2h"\n[expect]\nmax_drain = "250ms"\n')
    )
    assert scenario.workload.duration == 7200.0
    assert scenario.expect.max_drain == 0.25


# ---- bad files -----------------------------------------------------------------------------------


def test_an_unknown_key_is_rejected_naming_its_full_path_and_the_file(tmp_path: Path) -> None:
    source = write(tmp_path, 'name = "typo"\n[systems.erp]\nconcurency = 4\n')
    with pytest.raises(ScenarioError) as caught:
        load(source)
    message = str(caught.value)
    assert "systems.erp.concurency" in message
    assert "unknown key" in message
    assert source in message


def test_a_wrong_type_is_rejected_naming_the_key(tmp_path: Path) -> None:
    source = write(tmp_path, 'name = "types"\n[workload]\norders = "many"\n')
    with pytest.raises(ScenarioError) as caught:
        load(source)
    assert "workload.orders" in str(caught.value)
    assert "integer" in str(caught.value)


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    source = write(tmp_path, 'name = "two"\n[workload]\nordrs = 100\nskus = "many"\n')
    with pytest.raises(ScenarioError) as caught:
        load(source)
    assert "workload.ordrs" in str(caught.value)
    assert "workload.skus" in str(caught.value)


def test_a_spike_ending_after_the_workload_is_rejected(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        'name = "late"\n[workload]\nshape = "flash_sale"\nduration = "2h"\nspike_start = "110m"\n'
        'spike_duration = "20m"\n',
    )
    with pytest.raises(ScenarioError, match="spike must end inside"):
        load(source)


def test_a_spike_ending_exactly_at_the_end_is_accepted(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        'name = "edge"\n[workload]\nshape = "flash_sale"\nduration = "2h"\nspike_start = "100m"\n'
        'spike_duration = "20m"\n',
    )
    assert load(source).workload.spike_start == 6000.0


def test_an_unknown_invariant_is_rejected(tmp_path: Path) -> None:
    source = write(tmp_path, 'name = "inv"\n[expect]\ninvariants = ["no_lost_order"]\n')
    with pytest.raises(ScenarioError, match="no_lost_order"):
        load(source)


def test_a_fault_aimed_at_the_wrong_target_is_rejected(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        'name = "f"\n[[faults]]\nkind = "core_crash"\ntarget = "erp"\nstart = "1h"\nduration = "5m"\n',
    )
    with pytest.raises(ScenarioError, match=r"faults\.0"):
        load(source)


def test_invalid_toml_is_rejected_naming_the_file(tmp_path: Path) -> None:
    source = write(tmp_path, "name = \n")
    with pytest.raises(ScenarioError, match="not valid TOML") as caught:
        load(source)
    assert source in str(caught.value)


def test_an_unknown_scenario_name_is_rejected_listing_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError) as caught:
        load("flash-sail")
    assert "flash-sail" in str(caught.value)
    assert "flash-sale" in str(caught.value)


def test_a_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(str(tmp_path / "absent.toml"))


def test_a_file_without_a_name_is_rejected_naming_the_key(tmp_path: Path) -> None:
    # issue 13 item 10: name is required; a file without one is not run on its stem and defaults.
    with pytest.raises(ScenarioError, match=r"my-plan\.toml: name: Field required"):
        load(write(tmp_path, "[workload]\norders = 5\n", "my-plan.toml"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty scenario file"),
        (b"# only a comment\n\n", "empty scenario file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a text file"),
    ],
    ids=["empty", "comments-only", "binary"],
)
def test_an_empty_or_binary_file_is_rejected(content: bytes, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError, match=reason):
        load(str(path))


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    with pytest.raises(ScenarioError, match="is a directory, not a scenario file"):
        load(str(tmp_path / "plans"))


# ---- --set overrides -----------------------------------------------------------------------------


def test_an_override_applies_and_leaves_the_rest_alone() -> None:
    plain, overridden = load("flash-sale"), load("flash-sale", ["workload.orders=123"])
    assert overridden.workload.orders == 123
    assert plain.workload.orders != 123
    assert overridden.workload.model_copy(update={"orders": plain.workload.orders}) == plain.workload
    assert overridden.systems == plain.systems


def test_overrides_take_strings_durations_and_new_sections() -> None:
    scenario = load(
        "flash-sale",
        ["systems.storefront.inventory_sync=batch", "workload.duration=5h", 'expect.max_drain="90m"'],
    )
    assert scenario.systems.storefront.inventory_sync == "batch"
    assert scenario.workload.duration == 18_000.0
    assert scenario.expect.max_drain == 5400.0


def test_later_overrides_win() -> None:
    assert load("baseline", ["workload.orders=10", "workload.orders=20"]).workload.orders == 20


@pytest.mark.parametrize(
    ("assignment", "named"),
    [
        ("workload.orders=abc", "workload.orders"),
        ("workload.orders=0", "workload.orders"),
        ("workload.ordrs=5", "workload.ordrs"),
        ("systems.storefront.inventory_sync=hourly", "systems.storefront.inventory_sync"),
        ("workload.spike_start=230m", "spike must end inside"),
        ("workload.orders.x=1", "'orders' is not a section"),
        ("workload.orders", "expected KEY=VALUE"),
        ("workload..orders=1", "empty key"),
        ("workload.bopis_share=0.5", "needs stores: set systems.pos.stores"),
        ("cases.late_after=soon", "cases.late_after"),
        ("cases.wrong_item_share=2", "cases.wrong_item_share"),
        ("cases.agents=0", "cases.agents"),
    ],
)
def test_an_invalid_override_is_rejected_naming_the_key(assignment: str, named: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load("flash-sale", [assignment])
    assert named in str(caught.value)


def test_a_scenario_without_case_rules_has_no_cases_and_any_rule_switches_them_on() -> None:
    assert not load("flash-sale").cases.enabled
    assert load("flash-sale", ["cases.late_after=3d"]).cases.enabled
    assert load("delayed-shipment-support").cases.enabled
