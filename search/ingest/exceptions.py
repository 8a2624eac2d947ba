"""Errors raised while turning an uploaded archive or a checkout into source files."""

from __future__ import annotations

from portal.exceptions import PortalError


class IngestError(PortalError):
    """A repository's content cannot be ingested as given."""

    code = "ingest_error"
    status_code = 400


class ArchiveRejected(IngestError):
    """An uploaded archive is refused: wrong format, corrupt, or over a size limit."""

    code = "archive_rejected"
    status_code = 400
