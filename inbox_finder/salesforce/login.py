"""Salesforce login check: one SOAP ``login()`` (partner API) with password+token, then logout.

Failed logins count toward Salesforce's lockout, so a login is made once and never retried. A
successful login's session is ended at once with ``logout()``; the session id lives in a local
variable only — never logged, returned, or put into an exception. Fault text from the server is
scrubbed of the password and token before anyone sees it. Outcomes and their exit codes:
valid 0, invalid_login 6, login_must_use_security_token 7, api_disabled 8 (API_DISABLED_FOR_ORG,
API_CURRENTLY_DISABLED, INSUFFICIENT_ACCESS), password_expired 9, locked_out 10
(PASSWORD_LOCKOUT), refused 11 (any other fault). No answer, a TLS failure or a non-SOAP answer
raise SalesforceUnreachableError (exit 4).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from inbox_finder.errors import ConfigError, SalesforceUnreachableError
from inbox_finder.net import tls
from inbox_finder.salesforce.verdict import API_VERSION, FAULT_OUTCOMES, LoginCheck, Outcome

__all__ = ["API_VERSION", "LoginCheck", "Outcome", "check_login", "login_endpoint"]

log = logging.getLogger(__name__)

SOAP_PATH = "/services/Soap/u/"
LOGIN_HOST = "login.salesforce.com"
SANDBOX_HOST = "test.salesforce.com"
DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 1024 * 1024  # a login answer is ~3 KB
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_MY_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Characters XML 1.0 cannot carry at all (even escaped).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ---------------------------------------------------------------- endpoint


def login_endpoint(
    *,
    login_url: str | None = None,
    sandbox: bool = False,
    my_domain: str | None = None,
    api_version: str = API_VERSION,
) -> str:
    """The partner SOAP login URL for the default, sandbox, My Domain or an explicit host."""
    options = {"--login-url": login_url, "--sandbox": sandbox, "--my-domain": my_domain}
    chosen = [name for name, value in options.items() if value]
    if len(chosen) > 1:
        raise ConfigError(f"{' and '.join(chosen)} exclude each other")
    if login_url:
        return _custom_endpoint(login_url, api_version)
    if my_domain:
        host = my_domain.strip().lower().removesuffix(".my.salesforce.com")
        if not _MY_DOMAIN.fullmatch(host):
            raise ConfigError(f"--my-domain needs a My Domain name such as acme, got {my_domain!r}")
        host += ".my.salesforce.com"
    else:
        host = SANDBOX_HOST if sandbox else LOGIN_HOST
    return f"https://{host}{SOAP_PATH}{api_version}"


def allowed_url(url: str) -> bool:
    """https with a host and no user info; plain http never, not even to loopback."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return False
    # The password+token travel in the body: no exception for local servers (the test
    # suite's SOAP emulator serves TLS with its own CA, reached through --ca-file).
    return parts.scheme == "https"


def _custom_endpoint(url: str, api_version: str) -> str:
    parts = urlsplit(url.strip())
    if not allowed_url(url.strip()) or parts.query or parts.fragment:
        raise ConfigError(
            f"--login-url must be an https:// URL without user, query or fragment, got {url!r}"
        )
    path = parts.path.rstrip("/")
    if not path:
        path = f"{SOAP_PATH}{api_version}"
    elif not path.startswith(SOAP_PATH):
        raise ConfigError(
            "--login-url takes the org's base URL (https://NAME.my.salesforce.com) "
            f"or a {SOAP_PATH}VERSION endpoint, got {url!r}"
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Server text on one line, without any secret (also as the XML parser reshaped it)."""
    variants = {v for s in secrets for v in (s, s.strip(), " ".join(s.split())) if v}
    text = " ".join(text.split())
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, "…")
    return text if len(text) <= 300 else text[:299] + "…"


def _xml_text(value: str, what: str) -> str:
    if _NOT_XML.search(value):
        raise ConfigError(f"the {what} contains a control character that XML cannot carry")
    return escape(value, {"\r": "&#13;"})  # keep CR: parsers would turn a literal one into LF


# ---------------------------------------------------------------- SOAP


def _envelope(header: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:urn="{PARTNER_NS}">'
        f"<soapenv:Header>{header}</soapenv:Header><soapenv:Body>{body}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def login_envelope(username: str, password_and_token: str) -> bytes:
    """The partner API login() request."""
    user = _xml_text(username, "username")
    password = _xml_text(password_and_token, "password")
    return _envelope(
        "",
        f"<urn:login><urn:username>{user}</urn:username><urn:password>{password}"
        "</urn:password></urn:login>",
    )


def logout_envelope(session_id: str) -> bytes:
    """The partner API logout() request; the session goes in the SessionHeader."""
    session = _xml_text(session_id, "session id")
    return _envelope(
        f"<urn:SessionHeader><urn:sessionId>{session}</urn:sessionId></urn:SessionHeader>",
        "<urn:logout/>",
    )


@dataclass(frozen=True)
class _Answer:
    status: int
    body: ET.Element | None  # the SOAP Body, None when the answer is not a SOAP envelope


def _soap_body(data: bytes) -> ET.Element | None:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None  # SOAP forbids a DTD; refusing it also rules out entity expansion
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs are refused above
    except ET.ParseError:
        return None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return None
    return root.find(f"{{{SOAP_ENV}}}Body")


def _post(
    url: str, body: bytes, action: str, *, context: ssl.SSLContext, timeout: float
) -> _Answer:
    """POST one SOAP request (no redirects; ``timeout`` bounds the whole answer), parse its Body."""
    import http.client
    import urllib.error
    import urllib.request

    from inbox_finder.net.transports import urllib_opener

    host = urlsplit(url).netloc

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # a 3xx becomes an HTTPError: a login is never re-sent elsewhere

    opener = urllib_opener(context, NoRedirect())
    request = urllib.request.Request(  # noqa: S310 - the scheme was checked by allowed_url
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
    )
    log.debug("POST %s (SOAPAction %s)", url, action)
    try:
        try:
            with opener.open(request, timeout=timeout) as response:
                status, data = response.status, response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:  # SOAP faults come with HTTP 500
            try:
                status, data = exc.code, exc.read(MAX_ANSWER_BYTES + 1)
            finally:
                exc.close()
    except urllib.error.URLError as exc:
        raise SalesforceUnreachableError(_describe(exc.reason, host, timeout)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise SalesforceUnreachableError(_describe(exc, host, timeout)) from exc
    if len(data) > MAX_ANSWER_BYTES:
        raise SalesforceUnreachableError(f"{host} sent an oversized answer to {action}()")
    log.debug("%s answered HTTP %d (%d bytes)", host, status, len(data))
    return _Answer(status, _soap_body(data))


def _describe(reason: object, host: str, timeout: float) -> str:
    if isinstance(reason, ssl.SSLError):
        return tls.describe(reason, host)
    if isinstance(reason, TimeoutError):
        return f"Salesforce at {host} did not answer within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot connect to Salesforce at {host}: connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot reach Salesforce at {host}: {reason.strerror}"
    return f"cannot reach Salesforce at {host} ({type(reason).__name__})"


def _fault(body: ET.Element) -> tuple[str, str] | None:
    """(exception code, message) of a SOAP fault, preferring the sf:ApiFault detail."""
    fault = body.find(f"{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None
    code = message = ""
    for element in fault.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name == "exceptionCode" and not code:
            code = (element.text or "").strip()
        elif name == "exceptionMessage" and not message:
            message = (element.text or "").strip()
    faultstring = (fault.findtext("faultstring") or "").strip()
    code = code or (fault.findtext("faultcode") or "").strip().rsplit(":", 1)[-1]
    message = message or faultstring.removeprefix(f"{code}: ")
    return (code or "UNKNOWN_FAULT"), message


def _text(parent: ET.Element, path: str) -> str | None:
    value = parent.findtext("/".join(f"{{{PARTNER_NS}}}{p}" for p in path.split("/")))
    return value.strip() if value and value.strip() else None


def check_login(
    username: str,
    password: str,
    token: str,
    endpoint: str,
    *,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> LoginCheck:
    """Make ONE login() with password+token (never retried); log the session out at once."""
    if not allowed_url(endpoint):
        raise ConfigError(f"refusing to send a password to {endpoint}: not an https URL")
    context = tls.client_context(tls.resolve_ca_file(ca_file))  # ConfigError before any login
    secrets = (password + token, password, token)
    log.info("checking the token of %s with one login at %s", username, endpoint)
    answer = _post(
        endpoint,
        login_envelope(username, password + token),
        "login",
        context=context,
        timeout=timeout,
    )
    host = urlsplit(endpoint).netloc
    if answer.body is None:
        raise SalesforceUnreachableError(
            f"{host} answered HTTP {answer.status} without a SOAP envelope "
            "(is it a Salesforce login URL?)"
        )
    fault = _fault(answer.body)
    if fault is not None:
        code, message = _scrub(fault[0], secrets), _scrub(fault[1], secrets)
        log.info("login refused: %s", code)
        outcome = FAULT_OUTCOMES.get(code, Outcome.REFUSED)
        return LoginCheck(outcome, username, endpoint, code, message)
    result = answer.body.find(f"{{{PARTNER_NS}}}loginResponse/{{{PARTNER_NS}}}result")
    if answer.status != 200 or result is None:
        raise SalesforceUnreachableError(
            f"{host} answered HTTP {answer.status} with no login result and no fault"
        )
    server_url = _text(result, "serverUrl") or ""
    expired = _text(result, "passwordExpired") == "true"
    session_id = _text(result, "sessionId")
    logged_out = False
    if session_id:
        logged_out = _logout(server_url, session_id, expired, context=context, timeout=timeout)
    parts = urlsplit(server_url)
    return LoginCheck(
        Outcome.PASSWORD_EXPIRED if expired else Outcome.VALID,
        username,
        endpoint,
        instance_url=f"{parts.scheme}://{parts.netloc}" if parts.netloc else None,
        user_id=_text(result, "userId"),
        organization_id=_text(result, "userInfo/organizationId"),
        sandbox={"true": True, "false": False}.get(_text(result, "sandbox") or ""),
        logged_out=logged_out,
    )


def _logout(
    server_url: str, session_id: str, expired: bool, *, context: ssl.SSLContext, timeout: float
) -> bool:
    """End the session at once; a failure only costs a session that expires on its own."""
    if not allowed_url(server_url):
        log.warning("not logging out: the login answer names no https server URL")
        return False
    try:
        answer = _post(
            server_url, logout_envelope(session_id), "logout", context=context, timeout=timeout
        )
    except (SalesforceUnreachableError, ConfigError) as exc:
        log.warning("logout failed (%s); the session expires on its own", exc)
        return False
    body = answer.body
    fault = _fault(body) if body is not None else None
    done = body is not None and body.find(f"{{{PARTNER_NS}}}logoutResponse") is not None
    if answer.status == 200 and fault is None and done:
        log.debug("session logged out")
        return True
    # Salesforce allows nothing but setPassword() on an expired password's session.
    level = logging.INFO if expired else logging.WARNING
    what = fault[0] if fault else f"HTTP {answer.status}"
    log.log(level, "logout refused (%s); the session expires on its own", what)
    return False
