"""Copy plotly.min.js from the installed plotly package into static/capacity/ (build step).

Charts load Plotly from our own static files (no CDN); run this after upgrading plotly so
the served copy matches the pinned package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import plotly
from django.conf import settings
from django.core.management.base import BaseCommand


def installed_plotly_js() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def vendored_plotly_js() -> Path:
    return Path(settings.BASE_DIR) / "static" / "capacity" / "plotly.min.js"


class Command(BaseCommand):
    help = "Copy plotly.min.js from the installed plotly package into static/capacity/."

    def handle(self, *args: Any, **options: Any) -> None:
        target = vendored_plotly_js()
        shutil.copyfile(installed_plotly_js(), target)
        self.stdout.write(f"Copied plotly {plotly.__version__} to {target}.")
