from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Members, invitations and API tokens; lives in each tenant's schema."""

    name = "tenants.accounts"
    label = "accounts"
    verbose_name = "Tenant accounts"
