"""deploy/compose.yaml and deploy/env.example: a complete stack with ordered, checked startup."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.versions import qdrant_image_is_compatible

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_FILE = DEPLOY_DIR / "compose.yaml"
ENV_EXAMPLE = DEPLOY_DIR / "env.example"

SERVICES = {"postgres", "redis", "qdrant", "migrate", "web", "worker", "beat"}
PORTAL_SERVICES = {"migrate", "web", "worker", "beat"}
SECRET_VARIABLES = {
    "DJANGO_SECRET_KEY",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "QDRANT__SERVICE__API_KEY",
    "QDRANT_API_KEY",
}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _dockerfile_has_healthcheck() -> bool:
    return any(
        line.startswith("HEALTHCHECK ")
        for line in (DEPLOY_DIR / "Dockerfile").read_text().splitlines()
    )


class TestServices:
    def test_stack_has_the_databases_the_migration_and_every_portal_process(self):
        assert set(_compose()["services"]) == SERVICES

    def test_portal_services_build_the_production_image_from_the_repository_root(self):
        services = _compose()["services"]
        for name in PORTAL_SERVICES:
            build = services[name]["build"]
            assert (DEPLOY_DIR / build["context"]).resolve() == DEPLOY_DIR.parent
            assert build["dockerfile"] == "deploy/Dockerfile"
            assert services[name]["read_only"] is True
            assert "/tmp" in services[name]["tmpfs"]

    def test_every_long_running_service_has_a_healthcheck(self):
        for name, service in _compose()["services"].items():
            if name == "migrate":
                assert service["healthcheck"] == {"disable": True}
                continue
            check = service.get("healthcheck")
            if check is None:
                # Only the web role may rely on the image's own HEALTHCHECK.
                assert name == "web" and "build" in service and _dockerfile_has_healthcheck()
            else:
                assert not check.get("disable") and check["test"], name

    def test_startup_waits_for_healthy_backends_and_a_finished_migration(self):
        services = _compose()["services"]

        assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert services["migrate"]["restart"] == "no"
        for name in ("web", "worker", "beat"):
            depends = services[name]["depends_on"]
            assert depends["migrate"] == {"condition": "service_completed_successfully"}
            assert depends["redis"] == {"condition": "service_healthy"}
        for name in ("web", "worker"):
            assert services[name]["depends_on"]["qdrant"] == {"condition": "service_healthy"}

    def test_every_healthy_condition_points_at_a_service_with_a_healthcheck(self):
        services = _compose()["services"]
        for name, service in services.items():
            for target, condition in (service.get("depends_on") or {}).items():
                if condition["condition"] == "service_healthy":
                    assert "healthcheck" in services[target], (name, target)

    def test_migration_runs_shared_then_tenant_schemas(self):
        command = " ".join(_compose()["services"]["migrate"]["command"])

        assert command.index("migrate_schemas --shared") < command.index("migrate_schemas --tenant")

    def test_data_lives_in_declared_named_volumes(self):
        compose = _compose()
        declared = set(compose["volumes"])
        for name, service in compose["services"].items():
            for volume in service.get("volumes", []):
                source = volume.split(":", 1)[0]
                if not source.startswith((".", "/")):
                    assert source in declared, (name, volume)
        services = compose["services"]
        assert "checkouts:/app/var/checkouts" in services["web"]["volumes"]
        assert "checkouts:/app/var/checkouts" in services["worker"]["volumes"]

    def test_images_are_pinned_and_qdrant_matches_the_client(self):
        services = _compose()["services"]
        for name, service in services.items():
            image = service["image"]
            assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), name
        assert services["postgres"]["image"].startswith("postgres:16")
        assert services["redis"]["image"].startswith("redis:7")
        assert qdrant_image_is_compatible(services["qdrant"]["image"])

    def test_only_the_web_port_is_published_and_only_on_loopback(self):
        for name, service in _compose()["services"].items():
            ports = service.get("ports", [])
            if name == "web":
                assert ports == ["127.0.0.1:8000:8000"]
            else:
                assert ports == [], name


class TestEnvExample:
    def test_every_variable_compose_interpolates_is_in_the_example(self):
        text = COMPOSE_FILE.read_text()
        # ${NAME...} is interpolated by compose; $${NAME} and $$NAME reach the container's shell.
        interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))

        assert interpolated
        assert interpolated <= set(_env_example())

    def test_example_holds_no_real_secret(self):
        values = _env_example()
        for key in SECRET_VARIABLES:
            assert "CHANGE-ME" in values[key], key
        for key in ("DATABASE_URL", "REDIS_URL"):
            assert "CHANGE-ME" in values[key], key

    def test_connection_urls_agree_with_the_server_credentials(self):
        values = _env_example()

        assert (
            f":{values['POSTGRES_PASSWORD']}@postgres:5432/{values['POSTGRES_DB']}"
            in (values["DATABASE_URL"])
        )
        assert values["DATABASE_URL"].startswith(f"postgres://{values['POSTGRES_USER']}:")
        assert values["REDIS_URL"] == f"redis://:{values['REDIS_PASSWORD']}@redis:6379/0"
        assert values["QDRANT_API_KEY"] == values["QDRANT__SERVICE__API_KEY"]
        assert values["QDRANT_URL"] == "http://qdrant:6333"
        assert values["PORTAL_ENV"] == "production"

    def test_worker_check_pings_its_own_node_and_beat_check_reads_its_schedule(self):
        services = _compose()["services"]
        worker_check = " ".join(services["worker"]["healthcheck"]["test"])
        beat_check = " ".join(services["beat"]["healthcheck"]["test"])
        schedule = next(
            arg.split("=", 1)[1]
            for arg in services["beat"]["command"]
            if arg.startswith("--schedule=")
        )

        assert "--hostname=worker@%h" in services["worker"]["command"]
        assert "--destination worker@$$HOSTNAME" in worker_check
        assert "REMAP_SIGTERM" not in services["worker"].get("environment", {})
        assert f"glob.glob('{schedule}*')" in beat_check
