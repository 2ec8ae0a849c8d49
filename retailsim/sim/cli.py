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

import errno
import hashlib
import json
import os
import random
import shlex
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retailsim.core.crash_points import CATALOGUE
from retailsim.reports import write_report
from retailsim.reports.compare import CompareError, write_compare
from retailsim.reports.flows import SAMPLED_ORDERS
from retailsim.scenarios import ScenarioError, list_scenarios, load, to_toml
from retailsim.sim.broken_cores import CORES
from retailsim.sim.faults import UNREACHABLE_IN_SIM, random_plan
from retailsim.sim.runner import Run, run_scenario

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
    core: Annotated[str, typer.Option("--core", hidden=True)] = "real",
) -> None:
    """Run random seeds with generated fault plans; save every failure as a TOML file with its replay command."""
    if core not in CORES:
        raise _fail(f"--core {core!r}: choose one of {', '.join(CORES)}")
    try:
        base = load(scenario, [f"workload.orders={orders}", 'expect.max_drain="2d"'])
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    _usable_dir_or_fail(out_dir)
    failures = 0
    core_flag = ["--core", core] if core != "real" else []
    for index in range(runs):
        run_seed = seed + index
        plan = random_plan(random.Random(f"fuzz/{run_seed}"), base.workload.duration, max_faults)
        resolved = base.model_copy(update={"faults": plan, "name": f"{base.name}-fuzz-{run_seed}"})
        run = run_scenario(resolved, run_seed, core_factory=CORES[core], core_name=core)
        broken = [r for r in run.record.invariants if r.fails_run]
        kinds = ",".join(f.kind + (f"@{f.point}" if f.point else "") for f in plan)
        if not broken:
            out.print(f"[green]ok[/]   seed {run_seed:<6} faults: {kinds}", highlight=False)
            continue
        failures += 1
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{resolved.name}.toml"
        path.write_text(to_toml(resolved), encoding="utf-8")
        out.print(f"[red]FAIL[/] seed {run_seed:<6} faults: {kinds}", highlight=False)
        for result in broken:
            out.print(
                f"       {result.name}: {escape(result.examples[0]) if result.examples else ''}",
                highlight=False,
            )
        replay = shlex.join(["retailsim", "run", str(path), "--seed", str(run_seed), *core_flag])
        out.print(f"       replay: {escape(replay)}", highlight=False)
    out.print(f"{runs - failures} of {runs} runs held every invariant")
    raise typer.Exit(EXIT_VIOLATED if failures else EXIT_OK)


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
) -> None:
    """Serve the core's HTTP API on the wall clock, the scenario's mocks and fault schedule behind it."""
    import sqlite3

    from retailsim.core.stores import StoreUrlError, is_postgres_url, open_store
    from retailsim.sim.live import LiveRuntime, serve

    overrides = list(set_ or [])
    try:
        resolved = load(scenario, overrides)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    if workers > 1 and not is_postgres_url(store):
        raise _fail(
            f"--workers {workers} needs a store that several processes share: --store postgresql://... "
            f"(got {store!r}; SQLite and memory serve one process)"
        )
    _port_free_or_fail(host, port)
    store_errors: tuple[type[BaseException], ...] = (StoreUrlError, sqlite3.DatabaseError, OSError)
    if is_postgres_url(store):
        import psycopg

        store_errors += (psycopg.Error,)
    if workers > 1:
        from retailsim.sim.scaleout import ScaleOutSettings, serve_scaled

        try:
            open_store(store).close()  # reachable, and migrated once before the processes start
        except store_errors as exc:
            raise _fail(f"--store {store!r}: {exc}") from None
        settings = ScaleOutSettings(
            scenario=scenario,
            overrides=overrides,
            store_url=store,
            speed=speed,
            supervisor_pid=os.getpid(),
            workers=workers,
        )
        try:
            serve_scaled(
                settings, host=host, port=port, announce=lambda line: out.print(escape(line), highlight=False)
            )
        except RuntimeError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_VIOLATED) from None
        return
    try:
        runtime = LiveRuntime(resolved, store_url=store, speed=speed)
    except store_errors as exc:
        raise _fail(f"--store {store!r}: {exc}") from None
    serve(
        runtime, host=host, port=port, store_url=store, announce=lambda line: out.print(escape(line), highlight=False)
    )


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
