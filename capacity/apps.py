from django.apps import AppConfig


class CapacityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "capacity"
    verbose_name = "Capacity: measurements, charts, plans and forecasts"

    def ready(self) -> None:
        from capacity import signals  # noqa: F401 -- connects the Celery signal receivers
