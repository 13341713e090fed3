"""Every API error is an RFC 9457 problem (application/problem+json), never an HTML page or a bare 500."""
from __future__ import annotations

import json
from http import HTTPStatus

from flask import Blueprint, Flask, current_app, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.services import ServiceError, contention, foreign_key_violation

PROBLEM_TYPE = "application/problem+json"
VALIDATION = "urn:leadboard:problem:validation"
# Service error fields named the way the web forms name them, as the API names them.
FIELD_NAMES = {"stage": "stage_id", "owner": "owner_id", "won_value": "value"}


class ApiProblem(Exception):
    """Raise anywhere in an API view to answer with this problem."""

    def __init__(self, status: int, detail: str, *, type: str = "about:blank", title: str | None = None,
                 errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.type = status, detail, type
        self.title = title or _phrase(status)
        self.errors, self.headers = errors, headers or {}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def invalid(errors: list[dict], detail: str | None = None) -> ApiProblem:
    """A 422 listing each bad field: [{"field": "email", "message": "..."}]."""
    detail = detail or " ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ApiProblem(422, detail, type=VALIDATION, title="Your request has invalid fields.", errors=errors)


def problem_response(status: int, detail: str, *, type: str = "about:blank", title: str | None = None,
                     errors: list[dict] | None = None, headers: dict | None = None):
    body = {"type": type, "title": title or _phrase(status), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body, ensure_ascii=False) + "\n", status=status,
                                          mimetype=PROBLEM_TYPE)
    response.headers.update(headers or {})
    return response


def _from_problem(exc: ApiProblem):
    return problem_response(exc.status, exc.detail, type=exc.type, title=exc.title, errors=exc.errors,
                            headers=exc.headers)


def _from_service_error(exc: ServiceError):
    """A rule said no: a bad field is a 422 naming it; a refusal 403; a missing thing 404; a clash 409."""
    if exc.field:
        field = FIELD_NAMES.get(exc.field, exc.field)
        if field.startswith("custom_") and field != "custom_fields":  # custom_<key>, as the API names it
            field = "custom_fields." + field.removeprefix("custom_")
        status = exc.status if exc.status in (409, 422) else 422
        return problem_response(status, exc.message, type=VALIDATION if status == 422 else "about:blank",
                                title="Your request has invalid fields." if status == 422 else None,
                                errors=[{"field": field, "message": exc.message}])
    return problem_response(exc.status if exc.status in (403, 404, 409) else 422, exc.message)


HTTP_DETAILS = {
    400: "The request could not be understood.",
    404: "Nothing exists at this address. The API lives under /api/v1; see /api/v1/openapi.json.",
    405: "This address does not accept that method; the Allow header lists the ones it does.",
    413: "The request body is too large.",
    415: "Send the body as JSON with 'Content-Type: application/json'.",
}


def _from_http(exc: HTTPException):
    status = exc.code or 500
    headers = {name: value for name, value in exc.get_headers()
               if name.lower() not in ("content-type", "content-length")}  # keeps Allow on a 405
    if status == 429:  # Flask-Limiter's description is the limit itself, e.g. "600 per 1 minute"
        detail = f"Too many requests for this API key ({exc.description}). Wait a moment and try again."
    elif exc.description and exc.description != type(exc).description:
        detail = exc.description
    else:
        detail = HTTP_DETAILS.get(status) or exc.name
    return problem_response(status, detail, headers=headers)


def _unexpected(exc: Exception):
    if contention(exc):
        db.session.rollback()
        return problem_response(503, "Another change to the same leads was being saved at that moment, so "
                                     "nothing was saved. Retry the request.", headers={"Retry-After": "1"})
    if isinstance(exc, (StaleDataError, ObjectDeletedError)) or (isinstance(exc, IntegrityError)
                                                                 and foreign_key_violation(exc)):
        db.session.rollback()  # what the request read was removed by another change at the same moment
        return problem_response(409, "The lead or record this request changes was removed or changed by another "
                                     "request at the same moment, so nothing was saved. Read it again.")
    current_app.logger.exception("Unhandled error in the API")
    return problem_response(500, "Something went wrong on our side. Retry the request "
                                 "(with the same Idempotency-Key, if you sent one).")


def is_api_request() -> bool:
    prefix = current_app.blueprints["api"].url_prefix or ""
    return request.path == prefix or request.path.startswith(prefix + "/")


def install(bp: Blueprint) -> None:
    """Answer every error raised by an API view, and every routing error under its prefix, as a problem."""
    bp.register_error_handler(ApiProblem, _from_problem)
    bp.register_error_handler(ServiceError, _from_service_error)
    bp.register_error_handler(HTTPException, _from_http)
    bp.register_error_handler(Exception, _unexpected)

    @bp.record_once
    def wrap_app_handler(state) -> None:
        # An unknown address or method under /api/v1 matches no view, so Flask never consults this
        # blueprint's handlers and the app's HTML error page would answer. Wrap the app's handler
        # (registered by app.web.install before blueprints) so those become problems too.
        app: Flask = state.app
        html_handler = app.error_handler_spec[None][None].get(HTTPException)

        def http_error(exc: HTTPException):
            if is_api_request():
                return _from_http(exc)
            return html_handler(exc) if html_handler else exc

        app.register_error_handler(HTTPException, http_error)
