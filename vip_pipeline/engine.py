"""The Dask executor of `refresh_month`: dagster-dask's `DaskExecutor`, with the step's arguments sent opaquely.

dagster-dask submits every step to the cluster with `client.submit(query_on_dask_worker, dependencies,
recon_job, dagster_run, run_config, step_keys, instance_ref, known_state)`. Recent dask (≥ 2024.10) parses
task arguments recursively, namedtuples included; the run of a partition range carries
`DagsterRun.partitions_subset`, whose `TimeWindowPartitionsDefinition` is a Dagster `@record` that forbids
iteration, so the stock executor fails before any step starts ("Iteration is not allowed on `@record`").
Here the same call is made with those arguments pickled into one bytes value, and the step's events come
back pickled too; dask still sees the dependencies (the futures of the upstream steps) and orders the steps.
Task keys carry the run id, so two runs never share a dask task.

Each step also reports what it cost its worker, as an engine event of the step: its peak resident memory and
the worker's host and pid (the run's log in the UI shows which step needs how much memory). Before the step, the
worker hands the memory earlier steps freed back to the system (Python's collector, Arrow's pool, glibc's
`malloc_trim`) and resets its high-water mark (Linux: `/proc/self/clear_refs`); after it, `VmHWM` is the step's
peak, counted from what the worker still holds (`rss_at_start_mb`: the imports, mostly).

One more difference: dagster-dask runs a step even when a step it depends on failed (each worker executes its
one step without knowing the others' outcomes); a step with only `Nothing` inputs then runs on whatever the
staging directory holds from earlier runs. Here a step whose upstream step failed or was skipped is skipped,
as Dagster's own executors do, so a refused file still stops everything downstream of it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import cloudpickle
import dask.distributed
from dagster import _check as check
from dagster import executor, multiple_process_executor_requirements
from dagster._core.errors import raise_execution_interrupts
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._utils import iterate_with_context
from dagster_dask.executor import DaskExecutor, dask_executor, get_dask_resource_requirements, query_on_dask_worker

from vip_pipeline.parallel import release_memory as _release_memory


def _reset_peak_rss() -> None:
    """Reset this process's peak resident memory to its current size (Linux ≥ 4.0; elsewhere a no-op)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(field: str) -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:")), None)
    return None if kb is None else round(kb / 1024, 1)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since start or the last reset, in MB (None where /proc is absent)."""
    return _status_mb("VmHWM")


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (None where /proc is absent)."""
    return _status_mb("VmRSS")


def run_step_on_worker(dependencies: list[bytes], payload: bytes) -> bytes:
    """On a worker: dagster-dask's step execution, with its arguments and result as pickled bytes. The result
    is (succeeded, events, where it ran and its peak RSS); a step is not run (no events) when a step it depends
    on did not succeed."""
    if not all(cloudpickle.loads(upstream)[0] for upstream in dependencies):
        return cloudpickle.dumps((False, [], None))
    _release_memory()
    _reset_peak_rss()
    at_start = rss_mb()
    events = list(query_on_dask_worker([], *cloudpickle.loads(payload)))
    cost = {"peak_rss_mb": peak_rss_mb(), "rss_at_start_mb": at_start, "host": socket.gethostname(), "pid": os.getpid()}
    return cloudpickle.dumps((not any(e.is_step_failure for e in events), events, cost))


class OpaqueDaskExecutor(DaskExecutor):
    """dagster-dask's executor on an existing cluster, submitting each step's arguments as one opaque value."""

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan):
        if self.cluster_type != "existing":
            yield from super().execute(plan_context, execution_plan)
            return
        check.invariant(plan_context.instance.is_persistent, "Dask execution requires a persistent DagsterInstance")
        run = plan_context.dagster_run
        futures_by_step = {}
        with dask.distributed.Client(self.cluster_configuration["address"]) as client:
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    dependencies = [
                        futures_by_step[k] for i in step.step_inputs for k in i.dependency_keys if k in futures_by_step
                    ]
                    payload = cloudpickle.dumps(
                        (
                            plan_context.reconstructable_job,
                            run,
                            plan_context.run_config,
                            [step.key],
                            plan_context.instance.get_ref(),
                            execution_plan.known_state,
                        )
                    )
                    futures_by_step[step.key] = client.submit(
                        run_step_on_worker,
                        dependencies,
                        payload,
                        key=f"{run.job_name}.{run.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                        pure=False,
                    )
            step_of_key = {future.key: step_key for step_key, future in futures_by_step.items()}
            steps = {step.key: step for step in execution_plan.get_steps_to_execute_in_topo_order()}
            done = dask.distributed.as_completed(list(futures_by_step.values()), with_results=True)
            skipped = []
            for future, result in iterate_with_context(raise_execution_interrupts, done):
                succeeded, events, cost = cloudpickle.loads(result)
                if not succeeded and not events:
                    skipped.append(step_of_key[future.key])
                for event in events:
                    yield check.inst(event, DagsterEvent)
                if cost is not None and cost["peak_rss_mb"] is not None:
                    yield DagsterEvent.engine_event(
                        plan_context.for_step(steps[step_of_key[future.key]]),
                        f"peak RSS {cost['peak_rss_mb']:,.0f} MB (from {cost['rss_at_start_mb']:,.0f} MB at its start) "
                        f"on {cost['host']} (worker pid {cost['pid']})",
                        EngineEventData(metadata=cost),
                    )
            if skipped:
                plan_context.log.warning(f"not run, a step they depend on failed: {', '.join(sorted(skipped))}")


def step_costs(instance, run_id: str) -> dict[str, dict]:
    """{step key: {peak_rss_mb, rss_at_start_mb, host, pid}} of a run executed on Dask, from its steps' engine
    events (`run_step_on_worker`)."""
    costs = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.engine_event_data.metadata
        if entry.dagster_event.step_key and "peak_rss_mb" in metadata:
            costs[entry.dagster_event.step_key] = {name: value.value for name, value in metadata.items()}
    return costs


@executor(
    name="dask",
    config_schema=dask_executor.config_schema,
    requirements=multiple_process_executor_requirements(),
)
def opaque_dask_executor(init_context):
    """dagster-dask's `dask_executor` (same configuration), submitting steps as `OpaqueDaskExecutor` does."""
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return OpaqueDaskExecutor(cluster_type, cluster_configuration)
