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


class BadRequest(OpenEOError):
    code, status, default_message = "BadRequest", 400, "The request is malformed."


class NotFound(OpenEOError):
    code, status, default_message = "NotFound", 404, "Resource not found."


class MethodNotAllowed(OpenEOError):
    code, status, default_message = "MethodNotAllowed", 405, "Method not allowed."


class ContentTypeInvalid(OpenEOError):
    code, status, default_message = "ContentTypeInvalid", 400, "The media type is not supported."


class AuthenticationRequired(OpenEOError):
    code, status, default_message = "AuthenticationRequired", 401, "Unauthorized."


class AuthenticationSchemeInvalid(OpenEOError):
    code, status, default_message = (
        "AuthenticationSchemeInvalid",
        403,
        "Authentication method not supported.",
    )


class TokenInvalid(OpenEOError):
    code, status, default_message = (
        "TokenInvalid",
        403,
        "Authorization token has expired or is invalid. Please authenticate again.",
    )


class CredentialsInvalid(OpenEOError):
    code, status, default_message = "CredentialsInvalid", 403, "Credentials are not correct."


class CollectionNotFound(OpenEOError):
    code, status, default_message = (
        "CollectionNotFound",
        404,
        "Collection '{identifier}' does not exist.",
    )


class ProcessGraphMissing(OpenEOError):
    code, status, default_message = (
        "ProcessGraphMissing",
        400,
        "Invalid process specified. It doesn't contain a process graph.",
    )


class ProcessGraphInvalid(OpenEOError):
    code, status, default_message = "ProcessGraphInvalid", 400, "Invalid process graph specified."


class ProcessGraphComplexity(OpenEOError):
    code, status, default_message = (
        "ProcessGraphComplexity",
        400,
        "The process is too complex for synchronous processing. Please use a batch job instead.",
    )


class ProcessUnsupported(OpenEOError):
    code, status, default_message = (
        "ProcessUnsupported",
        400,
        "Process with identifier '{process}' is not available in namespace '{namespace}'.",
    )


class ProcessParameterUnsupported(OpenEOError):
    code, status, default_message = (
        "ProcessParameterUnsupported",
        400,
        "Process '{process}' does not support parameter '{parameter}'.",
    )


class ProcessParameterInvalid(OpenEOError):
    code, status, default_message = (
        "ProcessParameterInvalid",
        400,
        "The value passed for parameter '{parameter}' in process '{process}' is invalid: {reason}",
    )


class ProcessParameterRequired(OpenEOError):
    code, status, default_message = (
        "ProcessParameterRequired",
        400,
        "Process '{process}' parameter '{parameter}' is required.",
    )


class FormatUnsupported(OpenEOError):
    code, status, default_message = "FormatUnsupported", 400, "Format '{format}' is not supported."


class NoDataAvailable(OpenEOError):
    code, status, default_message = (
        "NoDataAvailable",
        400,
        "There is no data available for the request.",
    )


class InvalidRuntime(OpenEOError):
    code, status, default_message = (
        "InvalidRuntime",
        400,
        "The UDF runtime '{runtime}' is not supported; GET /udf_runtimes lists them.",
    )


class InvalidVersion(OpenEOError):
    code, status, default_message = (
        "InvalidVersion",
        400,
        "Version '{version}' of the UDF runtime '{runtime}' is not supported; "
        "GET /udf_runtimes lists them.",
    )


class FileNotFound(OpenEOError):
    code, status, default_message = "FileNotFound", 404, "The file does not exist."


class UdfError(OpenEOError):
    """The user's UDF failed, ran out of time or memory, or answered with something that is
    not a data cube; the message names the UDF's own line where there is one."""

    code, status, default_message = "UdfError", 400, "The UDF failed: {reason}"


class UdfUnavailable(OpenEOError):
    code, status, default_message = (
        "UdfUnavailable",
        501,
        "run_udf is not available on this server: {reason}",
    )


class ServiceUnavailable(OpenEOError):
    code, status, default_message = (
        "ServiceUnavailable",
        503,
        "Service is unavailable at the moment: {reason}",
    )


class Internal(OpenEOError):
    code, status, default_message = "Internal", 500, "Server error: {reason}"


class JobNotFound(OpenEOError):
    code, status, default_message = (
        "JobNotFound",
        404,
        "The batch job '{identifier}' does not exist.",
    )


class JobLocked(OpenEOError):
    code, status, default_message = (
        "JobLocked",
        400,
        "Batch job is locked due to a queued or running batch computation.",
    )


class JobNotFinished(OpenEOError):
    code, status, default_message = (
        "JobNotFinished",
        400,
        "Batch job has not finished computing the results yet. Please try again later or "
        "contact our support.",
    )


class ResultLinkExpired(OpenEOError):
    code, status, default_message = (
        "ResultLinkExpired",
        410,
        "The link to the batch job result has expired. Please request the results again.",
    )


class PermissionsInsufficient(OpenEOError):
    code, status, default_message = (
        "PermissionsInsufficient",
        403,
        "Forbidden. The permissions of the authenticated account do not allow to request "
        "the requested resource.",
    )


class ProcessGraphNotFound(OpenEOError):
    code, status, default_message = (
        "ProcessGraphNotFound",
        404,
        "User-defined process '{identifier}' does not exist.",
    )


class PredefinedProcessExists(OpenEOError):
    code, status, default_message = (
        "PredefinedProcessExists",
        400,
        "A predefined process with the given identifier exists.",
    )


class PropertyNotEditable(OpenEOError):
    code, status, default_message = (
        "PropertyNotEditable",
        400,
        "The specified property '{property}' is read-only.",
    )


class ServiceNotFound(OpenEOError):
    code, status, default_message = (
        "ServiceNotFound",
        404,
        "The requested secondary web service '{identifier}' does not exist.",
    )


class ServiceUnsupported(OpenEOError):
    code, status, default_message = (
        "ServiceUnsupported",
        400,
        "Secondary web service type '{service_type}' is not supported.",
    )


class ServiceConfigInvalid(OpenEOError):
    code, status, default_message = (
        "ServiceConfigInvalid",
        400,
        "Invalid configuration for the secondary web service: {reason}",
    )
