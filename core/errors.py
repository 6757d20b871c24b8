"""The openEO error model: every failure a client sees is one of these, as JSON.

Codes and HTTP statuses follow the openEO API's errors.json; messages are meant for people.
"""

from __future__ import annotations

import uuid
from typing import Any


class OpenEOError(Exception):
    """An error with an openEO code and HTTP status."""

    code = "Internal"
    status = 500
    default_message = "Server error."

    def __init__(self, message: str | None = None, *, node: str | None = None, **fields: Any):
        self.message = message or self.default_message.format(**fields)
        self.node = node
        self.id = uuid.uuid4().hex[:16]
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "message": self.message,
            "links": [],
        }
        if self.node:
            doc["node"] = self.node
        return doc


def _error(code: str, status: int, message: str) -> type[OpenEOError]:
    return type(code, (OpenEOError,), {"code": code, "status": status, "default_message": message})


BadRequest = _error("BadRequest", 400, "The request is malformed.")
NotFound = _error("NotFound", 404, "Resource not found.")
MethodNotAllowed = _error("MethodNotAllowed", 405, "Method not allowed.")
ContentTypeInvalid = _error("ContentTypeInvalid", 400, "The media type is not supported.")
FeatureUnsupported = _error("FeatureUnsupported", 501, "Feature not supported.")
AuthenticationRequired = _error("AuthenticationRequired", 401, "Unauthorized.")
AuthenticationSchemeInvalid = _error(
    "AuthenticationSchemeInvalid", 403, "Authentication method not supported."
)
TokenInvalid = _error(
    "TokenInvalid", 403, "Authorization token has expired or is invalid. Please authenticate again."
)
CredentialsInvalid = _error("CredentialsInvalid", 403, "Credentials are not correct.")
CollectionNotFound = _error("CollectionNotFound", 404, "Collection '{identifier}' does not exist.")
ProcessGraphMissing = _error(
    "ProcessGraphMissing", 400, "Invalid process specified. It doesn't contain a process graph."
)
ProcessGraphInvalid = _error("ProcessGraphInvalid", 400, "Invalid process graph specified.")
ProcessGraphComplexity = _error(
    "ProcessGraphComplexity",
    400,
    "The process is too complex for synchronous processing. Please use a batch job instead.",
)
ProcessUnsupported = _error(
    "ProcessUnsupported",
    400,
    "Process with identifier '{process}' is not available in namespace '{namespace}'.",
)
ProcessParameterUnsupported = _error(
    "ProcessParameterUnsupported",
    400,
    "Process '{process}' does not support parameter '{parameter}'.",
)
ProcessParameterInvalid = _error(
    "ProcessParameterInvalid",
    400,
    "The value passed for parameter '{parameter}' in process '{process}' is invalid: {reason}",
)
ProcessParameterRequired = _error(
    "ProcessParameterRequired", 400, "Process '{process}' parameter '{parameter}' is required."
)
FormatUnsupported = _error("FormatUnsupported", 400, "Format '{format}' is not supported.")
NoDataAvailable = _error("NoDataAvailable", 400, "There is no data available for the request.")
Internal = _error("Internal", 500, "Server error: {reason}")
JobNotFound = _error("JobNotFound", 404, "The batch job '{identifier}' does not exist.")
JobLocked = _error(
    "JobLocked", 400, "Batch job is locked due to a queued or running batch computation."
)
JobNotFinished = _error(
    "JobNotFinished",
    400,
    "Batch job has not finished computing the results yet. Please try "
    "again later or contact our support.",
)
ResultLinkExpired = _error(
    "ResultLinkExpired",
    410,
    "The link to the batch job result has expired. Please request the results again.",
)
PermissionsInsufficient = _error(
    "PermissionsInsufficient",
    403,
    "Forbidden. The permissions of the authenticated account do "
    "not allow to request the requested resource.",
)
ProcessGraphNotFound = _error(
    "ProcessGraphNotFound", 404, "User-defined process '{identifier}' does not exist."
)
PredefinedProcessExists = _error(
    "PredefinedProcessExists", 400, "A predefined process with the given identifier exists."
)
PropertyNotEditable = _error(
    "PropertyNotEditable", 400, "The specified property '{property}' is read-only."
)
