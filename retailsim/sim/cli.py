"""The ``retailsim`` command line: list, run, check, crash-points (and fuzz, serve where built).

Exit codes are a contract: 0 no invariant was violated and every required one held (every invariant of
the catalogue is judged; one the run gave nothing to check is "not exercised"); 1 at least one invariant
was violated or a required one was not exercised (the report says which, with examples and the replay
command); 2 bad input — unknown scenario, invalid file, bad flag, an output folder that cannot be
written, a busy port — with a one-line reason on stderr, checked before anything runs. Messages are
escaped for rich, so text in brackets (a name pattern ``[a-z0-9]``, a violation example) prints as it
is. A progress bar of simulated time shows on a terminal.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import json
import os
import shlex
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from retailsim.core.crash_points import CATALOGUE
from retailsim.reports import write_report
from retailsim.reports.compare import CompareError, write_compare
from retailsim.reports.flows import SAMPLED_ORDERS
from retailsim.reports.summary import JsonValue
from retailsim.reports.sweep_html import write_sweep_report
from retailsim.reports.sweep_results import fails_run, frontier
from retailsim.scenarios import ScenarioError, list_scenarios, load, to_toml
from retailsim.sim.broken_cores import CORES
from retailsim.sim.faults import UNREACHABLE_IN_SIM
from retailsim.sim.runner import Run, run_scenario
from retailsim.sim.sweep import (
    RunTask,
    SweepError,
    SweepPlan,
    fuzz_tasks,
    lost_outcome,
    plan_from_command_line,
    run_sweep,
    run_task,
)

if TYPE_CHECKING:
    from distributed import Client

app = typer.Typer(
    name="retailsim",
    help="A flight simulator for retail integration: rehearse flash sales, outages and duplicate webhooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def default_out_dir(name: str, seed: int, overrides: list[str], core: str) -> Path:
    """``retailsim-out/<scenario>-<seed>``, plus a short hash of the overrides and ``--core`` when there
    are any, so a run with ``--set`` never overwrites the run without (or with other overrides)."""
    label = f"{name}-{seed}"
    if overrides or core != "real":
        tag = hashlib.blake2b(json.dumps([overrides, core]).encode(), digest_size=4).hexdigest()
        label += f"-{tag}"
    return Path("retailsim-out") / label


def _writable_dir_or_fail(target: Path) -> None:
    """Create ``target`` and prove a file can be written there, before a run spends its time."""
    if target.exists() and not target.is_dir():
        raise _fail(f"--out {target}: exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as exc:
        raise _fail(f"--out {target}: cannot write there: {exc.strerror or exc}") from None


def _usable_dir_or_fail(target: Path) -> None:
    """For a folder written only if need be (fuzz's failing plans): it, or the folder it would be made in,
    must be a writable directory — checked without creating anything."""
    if target.exists() and not target.is_dir():
        raise _fail(f"--out {target}: exists and is not a directory")
    ancestor = target
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise _fail(f"--out {target}: cannot write there: {ancestor} is not a writable directory")


def _port_free_or_fail(host: str, port: int) -> None:
    """Bind the port once (as uvicorn will, with SO_REUSEADDR) so a busy port is exit 2, not a crash."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _fail(f"port {port} in use on {host}: stop what listens there or pick --port") from None
        raise _fail(f"--host {host} --port {port}: cannot listen: {exc.strerror or exc}") from None


@app.command("list")
def list_command() -> None:
    """List the shipped scenarios with a one-line description."""
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("scenario")
    table.add_column("what it shows")
    for name, description in list_scenarios():
        table.add_row(name, description)
    out.print(table)


@app.command("check")
def check_command(
    file: Annotated[str, typer.Argument(help="scenario name or TOML file")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override any scenario key: path=value (repeatable)")
    ] = None,
) -> None:
    """Validate a scenario file (with any --set overrides) without running it."""
    try:
        scenario = load(file, list(set_ or []))
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    out.print(
        f"[green]ok[/] {escape(file)}: scenario '{scenario.name}', {scenario.workload.orders} orders, "
        f"{len(scenario.faults)} fault(s)",
        highlight=False,
    )


@app.command("crash-points")
def crash_points_command() -> None:
    """List the core's crash points (one a line), where a core_crash with ``point = "<name>"`` strikes."""
    width = max(len(name) for name, _ in CATALOGUE)
    for name, description in CATALOGUE:
        unreachable = UNREACHABLE_IN_SIM.get(name)
        note = f" (never struck in a simulation: {unreachable})" if unreachable else ""
        out.print(f"{name:<{width}}  {description}{note}", highlight=False, markup=False)
    out.print(
        f"{'random':<{width}}  one of the above that the core has passed, drawn when the fault is armed", highlight=False, markup=False
    )
    out.print(f"{'any':<{width}}  every point, each hit with the fault's probability", highlight=False, markup=False)


def _one_engine_or_fail(workers: int | None, scheduler: str | None) -> None:
    if workers is not None and scheduler:
        raise _fail("--workers and --scheduler: choose one (the scheduler's cluster has its own workers)")


@contextmanager
def _cluster_or_fail(workers: int | None, scheduler: str | None) -> Iterator[Client]:
    """A Dask client (see sim/cluster.py); a scheduler that cannot be reached is exit 2."""
    from retailsim.sim.cluster import ClusterError, dask_client  # Dask loads only for the runs it serves

    try:
        with dask_client(workers, scheduler) as client:
            yield client
    except ClusterError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _runs_progress(total: int, quiet: bool) -> Iterator[Callable[[bool], None]]:
    """A progress bar of finished runs with an ETA on a terminal (stderr); yields ``advance(failed)``."""
    if quiet or not sys.stderr.isatty():
        yield lambda failed: None
        return
    columns = (
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("runs", total=total, failed=0)
        failures = 0

        def advance(failed: bool) -> None:
            nonlocal failures
            failures += failed
            progress.update(task, advance=1, failed=failures)

        yield advance


def default_sweep_dir(plan: SweepPlan) -> Path:
    """``retailsim-out/sweep-<scenario>-<hash of grid, seeds, sets and core>``: another sweep, another folder."""
    grid = [[axis.key, [str(v) for v in axis.values]] for axis in plan.axes]
    identity = json.dumps([grid, list(plan.seeds), list(plan.fixed), plan.core_name]).encode()
    return Path("retailsim-out") / f"sweep-{plan.scenario.name}-{hashlib.blake2b(identity, digest_size=4).hexdigest()}"


@app.command("sweep")
def sweep_command(
    scenario: Annotated[
        str, typer.Argument(help="shipped scenario name, a scenario TOML file, or a sweep file with a [sweep] table")
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="KEY=V1,V2,...: a scenario key and its values (repeatable: every combination runs)"),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="a count of seeds from the scenario's (default 3), or a list: 7,11,13")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a key in every run: path=value (repeatable)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="output directory")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=1024, help="local Dask worker processes (default: one per core)")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", envvar="RETAILSIM_SCHEDULER", help="tcp://HOST:PORT of an existing Dask scheduler"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, only the verdict")] = False,
    core: Annotated[str, typer.Option("--core", hidden=True)] = "real",
) -> None:
    """Run a grid of settings × seeds on Dask; write results.parquet and sweep.html with the frontier."""
    try:
        plan = plan_from_command_line(scenario, grid or [], seeds, set_ or [], core)
    except SweepError as exc:
        raise _fail(str(exc)) from None
    _one_engine_or_fail(workers, scheduler)
    target = out_dir or default_sweep_dir(plan)
    _writable_dir_or_fail(target)
    with _cluster_or_fail(workers, scheduler) as client:
        with _runs_progress(len(plan.tasks), quiet) as advance:
            result = run_sweep(plan, client, on_row=lambda row: advance(row["status"] != "passed"))
        paths = write_sweep_report(result, target)  # before the cluster's shutdown, which Ctrl-C may cut
    table = Table(box=None, show_header=True, header_style="bold", caption="drain and acceptance p99: medians over seeds")
    for column in (*result.keys, "passed", "meets SLAs", "drain", "acceptance p99"):
        table.add_column(column, no_wrap=True)
    for point in result.points():
        table.add_row(
            *(escape(str(value)) for _key, value in point.settings),
            f"{point.count('passed')}/{len(point.rows)}",
            "[green]yes[/]" if point.meets_slas else "[red]no[/]",
            _seconds(point.median("kpi.drain_time_s")),
            _seconds(point.median("kpi.acceptance_latency_p99_s")),
        )
    if not quiet:
        out.print(table)
    best = frontier(result)
    out.print(
        "frontier: " + ("; ".join(escape(point.label) for point in best) or "no grid point met the SLAs in every seed"),
        highlight=False,
    )
    for row in result.unsuccessful:
        settings = ", ".join(f"{key}={row[key]}" for key in result.keys)
        why = escape(str(row["error"] or row["failing"]))
        err.print(f"[red]{row['status']}[/] {escape(settings)} seed {row['seed']}: {why}", highlight=False)
        err.print(f"       replay: {escape(str(row['replay']))}", highlight=False)
    out.print(f"results: {escape(str(paths['results']))}\nreport: {escape(str(paths['html']))}", highlight=False)
    if result.interrupted:
        err.print(f"interrupted: {len(result.rows)} of {result.planned} runs finished and written", highlight=False)
        raise typer.Exit(130)
    raise typer.Exit(EXIT_VIOLATED if result.unsuccessful else EXIT_OK)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} s" if value >= 10 else f"{value:.3g} s"


ProgressHook = Callable[[float], None]


def _run_with_progress(scenario_run: Callable[[ProgressHook | None], Run], total: float, quiet: bool) -> Run:
    """Run with a progress bar of simulated time on a terminal (stderr), silently otherwise."""
    if quiet or not sys.stderr.isatty():
        return scenario_run(None)
    columns = (TextColumn("[bold]simulated[/] {task.fields[clock]}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("run", total=total, clock="0h00m")

        def advance(now: float) -> None:
            hours, minutes = int(now // 3600), int(now % 3600 // 60)
            progress.update(task, completed=min(now, total), clock=f"{hours}h{minutes:02d}m")

        return scenario_run(advance)


@app.command("run")
def run_command(
    scenario: Annotated[
        str, typer.Argument(help="shipped scenario name (see 'retailsim list') or a TOML file")
    ],
    seed: Annotated[int | None, typer.Option("--seed", help="random seed (default: the scenario's)")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override any scenario key: path=value (repeatable)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="output directory")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, only the verdict")] = False,
    core: Annotated[
        str, typer.Option("--core", hidden=True, help="a deliberately broken core (harness proofs)")
    ] = "real",
) -> None:
    """Run a scenario to quiescence, judge the invariants, and write summary.json and report.html."""
    if core not in CORES:
        raise _fail(f"--core {core!r}: choose one of {', '.join(CORES)}")
    overrides = list(set_ or [])
    try:
        resolved = load(scenario, overrides)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    if seed is not None and seed < 0:
        raise _fail("--seed must be a non-negative integer")
    effective_seed = resolved.seed if seed is None else seed
    target = out_dir or default_out_dir(resolved.name, effective_seed, overrides, core)
    _writable_dir_or_fail(target)
    estimate = resolved.workload.duration + 2 * 86400

    def go(progress: ProgressHook | None) -> Run:
        return run_scenario(
            resolved,
            effective_seed,
            source=scenario,
            overrides=overrides,
            on_progress=progress,
            core_factory=CORES[core],
            core_name=core,
            sampled_flows=SAMPLED_ORDERS,
        )

    run = _run_with_progress(go, estimate, quiet)
    try:
        paths = write_report(run.record, target)
    except OSError as exc:
        raise _fail(f"--out {target}: cannot write the report: {exc.strerror or exc}") from None
    record = run.record
    failed = list(record.failed_invariants)
    unchecked = list(record.unchecked_invariants)
    if not quiet:
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("invariant", "status", "", "checked", "violations"):
            table.add_column(column)
        colours = {"held": "green", "violated": "red", "not_exercised": "yellow"}
        for result in record.invariants:
            table.add_row(
                result.name,
                f"[{colours[result.status]}]{result.status.replace('_', ' ')}[/]",
                "required" if result.required else "",
                str(result.checked),
                str(result.violations),
            )
        out.print(table)
        orders = record.orders
        out.print(
            f"orders: {orders['submitted']} submitted, {orders['accepted']} accepted, {orders['posted_to_erp']} posted to ERP, "
            f"{orders['delivered']} delivered, {orders['cancelled']} cancelled · sim {record.sim_time_s / 3600:.1f} h "
            f"in {record.wall_time_s:.1f} s · digest {record.digest}"
        )
    for result in failed:
        err.print(
            f"[red]violated[/] {result.name}: " + escape("; ".join(result.examples[:3])), highlight=False
        )
    for result in unchecked:
        err.print(
            f"[yellow]not exercised[/] {result.name}: required by the scenario, but the run gave it nothing "
            "to check, so it is not a pass",
            highlight=False,
        )
    out.print(f"report: {escape(str(paths['html']))}", highlight=False)
    if not record.passed:  # a violation of any invariant, or a required one not exercised
        err.print(f"replay: {escape(record.replay)}", highlight=False)
        raise typer.Exit(EXIT_VIOLATED)
    raise typer.Exit(EXIT_OK)


@app.command("compare")
def compare_command(
    dir_a: Annotated[Path, typer.Argument(help="output directory of one run (retailsim run --out)")],
    dir_b: Annotated[Path, typer.Argument(help="output directory of the other run")],
    page: Annotated[Path | None, typer.Option("--out", help="the page to write (an .html file)")] = None,
) -> None:
    """Write one page with both runs' KPIs, invariants and charts side by side."""
    target = page or Path("retailsim-out") / f"compare-{dir_a.name}-vs-{dir_b.name}.html"
    try:
        written = write_compare(dir_a, dir_b, target)
    except CompareError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"--out {target}: cannot write the page: {exc.strerror or exc}") from None
    out.print(f"comparison: {escape(str(written))}", highlight=False)
    raise typer.Exit(EXIT_OK)


@app.command("fuzz")
def fuzz_command(
    scenario: Annotated[str, typer.Argument(help="base scenario (its faults are replaced)")] = "baseline",
    runs: Annotated[int, typer.Option("--runs", min=1, max=10_000, help="how many random plans")] = 20,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the fuzzer; run i uses seed+i")] = 1,
    orders: Annotated[int, typer.Option("--orders", min=1, help="orders per run (small is fast)")] = 200,
    max_faults: Annotated[int, typer.Option("--max-faults", min=1, max=20)] = 4,
    out_dir: Annotated[Path, typer.Option("--out", help="where failing plans are saved")] = Path(
        "retailsim-out/fuzz"
    ),
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=1024, help="run on a local Dask cluster of N worker processes")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", envvar="RETAILSIM_SCHEDULER", help="tcp://HOST:PORT of an existing Dask scheduler"),
    ] = None,
    core: Annotated[str, typer.Option("--core", hidden=True)] = "real",
) -> None:
    """Run random seeds with generated fault plans; save every failure as a TOML file with its replay command.

    Without --workers or --scheduler the runs go one after another in this process; with either, on Dask.
    Each seed's plan is drawn here, from the seed alone, and lines print in seed order either way."""
    if core not in CORES:
        raise _fail(f"--core {core!r}: choose one of {', '.join(CORES)}")
    try:
        base = load(scenario, [f"workload.orders={orders}", 'expect.max_drain="2d"'])
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    _usable_dir_or_fail(out_dir)
    _one_engine_or_fail(workers, scheduler)
    tasks = fuzz_tasks(base, runs, seed, max_faults, core)
    failures = 0
    core_flag = ["--core", core] if core != "real" else []

    def report(task: RunTask, outcome: dict[str, JsonValue]) -> None:
        nonlocal failures
        kinds = ",".join(f.kind + (f"@{f.point}" if f.point else "") for f in task.scenario.faults)
        if "error" in outcome:
            broken = [f"raised {outcome['error']}"]
        else:
            invariants = cast(list[dict[str, Any]], outcome["invariants"])
            broken = [
                f"{inv['name']}: {inv['examples'][0] if inv['examples'] else ''}"
                for inv in invariants
                if fails_run(inv)
            ]
        if not broken:
            out.print(f"[green]ok[/]   seed {task.seed:<6} faults: {kinds}", highlight=False)
            return
        failures += 1
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{task.scenario.name}.toml"
        path.write_text(to_toml(task.scenario), encoding="utf-8")
        out.print(f"[red]FAIL[/] seed {task.seed:<6} faults: {kinds}", highlight=False)
        for line in broken:
            out.print(f"       {escape(line)}", highlight=False)
        replay = shlex.join(["retailsim", "run", str(path), "--seed", str(task.seed), *core_flag])
        out.print(f"       replay: {escape(replay)}", highlight=False)

    if workers is None and not scheduler:
        for task in tasks:
            report(task, run_task(task))
    else:
        arrived: dict[int, dict[str, JsonValue]] = {}
        printed = 0

        def in_seed_order(index: int, outcome: dict[str, JsonValue]) -> None:
            nonlocal printed
            arrived[index] = outcome
            while printed in arrived:
                report(tasks[printed], arrived.pop(printed))
                printed += 1

        from retailsim.sim.cluster import run_each

        with _cluster_or_fail(workers, scheduler) as client:
            done = run_each(client, run_task, tasks, in_seed_order, lambda i, exc: lost_outcome(tasks[i], exc))
        for index in sorted(arrived):  # Ctrl-C: what finished after a run that did not
            report(tasks[index], arrived.pop(index))
        if done.interrupted:
            err.print(f"interrupted: {len(done.results)} of {runs} runs finished", highlight=False)
            out.print(f"{len(done.results) - failures} of {len(done.results)} finished runs held every invariant")
            raise typer.Exit(130)
    out.print(f"{runs - failures} of {runs} runs held every invariant")
    raise typer.Exit(EXIT_VIOLATED if failures else EXIT_OK)


class ServeRole(enum.StrEnum):
    """What one ``serve`` process runs: both tiers (one host), or one tier of a multi-host deployment."""

    both = "both"
    api = "api"
    dispatcher = "dispatcher"


def _serve_role_error(
    role: ServeRole, store: str, dispatcher: str | None, workers: int, standby: bool
) -> str | None:
    """Why these ``serve`` options cannot go together (None when they can)."""
    from retailsim.core.stores import is_postgres_url
    from retailsim.sim.live import OPS_TOKEN_ENV

    if role is ServeRole.api:
        if not dispatcher:
            return "--role api needs --dispatcher http://HOST:PORT (where `serve --role dispatcher` listens)"
        if standby:
            return "--standby is for a dispatcher: --role api never holds the store"
    elif dispatcher:
        return f"--dispatcher is for --role api (--role {role.value} runs the dispatcher itself)"
    if role is ServeRole.dispatcher and workers != 1:
        return "--workers counts API processes: --role dispatcher is one process (API hosts: --role api)"
    if role is not ServeRole.both:
        if not is_postgres_url(store):
            return (
                f"--role {role.value} shares its store with the other hosts: --store postgresql://... "
                f"(got {store!r}; SQLite and memory serve one process)"
            )
        if not os.environ.get(OPS_TOKEN_ENV):
            return (
                f"--role {role.value}: set {OPS_TOKEN_ENV}, the same on every host "
                "(the API hosts authenticate to the dispatcher with it)"
            )
    for url in (dispatcher or "").split(","):
        if dispatcher and not url.strip().startswith(("http://", "https://")):
            return f"--dispatcher {url.strip()!r}: give http://HOST:PORT (several: comma-separated)"
    if workers > 1 and not is_postgres_url(store):
        return (
            f"--workers {workers} needs a store that several processes share: --store postgresql://... "
            f"(got {store!r}; SQLite and memory serve one process)"
        )
    return None


@app.command("serve")
def serve_command(
    scenario: Annotated[
        str, typer.Argument(help="scenario whose mock systems and faults run behind the API")
    ] = "flash-sale",
    host: Annotated[str, typer.Option("--host", help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
    store: Annotated[
        str,
        typer.Option("--store", help="sqlite:PATH | PATH | memory | postgresql://...[?schema=NAME]"),
    ] = "sqlite:retailsim-live.db",
    speed: Annotated[
        float, typer.Option("--speed", min=0.001, help="simulated seconds per wall second")
    ] = 1.0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override any scenario key: path=value (repeatable)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="API processes on the port; more than 1 needs a postgresql:// store (plus one dispatcher)",
        ),
    ] = 1,
    role: Annotated[
        ServeRole,
        typer.Option(
            "--role",
            help="both: API and dispatcher here; api: only the ingress tier (needs --dispatcher); "
            "dispatcher: only the delivery tier and the mocks (one per store)",
        ),
    ] = ServeRole.both,
    dispatcher: Annotated[
        str | None,
        typer.Option(
            "--dispatcher",
            help="--role api: the dispatcher's URL, http://HOST:PORT (and its standbys': comma-separated)",
        ),
    ] = None,
    standby: Annotated[
        bool,
        typer.Option(
            "--standby", help="if the store already has a dispatcher, wait and take over when it dies"
        ),
    ] = False,
) -> None:
    """Serve the core's HTTP API on the wall clock, the scenario's mocks and fault schedule behind it."""
    import sqlite3

    from retailsim.core.api import HostUnavailable
    from retailsim.core.stores import StoreUrlError, is_postgres_url, open_store
    from retailsim.core.stores.base import StoreUnavailable
    from retailsim.sim.dispatcher_lock import StoreInUse, acquire, dispatcher_lock, guard
    from retailsim.sim.live import LiveRuntime, serve
    from retailsim.sim.scaleout import (
        DispatcherRefused,
        ScaleOutSettings,
        run_delivery_tier,
        serve_api_tier,
        serve_scaled,
    )

    def announce(line: str) -> None:
        out.print(escape(line), highlight=False)

    overrides = list(set_ or [])
    try:
        resolved = load(scenario, overrides)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    problem = _serve_role_error(role, store, dispatcher, workers, standby)
    if problem is not None:
        raise _fail(problem)
    _port_free_or_fail(host, port)
    store_errors: tuple[type[BaseException], ...] = (
        StoreUrlError,
        StoreUnavailable,
        sqlite3.DatabaseError,
        OSError,
    )
    if is_postgres_url(store):
        import psycopg

        store_errors += (psycopg.Error,)
    try:
        open_store(store).close()  # reachable, and migrated once before any process uses it
        lock = None if role is ServeRole.api else dispatcher_lock(store)
        if lock is not None:
            acquire(lock, standby=standby, announce=announce)  # held until this process ends
    except StoreInUse as exc:
        hint = "" if standby else " (--standby waits and takes over when it stops)"
        raise _fail(f"--store {store!r}: {exc}{hint}") from None
    except store_errors as exc:
        raise _fail(f"--store {store!r}: {exc}") from None
    if lock is not None:
        guard(lock, threading.Event())
    settings = ScaleOutSettings(
        scenario=scenario,
        overrides=overrides,
        store_url=store,
        speed=speed,
        supervisor_pid=os.getpid(),
        dispatcher_url=dispatcher or "",
        workers=workers,
    )
    if role is ServeRole.api:
        try:
            serve_api_tier(settings, host=host, port=port, announce=announce)
        except (DispatcherRefused, HostUnavailable) as exc:
            raise _fail(f"--dispatcher {dispatcher}: {exc}") from None
        return
    if role is ServeRole.dispatcher:
        from retailsim.sim.live import OPS_TOKEN_ENV

        run_delivery_tier(settings, os.environ[OPS_TOKEN_ENV], host=host, port=port, announce=announce)
        return
    if workers > 1:
        try:
            serve_scaled(settings, host=host, port=port, announce=announce)
        except RuntimeError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_VIOLATED) from None
        return
    try:
        runtime = LiveRuntime(resolved, store_url=store, speed=speed)
    except store_errors as exc:
        raise _fail(f"--store {store!r}: {exc}") from None
    serve(runtime, host=host, port=port, store_url=store, announce=announce)


def main(argv: list[str] | None = None) -> None:
    """Console entry point; click's usage errors (bad flag, bad value, missing argument) also exit 2 with
    one line on stderr, like every other input error."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        app(args=args)  # no_args_is_help: the help, as click prints it
    try:
        code = app(args=args, standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # click's (vendored by typer) ClickException and its usage errors
        context = getattr(exc, "ctx", None)
        hint = f" (try '{context.command_path} --help')" if context is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err.print(f"[bold red]error:[/] {escape(message)}{escape(hint)}", highlight=False)
        sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
