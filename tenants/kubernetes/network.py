"""NetworkPolicies that isolate a tenant namespace while keeping DNS and the platform reachable.

The namespace starts from "deny all ingress and egress"; each further policy opens one path.
Policies are additive, so splitting them by purpose keeps each readable and lets an operator
see in ``kubectl get networkpolicy`` which path a packet would use.
"""

from __future__ import annotations

from typing import Any

from tenants.kubernetes.naming import NAMESPACE_NAME_LABEL

# RFC 1918 private ranges plus link-local, which holds the cloud metadata endpoint
# (169.254.169.254): HTTPS egress to "the internet" must never reach another tenant's pods or
# the node's credentials through them.
PRIVATE_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
)
DNS_NAMESPACE = "kube-system"
# CoreDNS keeps the kube-dns label for compatibility with the old kube-dns add-on.
DNS_POD_LABELS: dict[str, str] = {"k8s-app": "kube-dns"}
DNS_PORT = 53
HTTPS_PORT = 443


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}


def _same_namespace_peer() -> dict[str, Any]:
    # A podSelector without a namespaceSelector means "pods in this policy's namespace".
    return {"podSelector": {}}


def _policy(
    name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"podSelector": {}, **spec},
    }


def render_network_policies(
    *, namespace: str, platform_namespace: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Return the tenant's NetworkPolicies, default deny first.

    Guarantee: ingress only from the platform namespace and the tenant's own namespace; egress
    only to the tenant's own namespace, the platform namespace, kube-dns in kube-system on UDP
    and TCP 53 (case C17: without it every lookup fails, and TCP carries large answers), and
    TCP 443 to public addresses outside :data:`PRIVATE_CIDRS`. Other tenants' namespaces are
    never allowed.
    """
    dns_peer = {
        **_namespace_peer(DNS_NAMESPACE),
        # Same list item as the namespaceSelector: kube-dns pods *in* kube-system, not any
        # kube-system pod or any kube-dns-labelled pod elsewhere.
        "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
    }
    return [
        _policy("default-deny-all", namespace, labels, {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            "allow-ingress-platform-and-namespace",
            namespace,
            labels,
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [_namespace_peer(platform_namespace), _same_namespace_peer()]}
                ],
            },
        ),
        _policy(
            "allow-egress-dns",
            namespace,
            labels,
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [dns_peer],
                        "ports": [
                            {"protocol": "UDP", "port": DNS_PORT},
                            {"protocol": "TCP", "port": DNS_PORT},
                        ],
                    }
                ],
            },
        ),
        _policy(
            "allow-egress-platform-and-namespace",
            namespace,
            labels,
            {
                "policyTypes": ["Egress"],
                "egress": [{"to": [_namespace_peer(platform_namespace), _same_namespace_peer()]}],
            },
        ),
        _policy(
            "allow-egress-https-public",
            namespace,
            labels,
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_CIDRS)}}],
                        "ports": [{"protocol": "TCP", "port": HTTPS_PORT}],
                    }
                ],
            },
        ),
    ]
