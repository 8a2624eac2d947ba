"""The migrated template schema that new tenant schemas are made from.

Running every tenant migration for each signup takes seconds and grows with each migration
(case C23), so one schema, ``_tenant_template``, is migrated once and copied. The copy is
not made with django-tenants' ``clone_schema`` SQL function: it walks the catalog object by
object (about 1 s per tenant here) and its copies differ from migrated schemas (unique
constraints renamed, integer sequences turned bigint). Instead the template's definitions
are captured once per template with ``pg_dump --schema-only`` (PostgreSQL's own, exact
rendering of every table, default, identity, constraint and index) and replayed for each
tenant in one round trip and one transaction, with the schema name substituted; the
template's rows (migration records, content types, permissions) and sequence positions are
copied server-side in the same script. When no pg_dump can read the template (none
installed, all older than the server, or the template is not committed yet, as inside a
test transaction) the new schema is migrated instead: exact, only slower.

The template is rebuilt whenever its recorded migrations differ from the project's; a
rebuild replaces the schema (new OID), and the captured script is keyed by that OID, so a
stale script is never replayed. The template is only ever written by
:func:`ensure_template_schema`: hand edits of ``_tenant_template`` that keep its OID are not
picked up by processes that already captured it (``manage.py tenant_template --rebuild``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from tenants.exceptions import ProvisioningFailed

logger = logging.getLogger(__name__)

# Tenant schemas are named after slugs, which start with a letter, so no tenant can own this.
TEMPLATE_SCHEMA = "_tenant_template"

PG_DUMP_TIMEOUT_SECONDS = 60
# After pg_dump failed for a template, copies are migrated for this long before it is retried:
# a missing or too old pg_dump stays so, but a timeout under load may not.
PG_DUMP_RETRY_SECONDS = 600

# What the replayed script may name: a lowercase, unquoted PostgreSQL identifier.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# pg_dump writes the template's name unquoted (it needs no quotes) wherever it qualifies an
# object, including inside regclass literals such as nextval('_tenant_template.x_seq').
_TEMPLATE_REFERENCE = re.compile(rf'(?<![\w$"]){TEMPLATE_SCHEMA}(?![\w$"])')
# pg_dump's session settings; dropped so that replaying leaves the connection as it was.
_SESSION_SETTING = re.compile(r"^(?:SET \w+ = .*|SELECT pg_catalog\.set_config\(.*\));$", re.M)


@dataclass(frozen=True)
class TemplateScript:
    """The SQL that recreates the template under another name, captured for one template."""

    template_oid: int
    # The script split at every place that names the new schema.
    fragments: tuple[str, ...]

    def render(self, schema_name: str) -> str:
        return f'"{schema_name}"'.join(self.fragments)


@functools.cache
def _project_migrations() -> frozenset[tuple[str, str]]:
    """Every migration of the project; a migrated tenant schema records all of them."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def _recorded_migrations(schema: str) -> frozenset[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'"{schema}".django_migrations'])
        if cursor.fetchone()[0] is None:
            return frozenset()
        # The schema is TEMPLATE_SCHEMA or a tenant's schema, never raw user input.
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')  # noqa: S608
        return frozenset((app, name) for app, name in cursor.fetchall())


def _template_state() -> tuple[int | None, frozenset[tuple[str, str]]]:
    """Return the template's OID (None when missing) and the migrations it records."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid, to_regclass(%s) IS NOT NULL FROM pg_namespace WHERE nspname = %s",
            [f'"{TEMPLATE_SCHEMA}".django_migrations', TEMPLATE_SCHEMA],
        )
        row = cursor.fetchone()
        if row is None or not row[1]:
            return (None if row is None else int(row[0])), frozenset()
        # TEMPLATE_SCHEMA is a constant identifier.
        cursor.execute(f'SELECT app, name FROM "{TEMPLATE_SCHEMA}".django_migrations')  # noqa: S608
        return int(row[0]), frozenset((app, name) for app, name in cursor.fetchall())


def is_template_schema_current() -> bool:
    """Return whether the template schema exists with exactly the project's migrations."""
    oid, migrations = _template_state()
    return oid is not None and migrations == _project_migrations()


def migrate_new_schema(schema_name: str, *, replace: bool = False) -> None:
    """Create ``schema_name`` by running every tenant migration: exact, but seconds long.

    The migrations run in a schema with a temporary name, renamed in one transaction at the
    end, so nobody ever sees a half-migrated schema under ``schema_name``. With ``replace``
    an existing schema of that name is dropped in the same transaction. Side effects:
    creates the schema; on failure nothing is left behind.
    """
    schema_name = _checked_schema_name(schema_name)
    # Tenant schemas start with a letter, so no tenant can own a name starting with "_".
    staging = f"_{schema_name[:50]}_{secrets.token_hex(4)}"
    is_staging_created = False
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{staging}"')
        is_staging_created = True
        call_command(
            "migrate_schemas", tenant=True, schema_name=staging, interactive=False, verbosity=0
        )
        connection.set_schema_to_public()
        with transaction.atomic(), connection.cursor() as cursor:
            if replace:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
            cursor.execute(f'ALTER SCHEMA "{staging}" RENAME TO "{schema_name}"')
    except BaseException:
        connection.set_schema_to_public()
        if is_staging_created:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{staging}" CASCADE')
        raise


def ensure_template_schema(*, rebuild: bool = False) -> bool:
    """Build the migrated template schema unless a current one exists; return True if built.

    A concurrent copy sees either the old template or the complete new one, never a
    half-migrated schema (see :func:`migrate_new_schema`). Two processes that find it stale
    at once both rebuild it, which wastes time but is safe: the last rename wins, and a script
    captured from the replaced one is keyed by its OID and so never used again. Side effects:
    creates (and replaces) the template schema.
    """
    return _current_template(rebuild=rebuild)[1]


def _current_template(*, rebuild: bool = False) -> tuple[int, bool]:
    """Return the OID of a current template, building it first when needed, and whether
    it was built."""
    oid, migrations = _template_state()
    if not rebuild and oid is not None and migrations == _project_migrations():
        return oid, False
    migrate_new_schema(TEMPLATE_SCHEMA, replace=True)
    logger.info("tenants.template_schema.built", extra={"schema": TEMPLATE_SCHEMA})
    oid, _ = _template_state()
    if oid is None:  # pragma: no cover - the rename above just created it
        raise ProvisioningFailed("The template schema vanished right after it was built.")
    return oid, True


def create_schema_from_template(schema_name: str) -> str:
    """Create ``schema_name`` as a copy of the (current) template; return the method used.

    Return ``"replayed"`` when the captured script created it, in one transaction. When no
    script can be had, return ``"migrated"`` after running the migrations instead (seconds;
    django-tenants' clone function is not used because its copies differ from migrated
    schemas: renamed unique constraints, bigint instead of integer sequences). Raise
    :class:`ProvisioningFailed` for a name that is not a plain lowercase identifier. Side
    effects: may rebuild the template (see :func:`ensure_template_schema`) and run
    ``pg_dump`` once per template.
    """
    schema_name = _checked_schema_name(schema_name)
    template_oid, _ = _current_template()
    script = _script_for_template(template_oid)
    if script is None:
        migrate_new_schema(schema_name)
        return "migrated"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(script.render(schema_name))
    return "replayed"


def template_copy_method() -> str:
    """Return how new schemas will be made from the current template: "replayed" or
    "migrated" (when no pg_dump can read it; see the warnings logged). Captures the script."""
    template_oid, _ = _current_template()
    return "migrated" if _script_for_template(template_oid) is None else "replayed"


def _checked_schema_name(schema_name: str) -> str:
    if not _SCHEMA_NAME.fullmatch(schema_name):
        raise ProvisioningFailed(
            f"The schema name {schema_name!r} is not a lowercase PostgreSQL identifier "
            "(letters, digits, underscores; at most 63); tenant slugs always give one, so "
            "fix the tenant's schema_name."
        )
    return schema_name


# The captured script of the current template, and when pg_dump last failed, per template OID.
_script_lock = threading.Lock()
_captured: TemplateScript | None = None
_failed_oids: dict[int, float] = {}


def _script_for_template(oid: int) -> TemplateScript | None:
    """Return the script of the template with this OID, capturing it if needed."""
    global _captured
    with _script_lock:
        if _captured is not None and _captured.template_oid == oid:
            return _captured
        failed_at = _failed_oids.get(oid)
        if failed_at is not None and _now() - failed_at < PG_DUMP_RETRY_SECONDS:
            return None
        script = _capture_script(oid)
        if script is not None:
            _captured = script
        return script


def _now() -> float:
    return time.monotonic()


def forget_captured_script() -> None:
    """Drop the captured script, so that the next copy captures it again (tests)."""
    global _captured
    with _script_lock:
        _captured = None
        _failed_oids.clear()


def _capture_script(template_oid: int) -> TemplateScript | None:
    """Dump the template's definitions and build its replay script, or return None.

    A second connection exports a snapshot in which the template must have the OID this
    connection sees; pg_dump reads that very snapshot, so the script matches this template
    even while another process rebuilds it. None means "migrate instead".
    """
    candidates = _pg_dump_candidates()
    if not candidates:
        logger.warning("tenants.template_schema.pg_dump_missing", extra={"oid": template_oid})
        _failed_oids[template_oid] = _now()
        return None
    info = connection.connection.info
    with psycopg.connect(info.dsn, password=info.password or None) as snapshot_connection:
        snapshot_connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snapshot, committed_oid = snapshot_connection.execute(
            "SELECT pg_export_snapshot(), (SELECT oid FROM pg_namespace WHERE nspname = %s)",
            [TEMPLATE_SCHEMA],
        ).fetchone()
        if committed_oid != template_oid:
            # Built or rebuilt inside this connection's open transaction: invisible to others.
            logger.info(
                "tenants.template_schema.not_committed",
                extra={"oid": template_oid, "committed_oid": committed_oid},
            )
            return None
        dumped = _dump_definitions(candidates, info, snapshot)
        if dumped is None:
            _failed_oids[template_oid] = _now()
            return None
        copies = _data_copy_statements(snapshot_connection)
    definitions, constraints = dumped
    if f'"{TEMPLATE_SCHEMA}"' in definitions + constraints:
        # Never expected (the name needs no quotes), but a quoted reference would escape the
        # substitution and tie the new schema to the template.
        logger.warning("tenants.template_schema.unexpected_dump", extra={"oid": template_oid})
        _failed_oids[template_oid] = _now()
        return None
    script = "\n".join([definitions, *copies, constraints])
    logger.info(
        "tenants.template_schema.script_captured",
        extra={"oid": template_oid, "script_bytes": len(script), "statements_copied": len(copies)},
    )
    return TemplateScript(template_oid, tuple(_TEMPLATE_REFERENCE.split(script)))


def _dump_definitions(
    candidates: list[Path], info: psycopg.ConnectionInfo, snapshot: str
) -> tuple[str, str] | None:
    """Return the template's pre-data and post-data definitions from the first pg_dump that
    works, or None (logged) when none does."""
    for pg_dump in candidates:
        try:
            return (
                _dump_section(pg_dump, info, snapshot, "pre-data"),
                _dump_section(pg_dump, info, snapshot, "post-data"),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            error = getattr(exc, "stderr", None) or str(exc)
            logger.warning(
                "tenants.template_schema.pg_dump_failed",
                extra={"pg_dump": str(pg_dump), "error": error[-500:]},
            )
    return None


def _pg_dump_candidates() -> list[Path]:
    """The pg_dump shipped with the embedded server (it matches it), then the one on PATH.

    A pg_dump refuses servers newer than itself, so a production server newer than the
    bundled one needs a matching pg_dump on PATH.
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.is_file():
            candidates.append(bundled)
    found = shutil.which("pg_dump")
    if found and Path(found) not in candidates:
        candidates.append(Path(found))
    return candidates


def _dump_section(pg_dump: Path, info: psycopg.ConnectionInfo, snapshot: str, section: str) -> str:
    env = {"PGPASSWORD": info.password} if info.password else {}
    completed = subprocess.run(  # noqa: S603 -- fixed binary, arguments are not user input
        [
            str(pg_dump),
            f"--dbname={info.dsn}",
            f"--snapshot={snapshot}",
            f"--schema={TEMPLATE_SCHEMA}",
            "--strict-names",
            f"--section={section}",
            "--no-owner",
            "--no-privileges",
            "--no-tablespaces",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=PG_DUMP_TIMEOUT_SECONDS,
        check=True,
    )
    return _SESSION_SETTING.sub("", completed.stdout)


def _data_copy_statements(snapshot_connection: psycopg.Connection) -> list[str]:
    """Statements copying the template's rows and sequence positions into the new schema.

    The target is written as the template's bare name, which the script substitutes; the
    source is quoted, so it stays the template. Rows are copied before the constraints and
    indexes exist, as pg_dump orders a restore.
    """
    rows = snapshot_connection.execute(
        """
        SELECT c.relname, c.relkind,
               array_agg(a.attname::text ORDER BY a.attnum)
                   FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'S')
        GROUP BY c.relname, c.relkind
        ORDER BY c.relname
        """,
        [TEMPLATE_SCHEMA],
    ).fetchall()
    # Names come from the template's catalog and are quoted; no user input reaches this SQL.
    statements = []
    for name, kind, columns in rows:
        relation = _quoted(name)
        if kind == "S":
            literal = f"{TEMPLATE_SCHEMA}.{relation}".replace("'", "''")
            statements.append(
                f"SELECT pg_catalog.setval('{literal}', s.last_value, s.is_called) "  # noqa: S608
                f'FROM "{TEMPLATE_SCHEMA}".{relation} s;'
            )
        elif columns:
            listed = ", ".join(_quoted(column) for column in columns)
            statements.append(
                f"INSERT INTO {TEMPLATE_SCHEMA}.{relation} ({listed}) "  # noqa: S608
                f'OVERRIDING SYSTEM VALUE SELECT {listed} FROM "{TEMPLATE_SCHEMA}".{relation};'
            )
    return statements


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
