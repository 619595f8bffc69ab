"""FastAPI dependencies, as ``Annotated`` aliases the routes use.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool, and a
thread hop costs more than any of these lookups.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from app.api.client_address import ClientAddresses
from app.api.ratelimit import CredentialGuard, RateLimiter
from app.assembly import Runtime
from app.carousel.service import Carousel
from app.config import Settings
from app.errors import BrowserRequest, ErrorResponse, OperatorEndpointsClosed, Unauthorized
from app.verification import FaceService

# The longest politician name a query may give (profiles' form labels have the same limit).
MAX_POLITICIAN_NAME = 200


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_face_service(runtime: RuntimeDep) -> FaceService:
    return runtime.faces


FaceServiceDep = Annotated[FaceService, Depends(get_face_service)]


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, for timing attack prevention.

    Digests are compared, so that the time taken does not depend on the length of either string.
    """
    if given is None:
        return False
    return hmac.compare_digest(_digest(given), _digest(expected))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def client_of(request: Request) -> str:
    """The address rate limits count by; see ``app.api.client_address``."""
    addresses: ClientAddresses = request.app.state.client_addresses
    return addresses.of(request.scope)


def check_credential(request: Request, given: str | None, expected: str, what: str) -> None:
    """``given`` must equal ``expected``; wrong ones are counted per client and throttled (429)."""
    guard: CredentialGuard = request.app.state.credential_guard
    client = client_of(request)
    guard.before_checking(client)
    if secret_matches(given, expected):
        guard.succeeded(client)
        return
    if given is not None:  # a missing header is no guess
        guard.failed(client)
    raise Unauthorized(f"A valid {what} is required.")


def refuse_browsers(request: Request) -> None:
    """Operator endpoints serve scripts, never a web page: a page could make a visitor's browser use
    them (a cross-site form post needs no CORS permission). Browsers mark what a page sends with
    ``Origin`` or ``Sec-Fetch-Site`` (``none`` is the address bar); curl and scripts send neither."""
    fetch_site = request.headers.get("sec-fetch-site")
    if "origin" in request.headers or (fetch_site is not None and fetch_site != "none"):
        raise BrowserRequest(
            "Operator endpoints do not answer requests made by web pages; use curl or a script."
        )


ApiKeyHeader = Annotated[
    str | None, Header(description="The operator key (FACEGATE_OPERATOR_API_KEY).", max_length=1000)
]


async def require_operator(request: Request, settings: SettingsDep, x_api_key: ApiKeyHeader = None) -> None:
    """Operator endpoints: the key must match; without a key they are closed unless opened for local use."""
    refuse_browsers(request)
    key = settings.operator_api_key
    if key is not None:
        check_credential(request, x_api_key, key.get_secret_value(), "X-API-Key header")
    elif not settings.operator_endpoints_open:
        raise OperatorEndpointsClosed(
            "Operator endpoints are closed: set FACEGATE_OPERATOR_API_KEY (or, for local use only,"
            " FACEGATE_OPERATOR_ENDPOINTS_OPEN=true)."
        )


OperatorDep = Depends(require_operator)
# What the operator dependencies may answer, for the OpenAPI description of each operator endpoint.
OPERATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 422, 429)
}


async def require_metrics_access(
    request: Request,
    settings: SettingsDep,
    x_api_key: ApiKeyHeader = None,
    authorization: Annotated[
        str | None,
        Header(description="`Bearer <FACEGATE_METRICS_TOKEN>`, for a Prometheus scraper.", max_length=1000),
    ] = None,
) -> None:
    """``/metrics``: public when ``FACEGATE_METRICS_PUBLIC``, else its bearer token or the operator key."""
    refuse_browsers(request)
    if settings.metrics_public:
        return
    token, key = settings.metrics_token, settings.operator_api_key
    if token is None and key is None:
        raise OperatorEndpointsClosed(
            "/metrics is closed: set FACEGATE_METRICS_TOKEN (a bearer token for the scraper),"
            " FACEGATE_OPERATOR_API_KEY, or FACEGATE_METRICS_PUBLIC=true."
        )
    scheme, _, bearer = (authorization or "").partition(" ")
    if token is not None and scheme.lower() == "bearer":
        check_credential(request, bearer.strip(), token.get_secret_value(), "bearer token")
    elif key is not None:
        check_credential(request, x_api_key, key.get_secret_value(), "X-API-Key header or bearer token")
    else:
        check_credential(request, None, "", "bearer token")


MetricsDep = Depends(require_metrics_access)


async def require_webhook_secret(
    request: Request,
    settings: SettingsDep,
    x_facegate_secret: Annotated[
        str | None, Header(description="The secret set in the NocoDB webhook.")
    ] = None,
) -> None:
    """Constant-time check of the shared secret.

    An unset secret refuses everything: an empty secret verifies against an empty key, which anyone can forge.
    """
    secret = settings.webhook_secret
    if secret is None:
        raise Unauthorized("The webhook is disabled: FACEGATE_WEBHOOK_SECRET is not set.")
    check_credential(request, x_facegate_secret, secret.get_secret_value(), "X-Facegate-Secret header")


WebhookSecretDep = Depends(require_webhook_secret)


async def limit_verify_rate(request: Request) -> None:
    """Per client address (``app.api.client_address``: the socket peer, or what a declared proxy
    forwarded)."""
    limiter: RateLimiter = request.app.state.verify_limiter
    limiter.check(client_of(request))


VerifyRateDep = Depends(limit_verify_rate)


async def get_carousel(runtime: RuntimeDep) -> Carousel:
    return runtime.carousel


CarouselDep = Annotated[Carousel, Depends(get_carousel)]


async def resolve_politician_filter(
    faces: FaceServiceDep,
    politician: Annotated[
        str | None,
        Query(
            max_length=MAX_POLITICIAN_NAME,
            description="One politician: slug, display name or form label (as the form offers it).",
        ),
    ] = None,
) -> str | None:
    """The slug the ``politician`` query names, as an upload's cell may name it; 404
    ``unknown_politician`` when it names nobody, so a typo is not an empty carousel."""
    return faces.resolve_politician(politician)


PoliticianFilterDep = Annotated[str | None, Depends(resolve_politician_filter)]
