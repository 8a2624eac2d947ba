"""The Celery app and the base class every tenant task uses.

A tenant task receives the tenant's schema name as its first argument and runs inside that
schema. A message without one fails loudly instead of running against the public schema
(case C01), and the schema travels in the arguments, so chains and groups keep it.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun

from portal import logging as log_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tenants", "search", "capacity", "billing"])


class MissingTenant(RuntimeError):
    """A tenant task arrived without a tenant schema."""


class TenantTask(Task):
    """Run the task body inside the schema named by its first argument."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from django.conf import settings
        from django_tenants.utils import get_tenant_model, tenant_context

        schema_name = args[0] if args else kwargs.get("schema_name")
        if not isinstance(schema_name, str) or schema_name == settings.PUBLIC_SCHEMA_NAME:
            raise MissingTenant(
                f"Task {self.name} needs a tenant schema as its first argument, got "
                f"{schema_name!r}; it refuses to run against the public schema."
            )
        tenant = get_tenant_model().objects.filter(schema_name=schema_name).first()
        if tenant is None:
            raise MissingTenant(f"Task {self.name}: no tenant with schema {schema_name!r}.")
        log_context.bind(tenant=schema_name)
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, **_: Any) -> None:
    log_context.clear()
    log_context.bind(task_id=task_id)


@task_postrun.connect
def _clear_task_context(**_: Any) -> None:
    log_context.clear()
