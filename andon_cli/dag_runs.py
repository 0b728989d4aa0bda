"""Did a DAG run do its work? The front door's check after ``airflow dags test``.

Airflow marks a run ``success`` when all of its task instances succeeded, and also when it
has none: a logical date before a DAG's ``start_date`` makes a run without tasks. A run
"succeeded" that way has done nothing, so ``infra/run_dag.sh`` (``make demo``, ``make land``
and the other front doors) asks this module, after every run, whether every task of the
DAG ran and succeeded, and fails naming those that did not:

    python -m andon_cli.dag_runs <dag_id> <run_id>
"""

from __future__ import annotations

import sys
from pathlib import Path


def unfinished_tasks(expected: list[str], states: dict[str, list[str | None]]) -> list[str]:
    """Expected tasks that did not run, or did not all succeed: ``"<task> (<states>)"`` (pure).

    ``states`` maps a task id to the states of its task instances (one per map index).
    """
    problems = []
    for task_id in sorted(expected):
        got = states.get(task_id) or []
        if not got:
            problems.append(f"{task_id} (did not run)")
        elif any(state != "success" for state in got):
            problems.append(f"{task_id} ({', '.join(sorted({str(s) for s in got}))})")
    return problems


def task_states(dag_id: str, run_id: str) -> dict[str, list[str | None]]:
    """The states of the task instances of one DAG run, from Airflow's metadata database."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
    states: dict[str, list[str | None]] = {}
    for task_id, state in rows:
        states.setdefault(task_id, []).append(str(state.value if hasattr(state, "value") else state)
                                              if state is not None else None)
    return states


def expected_tasks(dag_id: str, dags_folder: Path | None = None) -> list[str]:
    """The task ids of the DAG, parsed from its file ``<dags_folder>/<dag_id>.py`` (default: Airflow's)."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    dags_folder = dags_folder or Path(conf.get("core", "dags_folder"))
    if str(dags_folder) not in sys.path:  # as Airflow's DAG processor does: DAG files import andon_common
        sys.path.append(str(dags_folder))
    bag = DagBag(dag_folder=str(dags_folder / f"{dag_id}.py"))
    if dag_id not in bag.dags:
        raise ValueError(f"no DAG {dag_id!r} in {dags_folder}: {bag.import_errors or 'file not found'}")
    return list(bag.dags[dag_id].task_ids)


def check_run(dag_id: str, run_id: str) -> list[str]:
    """Problems of one finished DAG run (empty when every task of the DAG ran and succeeded)."""
    return unfinished_tasks(expected_tasks(dag_id), task_states(dag_id, run_id))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m andon_cli.dag_runs <dag_id> <run_id>", file=sys.stderr)
        return 2
    dag_id, run_id = args
    problems = check_run(dag_id, run_id)
    if problems:
        print(f"{dag_id} run {run_id} did not do its work; tasks not run or not successful: "
              + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
