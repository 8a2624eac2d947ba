"""Create price book version 1, so every figure has a version to name from the start."""

from decimal import Decimal

from django.db import migrations

# On-demand list prices of a typical public cloud region in 2026 (general-purpose nodes,
# SSD block storage, internet egress); operators replace them with their own.
DEFAULTS = {
    "currency": "USD",
    "cpu_per_core_hour": Decimal("0.031611"),
    "memory_per_gib_hour": Decimal("0.004237"),
    "storage_per_gib_month": Decimal("0.100000"),
    "per_million_vectors": Decimal("0.500000"),
    "network_per_gib": Decimal("0.090000"),
    "reserved_discount": Decimal("0.4000"),
    "spot_discount": Decimal("0.6500"),
}


def create_default(apps, schema_editor):
    PriceBook = apps.get_model("billing", "PriceBook")
    if not PriceBook.objects.exists():
        PriceBook.objects.create(version=1, note="Initial list prices", **DEFAULTS)


def remove_default(apps, schema_editor):
    apps.get_model("billing", "PriceBook").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create_default, remove_default)]
