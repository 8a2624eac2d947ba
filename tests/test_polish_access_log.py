"""Gunicorn's access log names the Host of each request, and so the tenant."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from gunicorn.config import Config
from gunicorn.glogging import Logger

from portal import gunicorn_conf


class _Response:
    status = "200 OK"
    headers: list[tuple[str, str]] = []
    response_length = 42
    sent = 42


class _Request:
    headers = [("HOST", "Acme.localhost:8000"), ("USER-AGENT", "curl/8")]


def test_access_log_line_carries_the_host_header():
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", gunicorn_conf.access_log_format)
    access = Logger(config)
    stream = io.StringIO()
    access.access_log.handlers = [logging.StreamHandler(stream)]
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/search/?q=x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "q=x",
    }

    access.access(_Response(), _Request(), environ, timedelta(milliseconds=12))

    line = stream.getvalue()
    assert 'host="Acme.localhost:8000"' in line
    assert '"GET /api/v1/search/?q=x HTTP/1.1" 200 42' in line
