"""Tenant schemas copied from the template are indistinguishable from migrated ones (issue 4).

The copy is made by replaying a script captured from the template with pg_dump, or by
running the migrations when pg_dump cannot be used; both must give a schema whose
catalog (tables, columns, defaults, identities, constraints, indexes, sequences, triggers,
functions) and seeded rows equal those of a schema migrated from scratch.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context

from tenants.services import schema_template
from tenants.services.schema_template import (
    PG_DUMP_RETRY_SECONDS,
    TEMPLATE_SCHEMA,
    create_schema_from_template,
    forget_captured_script,
    migrate_new_schema,
    template_copy_method,
)

CATALOG_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, pg_get_userbyid(c.relowner),
               coalesce(c.relacl::text, ''), coalesce(c.reloptions::text, '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s ORDER BY 1
    """,
    "schema": """
        SELECT pg_get_userbyid(nspowner), coalesce(nspacl::text, '')
        FROM pg_namespace WHERE nspname = %(schema)s
    """,
    "columns": """
        SELECT c.relname,
               row_number() OVER (PARTITION BY c.relname ORDER BY a.attnum),
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
               a.attgenerated, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               coalesce(co.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE n.nspname = %(schema)s AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind IN ('r', 'p', 'v', 'm')
        ORDER BY 1, 2
    """,
    "constraints": """
        SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.condeferrable, con.condeferred, con.convalidated
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s ORDER BY 1, 2
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = %(schema)s ORDER BY 1, 2
    """,
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by,
               cycle, cache_size, last_value
        FROM pg_sequences WHERE schemaname = %(schema)s ORDER BY 1
    """,
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname, d.deptype
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE n.nspname = %(schema)s ORDER BY 1
    """,
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND NOT t.tgisinternal ORDER BY 1, 2
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %(schema)s ORDER BY 1, 2
    """,
    "comments": """
        SELECT c.relname, d.objsubid, d.description
        FROM pg_description d
        JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s ORDER BY 1, 2
    """,
}

# The rows migrations and their post_migrate handlers write into a new tenant schema.
SEEDED_ROWS = {
    "django_migrations": "SELECT app, name FROM {schema}.django_migrations ORDER BY 1, 2",
    "django_content_type": "SELECT * FROM {schema}.django_content_type ORDER BY id",
    "auth_permission": "SELECT * FROM {schema}.auth_permission ORDER BY id",
}


def describe_schema(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything that makes a schema what it is, with its own name replaced by a marker."""

    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(f'"{schema}".', "<schema>.").replace(f"{schema}.", "<schema>.")
        return value

    described: dict[str, list[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for name, sql in CATALOG_QUERIES.items():
            cursor.execute(sql, {"schema": schema})
            described[name] = [tuple(map(normalise, row)) for row in cursor.fetchall()]
        for table, sql in SEEDED_ROWS.items():
            cursor.execute(sql.format(schema=f'"{schema}"'))
            described[f"rows:{table}"] = [tuple(row) for row in cursor.fetchall()]
    return described


def assert_same_schema(copy: str, reference: str) -> None:
    expected = describe_schema(reference)
    actual = describe_schema(copy)
    assert expected["relations"], "the reference schema is empty"
    differences = [
        f"{aspect}: only in {copy}: {sorted(set(actual[aspect]) - set(rows))[:5]}; "
        f"only in {reference}: {sorted(set(rows) - set(actual[aspect]))[:5]}"
        for aspect, rows in expected.items()
        if actual[aspect] != rows
    ]
    assert not differences, "\n".join(differences)


@pytest.fixture
def fresh_script_cache() -> Iterator[None]:
    """Start and end with no captured script, so a patched pg_dump cannot leak into others."""
    forget_captured_script()
    yield
    forget_captured_script()


@pytest.mark.django_db
def test_replayed_and_fallback_schemas_match_a_freshly_migrated_schema(
    acme, monkeypatch, fresh_script_cache
):
    migrate_new_schema("reference_migrated")

    assert create_schema_from_template("replayed_copy") == "replayed"
    assert_same_schema("replayed_copy", "reference_migrated")

    monkeypatch.setattr(schema_template, "_pg_dump_candidates", lambda: [])
    forget_captured_script()
    assert create_schema_from_template("fallback_copy") == "migrated"
    assert_same_schema("fallback_copy", "reference_migrated")


@pytest.mark.django_db
def test_signup_replays_the_template_and_migrate_schemas_has_nothing_left_to_apply(acme):
    schema = acme.tenant.schema_name
    step = acme.tenant.steps.get(name="schema")
    assert step.detail == {"schema": schema, "copied_from": TEMPLATE_SCHEMA, "method": "replayed"}

    with schema_context(schema):
        executor = MigrationExecutor(connection)
        assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    output = io.StringIO()
    call_command(
        "migrate_schemas", tenant=True, schema_name=schema, interactive=False, stdout=output
    )
    connection.set_schema_to_public()
    assert "No migrations to apply" in output.getvalue()


@pytest.mark.django_db
def test_copied_schema_sequences_continue_after_the_template_rows(acme, fresh_script_cache):
    from django.contrib.contenttypes.models import ContentType

    assert create_schema_from_template("sequence_copy") == "replayed"
    with schema_context("sequence_copy"):
        highest = ContentType.objects.order_by("-pk").first()
        assert highest is not None
        added = ContentType.objects.create(app_label="probe", model="probe")
        assert added.pk > highest.pk


@pytest.mark.django_db
def test_copy_is_refused_for_a_schema_name_that_is_not_a_plain_identifier(public_tenant):
    from tenants.exceptions import ProvisioningFailed

    with pytest.raises(ProvisioningFailed) as raised:
        create_schema_from_template('bad"; DROP SCHEMA public; --')
    assert raised.value.code == "provisioning_failed"
    assert "lowercase PostgreSQL identifier" in str(raised.value)


@pytest.mark.django_db
def test_next_pg_dump_is_tried_when_one_fails_and_the_failure_is_logged(
    acme, monkeypatch, caplog, fresh_script_cache
):
    working = schema_template._pg_dump_candidates()
    failing = Path("/bin/false")

    monkeypatch.setattr(schema_template, "_pg_dump_candidates", lambda: [failing, *working])
    with caplog.at_level(logging.WARNING, logger=schema_template.__name__):
        assert template_copy_method() == "replayed"

    failures = [r for r in caplog.records if r.msg == "tenants.template_schema.pg_dump_failed"]
    assert [r.pg_dump for r in failures] == [str(failing)]


@pytest.mark.django_db
def test_failed_capture_migrates_until_the_retry_delay_has_passed(
    acme, monkeypatch, fresh_script_cache
):
    working = schema_template._pg_dump_candidates
    clock = [1000.0]
    monkeypatch.setattr(schema_template, "_now", lambda: clock[0])
    monkeypatch.setattr(schema_template, "_pg_dump_candidates", lambda: [Path("/bin/false")])
    assert template_copy_method() == "migrated"

    monkeypatch.setattr(schema_template, "_pg_dump_candidates", working)
    clock[0] += PG_DUMP_RETRY_SECONDS - 1
    assert template_copy_method() == "migrated"
    clock[0] += 2
    assert template_copy_method() == "replayed"


def test_script_is_captured_again_when_the_template_is_replaced(
    acme, django_db_blocker, fresh_script_cache
):
    """The script is keyed by the template's OID: a replaced template is dumped again.

    The template is swapped for a copy holding one extra table, committed (pg_dump reads
    committed data only), and swapped back at the end.
    """
    with django_db_blocker.unblock():
        try:
            assert create_schema_from_template("before_swap") == "replayed"
            old_oid = schema_template._captured.template_oid
            _replace_template_with_copy(extra_table="added_by_new_migration")

            assert create_schema_from_template("after_swap") == "replayed"

            assert schema_template._captured.template_oid != old_oid
            assert "added_by_new_migration" in _tables("after_swap")
            assert "added_by_new_migration" not in _tables("before_swap")
        finally:
            with connection.cursor() as cursor:
                cursor.execute('DROP SCHEMA IF EXISTS "before_swap" CASCADE')
                cursor.execute('DROP SCHEMA IF EXISTS "after_swap" CASCADE')
            _replace_template_with_copy(extra_table=None)


def _replace_template_with_copy(*, extra_table: str | None) -> None:
    """Swap the template for a copy of itself (a new OID), with or without an extra table."""
    from django.db import transaction

    create_schema_from_template("template_swap")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute('DROP TABLE IF EXISTS "template_swap".added_by_new_migration')
        if extra_table:
            cursor.execute(f'CREATE TABLE "template_swap"."{extra_table}" (id int)')
        cursor.execute(f'DROP SCHEMA "{TEMPLATE_SCHEMA}" CASCADE')
        cursor.execute(f'ALTER SCHEMA "template_swap" RENAME TO "{TEMPLATE_SCHEMA}"')


def _tables(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_tenant_template_command_reports_how_new_schemas_will_be_made(
    acme, monkeypatch, fresh_script_cache
):
    output = io.StringIO()
    call_command("tenant_template", stdout=output)
    assert "already current" in output.getvalue()
    assert "copied with its pg_dump script" in output.getvalue()

    monkeypatch.setattr(schema_template, "_pg_dump_candidates", lambda: [])
    forget_captured_script()
    output = io.StringIO()
    call_command("tenant_template", stdout=output)
    assert "new tenant schemas will be migrated one by one" in output.getvalue()
