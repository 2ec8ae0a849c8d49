"""The world: mock systems, the real integration core and the rooms of the runtime, assembled from a scenario.

This module only assembles. It builds the mock systems (their stock, capacities, latencies, webhook
sinks), the core process and the rooms that act around it, wires the core's observers to the rooms that
follow it, and runs until the sampler says the run is over — quiescence, a stall, a dead end or the
scenario's hard stop. The rooms, each in its own module:

==========================  ========================================================================
room                        what it does
==========================  ========================================================================
``core_process``            the real core as a process that dies and restarts on its store; every call
                            into the core goes through it
``links``                   the network: one request's round trip to a mock system
``workers``                 the core's delivery workers and timer runner, draining its outbox
``webhooks``                the systems' events, sent at least once to the core's webhook API
``checkout``                shoppers arriving, paying, placing orders; the storefront's export
``customer_returns``        customers bringing delivered orders back, online or in store
``service_desk``            customers opening cases, agents working them from the core's timeline
``faults``                  the fault plan switched on and off (outages, crashes, duplicates…)
``sampler``                 levels per simulated minute, the stall watch, the end of the run
``episodes``                fault episodes measured: drain and recovery per episode
==========================  ========================================================================

Rules kept:

* The core is the real one, driven from outside exactly as production drives it: the storefront calls
  its order API, products' webhooks call its webhook API, and delivery workers claim its outbox.
* Every random draw comes from a named stream of the run's seed; every significant event goes into the
  trace digest. The systems are built first, in a fixed order (the warehouse's adjustments and the
  stores' walk-ins are scheduled as they are built); the rooms schedule nothing until ``start``, which
  starts them in a fixed order (workers, faults, workload, sampler) — so the same seed gives the same
  trace, and a room that moves between modules changes no digest.
* Live mode (sim/live.py) subclasses :class:`World` and overrides exactly two methods: ``_start_core``
  (to post the core's observer news to its sim thread) and ``send_webhook`` (boot-unique event ids).
  Both stay the world's, and every room reaches them through the world.
* The world's public attributes and methods are what the runner, the evidence, live mode and the tests
  read; each delegates to the room that keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import simpy

from retailsim.core.adapters import pos as pos_api
from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.registry import erp_dialect
from retailsim.core.config import CLOUD_ERP, MigrationConfig
from retailsim.core.service import CoreConfig, IntegrationCore
from retailsim.core.stores.base import Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.scenarios.schema import Scenario, SystemSpec
from retailsim.sim.accounting import EventLedger
from retailsim.sim.checkout import Checkout
from retailsim.sim.core_process import CoreFactory, CoreProcess
from retailsim.sim.customer_returns import CustomerReturns
from retailsim.sim.episodes import Episodes
from retailsim.sim.faults import FaultSchedule
from retailsim.sim.links import Links, latency
from retailsim.sim.migration import MigrationRoom
from retailsim.sim.monitors import SAMPLE_S, BucketCounter, Counts, LevelSampler, Tally, TraceDigest
from retailsim.sim.retry_budget import RetryBudgetAudit
from retailsim.sim.sampler import Sampler
from retailsim.sim.seeds import Streams
from retailsim.sim.service_desk import ServiceDesk
from retailsim.sim.webhooks import WebhookDispatch
from retailsim.sim.workers import DeliveryWorkers
from retailsim.sim.workload import CartPicker, CatalogItem, build_catalog, build_shoppers
from retailsim.systems.base import Latency, MockSystem, Request, Webhook
from retailsim.systems.carrier import Carrier
from retailsim.systems.erp_base import ErpSystem
from retailsim.systems.erp_dialects import erp_class
from retailsim.systems.payment import PaymentGateway
from retailsim.systems.pos import Pos
from retailsim.systems.service_cloud import ServiceCloud
from retailsim.systems.storefront import Storefront
from retailsim.systems.wms import Wms

__all__ = ["CoreFactory", "MockSystems", "World", "build_systems", "core_config_for", "store_ids"]

T = TypeVar("T")


def store_ids(scenario: Scenario) -> list[str]:
    """The retailer's stores (the POS mock's and the core's names for them): S001, S002, ..."""
    return [f"S{i + 1:03d}" for i in range(scenario.systems.pos.stores)]


def core_config_for(scenario: Scenario) -> CoreConfig:
    """The core's settings for a scenario: its ``[core]`` section, the storefront's inventory feed, the
    ERP dialect of ``systems.erp`` and, where customers pick up in store, the stores whose stock the core
    then promises too."""
    storefront = scenario.systems.storefront
    return scenario.core.model_copy(
        update={
            "inventory_publication": "batch" if storefront.inventory_sync == "batch" else "events",
            "feed_interval_s": storefront.feed_interval,
            "stores": store_ids(scenario) if scenario.workload.bopis_share > 0 else [],
            "erp_dialect": scenario.systems.erp.dialect,
            "migration": _migration_config(scenario),
        }
    )


def _migration_config(scenario: Scenario) -> MigrationConfig | None:
    """The core's settings of an ERP migration (the ``[migration]`` section and the cloud ERP's dialect)."""
    cloud = scenario.systems.erp_cloud
    if scenario.migration is None or cloud is None:
        return None
    return scenario.migration.core_config(cloud.dialect)


@dataclass(frozen=True)
class MockSystems:
    """The retailer's systems, as mocks (the service desk reads them as its ``DeskSystems``)."""

    storefront: Storefront
    payment: PaymentGateway
    erp: ErpSystem
    wms: Wms
    carrier: Carrier
    service_cloud: ServiceCloud
    pos: Pos
    erp_cloud: ErpSystem | None = None  # the cloud ERP of an ERP migration

    def by_name(self) -> dict[str, MockSystem]:
        """Each system under its name in scenarios, fault plans and the core's destinations."""
        systems: dict[str, MockSystem] = {
            "storefront": self.storefront,
            "payment": self.payment,
            "erp": self.erp,
            "wms": self.wms,
            "carrier": self.carrier,
            "service_cloud": self.service_cloud,
            "pos": self.pos,
        }
        if self.erp_cloud is not None:
            systems[CLOUD_ERP] = self.erp_cloud
        return systems


def build_systems(
    scenario: Scenario, env: simpy.Environment, streams: Streams, catalog: list[CatalogItem]
) -> MockSystems:
    """The mock systems of a scenario: the catalog's stock in the ERP's plant, the warehouse and every
    store; each system's capacity, latency and rate limit; its behaviour knobs; its own random stream."""
    s = scenario.systems
    plant = scenario.core.locations[0]
    stock = {item.sku: item.stock for item in catalog}

    def common(spec: SystemSpec) -> dict[str, Any]:
        return {"concurrency": spec.concurrency, "latency": latency(spec.latency), "rate_limit_per_s": spec.rate_limit}

    storefront = Storefront(env, streams("storefront"), **common(s.storefront))
    payment = PaymentGateway(env, streams("payment"), decline_rate=s.payment.decline_rate, **common(s.payment))
    erp = erp_class(s.erp.dialect)(env, streams("erp"), stock={plant: dict(stock)}, **common(s.erp))
    carrier = Carrier(env, streams("carrier"), exception_rate=s.carrier.exception_rate, **common(s.carrier))
    wms = Wms(
        env,
        streams("wms"),
        stock=dict(stock),
        short_pick_rate=s.wms.short_pick_rate,
        allocate_time=latency(s.wms.allocate_time),
        pick_time=latency(s.wms.pick_time),
        pack_time=latency(s.wms.pack_time),
        adjustments_per_hour=s.wms.adjustments_per_hour,
        adjust_until_s=scenario.workload.duration,
        split_share=s.wms.split_share,
        **common(s.wms),
    )
    wms.carrier = carrier
    wms.event_ids = s.wms.event_ids
    service_cloud = ServiceCloud(env, streams("service_cloud"), **common(s.service_cloud))
    store_stock = {sku: s.pos.stock_per_sku for sku in sorted(stock)}
    pos = Pos(
        env,
        streams("pos"),
        stores={store: dict(store_stock) for store in store_ids(scenario)},
        checkin_time=latency(s.pos.checkin_time),
        pick_time=latency(s.pos.pick_time),
        collect_time=latency(s.pos.collect_time),
        pick_fail_rate=s.pos.pick_fail_rate,
        walk_in_per_hour=s.pos.walk_in_per_hour,
        trading_until_s=scenario.workload.duration,
        receive_per_unit=s.pos.receive_per_unit,
        **common(s.pos),
    )
    pos.event_ids = s.pos.event_ids
    for item in catalog:
        storefront.set_availability(item.sku, item.stock)
    erp_cloud = None
    if s.erp_cloud is not None and scenario.migration is not None:
        # The cloud ERP starts with the same item and stock master data (migrated before go-live); the
        # legacy ERP is read-only from the cutover, but for the returns of its own orders.
        erp_cloud = erp_class(s.erp_cloud.dialect)(
            env, streams(CLOUD_ERP), stock={plant: dict(stock)}, **common(s.erp_cloud)
        )
        erp_cloud.name = CLOUD_ERP
        erp.read_only_from = scenario.migration.cutover
    return MockSystems(storefront, payment, erp, wms, carrier, service_cloud, pos, erp_cloud)


class World:
    # Live mode turns this off: there the core is a real process, killed for real, never at a point.
    crash_points_enabled = True

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        core_factory: CoreFactory | None = None,
        *,
        env: simpy.Environment | None = None,
        store: Store | None = None,
    ) -> None:
        """``env`` and ``store`` are injectable for live mode (a real-time environment, a SQLite store)."""
        self.scenario = scenario
        self.seed = seed
        self.env = env if env is not None else simpy.Environment()
        self.streams = Streams(seed)
        self.trace = TraceDigest()
        self.counts = Counts()
        self.stages = BucketCounter(SAMPLE_S)
        self.event_ledger = EventLedger()  # every event sent, each copy's deliveries, the core's answers

        spec = scenario.workload
        self.catalog = build_catalog(spec, self.streams("catalog"))
        self.shoppers = build_shoppers(spec, self.seed)
        self.carts = CartPicker(self.catalog, spec, self.streams("carts"))
        mocks = self.mocks = build_systems(scenario, self.env, self.streams, self.catalog)
        self.storefront, self.payment, self.erp, self.wms = mocks.storefront, mocks.payment, mocks.erp, mocks.wms
        self.carrier, self.service_cloud, self.pos = mocks.carrier, mocks.service_cloud, mocks.pos
        self.systems = mocks.by_name()
        self.erp_initial = self.erp.snapshot_stock()
        self.erp_cloud = mocks.erp_cloud
        self.erp_cloud_initial = self.erp_cloud.snapshot_stock() if self.erp_cloud is not None else None
        self.timeouts = {name: getattr(scenario.systems, name).timeout for name in self.systems}
        for system in (self.wms, self.carrier, self.payment, self.pos):
            system.webhook_sink = self.send_webhook

        self.core_config = core_config_for(scenario)
        self.store: Store = store if store is not None else MemoryStore()
        self.retry_audit = RetryBudgetAudit(self.core_config.breaker_failures)
        self._build_rooms(core_factory or IntegrationCore)
        self.core_process.start()

    # ---- assembly ---------------------------------------------------------------------------------

    def _build_rooms(self, core_factory: CoreFactory) -> None:
        """The runtime's rooms, each given only what it uses (nothing is scheduled yet)."""
        scenario, env, streams, trace, counts = self.scenario, self.env, self.streams, self.trace, self.counts
        self.links = Links(env, scenario.delivery.link_latency, streams("links"))
        self.workers = DeliveryWorkers(
            env=env,
            systems=self.systems,
            timeouts=self.timeouts,
            links=self.links,
            workers_per_system=scenario.delivery.workers_per_system,
            trace=trace,
            counts=counts,
            event_ledger=self.event_ledger,
            retry_audit=self.retry_audit,
        )
        self.fault_schedule = FaultSchedule(
            env=env,
            targets=self,
            plan=list(scenario.faults),
            rng=streams("faults"),
            point_rng=streams("crash_points"),
            trace=trace,
        )
        point_crashes = self.crash_points_enabled and any(
            f.kind == "core_crash" and f.point is not None for f in scenario.faults
        )
        self.core_process = process = CoreProcess(
            env=env,
            store=self.store,
            config=self.core_config,
            factory=core_factory,
            streams=streams,
            boot=self._start_core,
            workers=self.workers,
            crash_points=self.fault_schedule if point_crashes else None,
            trace=trace,
        )
        self.webhooks = WebhookDispatch(
            env=env,
            spec=scenario.delivery,
            streams=streams,
            links=self.links,
            faults=self.fault_schedule,
            process=process,
            carrier=self.carrier,
            trace=trace,
            counts=counts,
            event_ledger=self.event_ledger,
        )
        self.desk = None
        if scenario.cases.enabled:
            self.desk = ServiceDesk(
                env=env,
                spec=scenario.cases,
                systems=self.mocks,
                core=process,
                link=self.links,
                rng=streams("cases"),
                agent_rng=streams("agents"),
                service_cloud_timeout_s=self.timeouts["service_cloud"],
                trace=trace,
            )
        self.returns = CustomerReturns(
            env=env,
            scenario=scenario,
            core_config=self.core_config,
            streams=streams,
            storefront=self.storefront,
            pos=self.pos,
            wms=self.wms,
            process=process,
            desk=self.desk,
            trace=trace,
            counts=counts,
            stages=self.stages,
        )
        self.checkout = Checkout(
            env=env,
            scenario=scenario,
            streams=streams,
            shoppers=self.shoppers,
            carts=self.carts,
            storefront=self.storefront,
            payment=self.payment,
            pos=self.pos,
            links=self.links,
            process=process,
            faults=self.fault_schedule,
            payment_timeout_s=self.timeouts["payment"],
            trace=trace,
            counts=counts,
            stages=self.stages,
        )
        self.sampler = Sampler(
            env=env,
            scenario=scenario,
            store=self.store,
            destinations=list(self.systems),
            erp=self.erp,
            process=process,
            workers=self.workers,
            checkout=self.checkout,
            returns=self.returns,
            webhooks=self.webhooks,
            desk=self.desk,
            trace=trace,
        )
        self.migration: MigrationRoom | None = None
        if scenario.migration is not None and self.erp_cloud is not None:
            assert self.core_config.migration is not None
            self.migration = MigrationRoom(
                env=env,
                spec=scenario.migration,
                config=self.core_config.migration,
                workload_s=scenario.workload.duration,
                process=process,
                store=self.store,
                legacy=self.erp,
                cloud=self.erp_cloud,
                trace=trace,
            )
        self.episodes = Episodes(
            env=env,
            scenario=scenario,
            core_config=self.core_config,
            process=process,
            checkout=self.checkout,
            sampler=self.sampler,
        )

    # ---- the two override points of live mode ------------------------------------------------------

    def _start_core(self) -> IntegrationCore:
        """A new core process's core, its observers wired to the rooms that follow it (live mode
        overrides this to post their news to its sim thread)."""
        core = self.core_process.spawn()
        core.on_append = self.workers.wake
        core.on_status = self._on_status
        core.on_return_status = self.returns.on_return_status
        return core

    def send_webhook(self, hook: Webhook) -> None:
        """A system emitted an event (every system's webhook sink): send it to the core."""
        self.webhooks.send(hook)

    def _on_status(self, order_no: str, status: str, now: float) -> None:
        """The core's news of an order: the checkout follows it, a delivered one may come back, and the
        customer may contact the service desk about it."""
        self.checkout.on_status(order_no, status, now)
        if status == "delivered":
            self.returns.on_delivered(order_no)
        if self.desk is not None:
            self.desk.on_status(order_no, status)

    # ---- the run ----------------------------------------------------------------------------------

    def start(self, *, workload: bool = True) -> None:
        """Load stock into the core and start every process; live mode starts without the workload."""
        dialect = erp_dialect(self.core_config.erp_dialect)
        ask = dialect.stock_snapshot()
        snapshot = self.erp.dispatch(Request(ask.method, ask.path, ask.body, dict(ask.headers), dict(ask.query)))
        plant_rows = dialect.parse_stock(Reply(snapshot.status, snapshot.body, dict(snapshot.headers)))
        for store in self.core_config.stores:
            listing = self.pos.dispatch(Request("GET", pos_api.inventory_snapshot(store).path)).body
            plant_rows += pos_api.parse_inventory(listing)
        self.core.load_inventory(plant_rows, self.env.now)
        self.workers.start(self.core_process)
        self.fault_schedule.start()
        self.sampler.watch_stalls = workload
        if workload:
            self.env.process(self.checkout.workload())
        self.env.process(self.sampler.run())
        if self.migration is not None:
            self.migration.start()

    def run(self) -> None:
        self.start()
        self.env.run(until=self.sampler.stop)

    # ---- the core process (see sim/core_process.py) ------------------------------------------------

    @property
    def core(self) -> IntegrationCore:
        return self.core_process.core

    @property
    def core_up(self) -> bool:
        return self.core_process.up

    @property
    def crashes(self) -> int:
        return self.core_process.crashes

    @property
    def crash_log(self) -> list[tuple[str, float, float]]:
        """Deaths at crash points: (point, when, restart due)."""
        return self.core_process.crash_log

    def ask_core(self, call: Callable[[IntegrationCore], T]) -> T | None:
        """Call into the running core; None when it is down or died during the call."""
        return self.core_process.ask(call)

    def crash_core(self) -> None:
        self.core_process.crash()

    def restart_core(self) -> None:
        self.core_process.restart()

    def operator_replay_dead_letters(self) -> None:
        self.core_process.replay_dead_letters()

    def counters(self) -> dict[str, int]:
        return self.core_process.counters()

    def crash_points_hit(self) -> dict[str, int]:
        return self.core_process.crash_points_hit()

    def wake_workers(self, destination: str | None = None) -> None:
        """Wake the delivery workers of ``destination`` (None: of every destination, and the timers)."""
        if destination is None:
            self.workers.wake_all()
        else:
            self.workers.wake(destination)

    # ---- links and webhooks -----------------------------------------------------------------------

    @property
    def link_latency(self) -> Latency:
        return self.links.latency

    def call(
        self, system: MockSystem, request: OutboundRequest, timeout_s: float
    ) -> Generator[simpy.Event, Any, Reply]:
        return self.links.call(system, request, timeout_s)

    @property
    def webhooks_in_flight(self) -> int:
        return self.webhooks.in_flight

    # ---- what the customers have open, and how long it took ---------------------------------------

    @property
    def open_orders(self) -> int:
        return self.checkout.open_orders

    @property
    def open_returns(self) -> int:
        return self.returns.open_returns

    @property
    def workload_done(self) -> bool:
        return self.checkout.workload_done

    @property
    def acceptance(self) -> Tally:
        return self.checkout.acceptance

    @property
    def erp_post(self) -> Tally:
        return self.checkout.erp_post

    @property
    def return_cycle(self) -> Tally:
        return self.returns.return_cycle

    @property
    def refund_latency(self) -> Tally:
        return self.returns.refund_latency

    # ---- samples and the end of the run (see sim/sampler.py, sim/episodes.py) ----------------------

    @property
    def levels(self) -> LevelSampler:
        return self.sampler.levels

    @property
    def on_sample(self) -> Callable[[float], None] | None:
        """Called with the time after each sample (the CLI's progress bar)."""
        return self.sampler.on_sample

    @on_sample.setter
    def on_sample(self, callback: Callable[[float], None] | None) -> None:
        self.sampler.on_sample = callback

    @property
    def destination_backlog(self) -> dict[str, list[int]]:
        return self.sampler.destination_backlog

    @property
    def destination_lag(self) -> dict[str, list[float]]:
        return self.sampler.destination_lag

    @property
    def quiescent_at(self) -> float | None:
        return self.sampler.quiescent_at

    @property
    def stalled(self) -> dict[str, Any] | None:
        return self.sampler.stalled

    @property
    def dead_end_at(self) -> float | None:
        return self.sampler.dead_end_at

    def outbox_backlog(self) -> int:
        return self.sampler.outbox_backlog()

    @property
    def drained_at(self) -> float | None:
        return self.episodes.drained_at()

    def drain_reference(self) -> float:
        return self.episodes.drain_reference()

    def episode_windows(self) -> list[tuple[str, str, float, float]]:
        return self.episodes.windows()

    def episode_drains(self) -> list[dict[str, Any]]:
        return self.episodes.drains()

    def episode_recoveries(self) -> list[dict[str, Any]]:
        return self.episodes.recoveries()
