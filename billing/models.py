"""The versioned price book (public schema): a new version is written for every edit, so a
figure computed with an older version can always be explained."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class PriceBook(models.Model):
    version = models.PositiveIntegerField(unique=True)
    currency = models.CharField(max_length=3, default="USD")
    cpu_per_core_hour = models.DecimalField(max_digits=12, decimal_places=6)
    memory_per_gib_hour = models.DecimalField(max_digits=12, decimal_places=6)
    storage_per_gib_month = models.DecimalField(max_digits=12, decimal_places=6)
    per_million_vectors = models.DecimalField(
        max_digits=12, decimal_places=6, help_text="Per million vectors stored, per month."
    )
    network_per_gib = models.DecimalField(max_digits=12, decimal_places=6)
    # Fractions off the on-demand price, between 0 and 1.
    reserved_discount = models.DecimalField(max_digits=5, decimal_places=4)
    spot_discount = models.DecimalField(max_digits=5, decimal_places=4)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"price book v{self.version} ({self.currency})"

    PRICE_FIELDS = (
        "cpu_per_core_hour",
        "memory_per_gib_hour",
        "storage_per_gib_month",
        "per_million_vectors",
        "network_per_gib",
        "reserved_discount",
        "spot_discount",
    )

    def prices(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in self.PRICE_FIELDS}
