from __future__ import annotations

from portal.exceptions import PortalError


class SearchError(PortalError):
    code = "search_error"


class RepositoryInvalid(SearchError):
    code = "repository_invalid"


class RepositoryNotFound(SearchError):
    code = "repository_not_found"
    status_code = 404


class JobNotFound(SearchError):
    code = "job_not_found"
    status_code = 404


class JobAlreadyRunning(SearchError):
    code = "job_already_running"
    status_code = 409


class QueryInvalid(SearchError):
    code = "query_invalid"
