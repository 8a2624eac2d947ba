"""Errors raised while rendering, validating and applying tenant namespace manifests.

Every class subclasses :class:`portal.exceptions.PortalError`, so a failure deep in
provisioning reaches the API and the admin pages with a stable ``code`` and a message that
says what to do next. The Kubernetes client adapter wraps library exceptions into these with
``raise ... from exc``; nothing from the ``kubernetes`` package escapes it.
"""

from __future__ import annotations

from portal.exceptions import PortalError, ServiceUnavailable

# One "unknown tier" error for the whole tenants app, whichever table lacked the tier.
from tenants.exceptions import UnknownTier

__all__ = [
    "InvalidKubernetesName",
    "InvalidNamespaceProfile",
    "KubernetesConfigInvalid",
    "KubernetesConflict",
    "KubernetesError",
    "KubernetesUnavailable",
    "KubernetesVersionUnsupported",
    "ManifestInvalid",
    "UnknownTier",
]


class InvalidKubernetesName(PortalError):
    """A slug, prefix, region or namespace cannot be used as a Kubernetes name or label."""

    code = "invalid_kubernetes_name"
    status_code = 400


class InvalidNamespaceProfile(PortalError):
    """A namespace profile contradicts itself (defaults above maxima, maxima above quota)."""

    code = "invalid_namespace_profile"
    status_code = 500


class ManifestInvalid(PortalError):
    """A rendered manifest fails schema validation or uses an API version that is not served."""

    code = "manifest_invalid"
    status_code = 500


class KubernetesVersionUnsupported(PortalError):
    """The offline schemas do not cover the requested Kubernetes version."""

    code = "kubernetes_version_unsupported"
    status_code = 500


class KubernetesConfigInvalid(PortalError):
    """The configured kubeconfig or in-cluster credentials cannot be loaded."""

    code = "kubernetes_config_invalid"
    status_code = 500


class KubernetesUnavailable(ServiceUnavailable):
    """The Kubernetes API server cannot be reached or answered with a server-side error."""

    code = "kubernetes_unavailable"
    status_code = 503


class KubernetesConflict(PortalError):
    """Server-side apply was refused because another field manager owns a field we set."""

    code = "kubernetes_conflict"
    status_code = 409


class KubernetesError(PortalError):
    """The Kubernetes API server rejected a request for a reason other than a conflict."""

    code = "kubernetes_error"
    status_code = 502
