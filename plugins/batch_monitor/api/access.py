"""Who may see and change what: Airflow's own security dependencies, applied per workflow.

Every workflow is watched by the DAG ``batch_monitor_<workflow_id>``. Reading a workflow's
timeline, runs and alerts needs read access to that DAG's runs; acknowledging or resolving
its alerts needs write access (``PUT`` on the DAG's runs), exactly as Airflow's auth manager
decides it (SimpleAuthManager: viewer reads, user/op/admin write).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, HTTPException, Request, status

Method = Literal["GET", "PUT"]

# Resolves the caller from the Bearer header or the UI's `_token` cookie: no token → 401.
UserDep = Annotated[BaseUser, Depends(get_user)]


def dag_id_of(workflow_id: str) -> str:
    """The monitoring DAG of a workflow (WorkflowConfig.dag_id)."""
    return f"batch_monitor_{workflow_id}"


def may(request: Request, user: BaseUser, method: Method, workflow_id: str) -> bool:
    """Whether ``user`` may read (GET) or change (PUT) the runs of the workflow's DAG."""
    check = requires_access_dag(method, DagAccessEntity.RUN, param_dag_id=dag_id_of(workflow_id))
    try:
        check(request, user)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_403_FORBIDDEN:
            return False
        raise
    return True


def require(request: Request, user: BaseUser, method: Method, workflow_id: str) -> None:
    """Raise 403 unless ``user`` may ``method`` the workflow."""
    if not may(request, user, method, workflow_id):
        action = "read" if method == "GET" else "acknowledge or resolve alerts of"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"user {user.get_name()!r} may not {action} workflow {workflow_id!r} "
            f"(needs {'read' if method == 'GET' else 'edit'} access to DAG {dag_id_of(workflow_id)!r})",
        )


def readable(request: Request, user: BaseUser, workflow_ids: Iterable[str]) -> list[str]:
    """The workflows among ``workflow_ids`` whose data ``user`` may read."""
    return [w for w in workflow_ids if may(request, user, "GET", w)]
