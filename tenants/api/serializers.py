from __future__ import annotations

from rest_framework import serializers

from tenants.models import ProvisioningStep, Tenant
from tenants.tiers import DEFAULT_TIER, TIERS


class SignupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Organization name.")
    slug = serializers.CharField(
        max_length=40, help_text="Lowercase letters, digits and hyphens; becomes <slug>.<domain>."
    )
    admin_email = serializers.EmailField()
    password = serializers.CharField(write_only=True, min_length=1, max_length=256)
    tier = serializers.ChoiceField(choices=list(TIERS), default=DEFAULT_TIER)


class ProvisioningStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProvisioningStep
        fields = ["name", "status", "attempts", "started_at", "finished_at"]


class TenantStatusSerializer(serializers.ModelSerializer):
    steps = ProvisioningStepSerializer(many=True)
    domain = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = [
            "slug",
            "name",
            "tier",
            "isolation_mode",
            "status",
            "status_detail",
            "domain",
            "steps",
            "created_at",
            "ready_at",
        ]

    def get_domain(self, tenant: Tenant) -> str | None:
        domain = tenant.domains.filter(is_primary=True).first()
        return domain.domain if domain else None


class SignupResponseSerializer(serializers.Serializer):
    tenant = TenantStatusSerializer()
    domain = serializers.CharField()
    url = serializers.CharField()
    status_url = serializers.CharField()
    api_token = serializers.CharField(help_text="Shown once; only its digest is stored.")
