"""How the centre answers what went wrong: JSON under the API, a page in the portal's language
elsewhere, the same status either way; and the headers every answer carries."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from lab.centre import pages
from lab.centre.intake import AlreadyPending, TooManyPending
from lab.centre.upload import Rejected, UploadTooLarge
from lab.errors import InfrastructureError, InputError

API = "/api/v1"  # the service's JSON API: what is asked under it is answered in JSON

BAD_VALUE = "a value in the request cannot be stored or looked up (a NUL character, or a number out of range)"


def install(app: FastAPI) -> None:
    """Every handler and the security headers, on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(InputError, _on_input_error)
    app.add_exception_handler(InfrastructureError, _on_infrastructure_error)
    app.add_exception_handler(ClientDisconnect, _on_client_gone)
    app.add_exception_handler(DataError, _on_bad_value)
    app.add_middleware(SecurityHeaders)


def _problems(exc: InputError) -> list[dict]:
    if isinstance(exc, Rejected):
        return [p.as_dict() for p in exc.found]
    out = []
    for p in exc.problems:
        field, sep, message = p.partition(": ")
        out.append({"file": exc.source, "field": field if sep else "", "message": message if sep else p})
    return out


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(f"{API}/")


def _detail(request: Request, status: int, said: str):
    """``{"detail"}`` under the API, an error page elsewhere."""
    if _is_api(request):
        return JSONResponse({"detail": said}, status_code=status)
    return pages.error_page(request, status, said)


async def _on_http_error(request: Request, exc: StarletteHTTPException):
    if _is_api(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return pages.error_page(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_validation_error(request: Request, exc: RequestValidationError):
    problems = [{"file": "", "field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
                for e in exc.errors()]
    return JSONResponse({"problems": problems}, status_code=422)


async def _on_input_error(request: Request, exc: InputError):
    if isinstance(exc, UploadTooLarge):
        status, body = 413, {"detail": exc.problems[0]}
    elif isinstance(exc, (TooManyPending, AlreadyPending)):
        status, body = 429 if isinstance(exc, TooManyPending) else 409, {"detail": exc.problems[0]}
    else:
        status, body = 422, {"problems": _problems(exc)}
    if _is_api(request):
        return JSONResponse(body, status_code=status)
    return pages.error_page(request, status, "; ".join(exc.problems))


async def _on_infrastructure_error(request: Request, exc: InfrastructureError):
    return _detail(request, 503, str(exc))


async def _on_bad_value(request: Request, exc: DataError):
    """A value the database cannot hold (a NUL in an id, a number past 64 bits): the request's
    fault, 422, not a 500 with a traceback in the log per request (a hostile review filled it so)."""
    return _detail(request, 422, BAD_VALUE)


async def _on_client_gone(request: Request, exc: ClientDisconnect):
    """A client that went away mid-upload: nothing was kept, and nobody reads the answer."""
    return Response(status_code=400)


class SecurityHeaders:
    """Headers every answer carries: no sniffing, no framing, no referrer outside; a CSP for pages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in pages.SECURITY_HEADERS.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
