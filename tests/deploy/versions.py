"""Version facts the deployment files must agree with, read from requirements.txt."""

from __future__ import annotations

import re
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def requirement_version(package: str) -> str:
    """Return the exact version ``package`` is pinned to in requirements.txt."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def requirement_names() -> set[str]:
    """Return the names of every package pinned in requirements.txt."""
    names = set()
    for line in REQUIREMENTS.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            names.add(re.split(r"[\[=]", line, maxsplit=1)[0].strip())
    return names


def qdrant_image_is_compatible(image: str) -> bool:
    """True when the Qdrant server image is within one minor version of qdrant-client.

    qdrant-client checks the server version on connect and rejects servers whose minor
    version differs from its own by more than one.
    """
    match = re.search(r":v(\d+)\.(\d+)\.\d+", image)
    if match is None:
        return False
    client = requirement_version("qdrant-client").split(".")
    return int(match[1]) == int(client[0]) and abs(int(match[2]) - int(client[1])) <= 1
