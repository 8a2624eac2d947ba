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


# The code start_index_job refuses with (429) when the tenant's plan already runs as many
# index jobs as it allows (``concurrent_index_jobs``).
INDEX_JOB_LIMIT_CODE = "quota_concurrent_index_jobs"
# Retry-After for that refusal. A job limit has no natural reset time: the slot frees when
# the running job ends, which takes seconds for a small repository and minutes for a large
# one. Five seconds matches how often the job page checks a job (every second while it runs,
# every three after an error) without letting a client poll the API in a tight loop.
INDEX_JOB_LIMIT_RETRY_SECONDS = 5
