"""A loopback emulator of the Salesforce partner SOAP API's login() and logout(), over HTTPS.

It follows the partner WSDL: ``POST /services/Soap/u/VERSION`` with a ``SOAPAction`` header and a
SOAP 1.1 envelope in ``urn:partner.soap.sforce.com``. ``login(username, password)`` answers
``loginResponse/result`` (metadataServerUrl, passwordExpired, sandbox, serverUrl, sessionId,
userId, userInfo); ``logout()`` needs ``SessionHeader/sessionId`` and is posted to the serverUrl.
Faults are HTTP 500 ``soapenv:Fault`` with ``faultcode`` ``sf:CODE``, ``faultstring``
``CODE: message`` and an ``sf:LoginFault`` / ``sf:UnexpectedErrorFault`` detail
(``exceptionCode``, ``exceptionMessage``) in ``urn:fault.partner.soap.sforce.com``.

Passwords are checked the way Salesforce documents it: password+token, or the password alone
from a trusted network; the password alone from elsewhere is LOGIN_MUST_USE_SECURITY_TOKEN.
Wrong passwords count toward a lockout (``lockout_after``); a locked user gets PASSWORD_LOCKOUT
(an ExceptionCode of the WSDL; production Salesforce often folds it into INVALID_LOGIN's
"...or user locked out"). A session of an expired password allows no call but setPassword(), so
its logout() is refused. Every login attempt is counted. No pytest here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from .ms_emulators import LoopbackCA, Reply, _Emulator

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
_PATH = re.compile(r"/services/Soap/u/(\d{2}\.0)(?:/(00D[A-Za-z0-9]{12,15}))?")

MESSAGES = {
    "INVALID_LOGIN": "Invalid username, password, security token; or user locked out.",
    "LOGIN_MUST_USE_SECURITY_TOKEN": "Invalid username, password, security token; or user "
    "locked out. Are you at a new location? When accessing Salesforce--either via a desktop "
    "client or the API--from outside of your company's trusted networks, you must add a "
    "security token to your password to log in.",
    "API_DISABLED_FOR_ORG": "API is not enabled for this Organization or Partner",
    "API_CURRENTLY_DISABLED": "API is disabled for this User",
    "PASSWORD_LOCKOUT": "Your account is locked out after too many failed login attempts.",
    "INVALID_SESSION_ID": "Invalid Session ID found in SessionHeader: Illegal Session",
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": "The users password has expired, you must call "
    "SetPassword before attempting any other API operations",
    "INSUFFICIENT_ACCESS": "SOAP API login() is disabled or the user lacks the permission to "
    "use it",
    "UNSUPPORTED_API_VERSION": "Invalid Api version specified on URL",
}
# login() exists in API 31.0 to 64.0 only: older versions are retired altogether (Summer '25)
# and 65.0 and later do not offer the call (Salesforce's SOAP API end-of-life policy).
FIRST_LOGIN_VERSION, LAST_LOGIN_VERSION = 31.0, 64.0


@dataclass
class Org:
    """An organisation: its id, name and whether it may use the API."""

    org_id: str
    name: str = "Example Org"
    api_enabled: bool = True
    sandbox: bool = False
    # login() is off by default in orgs created since Winter '26; from Summer '26 new orgs
    # can require the "Use Any API Auth" permission for it (Salesforce Help 005132110).
    soap_login_enabled: bool = True
    requires_api_auth_permission: bool = False


@dataclass
class User:
    """A Salesforce user whose password and token the tests set."""

    username: str
    password: str
    token: str
    org: Org
    user_id: str
    trusted_network: bool = False
    api_enabled: bool = True
    password_expired: bool = False
    use_any_api_auth: bool = False
    failures: int = 0
    locked: bool = False


@dataclass
class Session:
    user: User
    expired: bool


class SoapEmulator(_Emulator):
    """login()/logout() of the partner API; ``login_attempts`` lists every attempt's username."""

    def __init__(
        self,
        tls: LoopbackCA | None,
        *,
        lockout_after: int = 5,
        lockout_code: str = "PASSWORD_LOCKOUT",
    ) -> None:
        super().__init__(tls)
        self.lockout_after, self.lockout_code = lockout_after, lockout_code
        self.default_org = Org("00D5e000000AbCdEAF")
        self.users: dict[str, User] = {}
        self.login_attempts: list[str] = []
        self.logouts: list[str] = []
        self.sessions: dict[str, Session] = {}
        self.issued: list[str] = []  # every session id handed out
        self.hosts: list[str] = []  # the Host header of every request, in order

    def add_user(
        self, username: str, password: str, token: str, *, org: Org | None = None, **flags: bool
    ) -> User:
        user_id = "005" + secrets.token_hex(6).upper()[:12] + "AAA"
        user = User(username, password, token, org or self.default_org, user_id, **flags)
        self.users[username.casefold()] = user
        return user

    def attempts(self, username: str | None = None) -> int:
        return sum(1 for u in self.login_attempts if username is None or u == username)

    def endpoint(self, version: str = "64.0") -> str:
        return f"{self.base_url}/services/Soap/u/{version}"

    # ------------------------------------------------------------ protocol

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        match = _PATH.fullmatch(path)
        if not match:
            return Reply(404, b"<html><body>The requested resource does not exist</body></html>")
        if method != "POST":
            return Reply(405, b"Method Not Allowed")
        lower = {k.lower(): v for k, v in headers.items()}
        self.hosts.append(lower.get("host", ""))
        if not lower.get("content-type", "").startswith("text/xml"):
            return Reply(415, b"Unsupported Media Type")
        if "soapaction" not in lower:
            return self._fault("soapenv:Client", "No SOAPAction header!", None)
        if b"<!DOCTYPE" in body:
            return self._fault("soapenv:Client", "DOCTYPE is not allowed", None)
        try:
            root = ET.fromstring(body)  # noqa: S314 - DTDs are refused above
        except ET.ParseError as exc:
            return self._fault("sf:XML_PARSER_ERROR", f"XML_PARSER_ERROR: {exc}", None)
        soap_body = root.find(f"{{{SOAP_ENV}}}Body")
        operation = soap_body[0] if soap_body is not None and len(soap_body) else None
        version = match.group(1)
        if operation is not None and operation.tag == f"{{{PARTNER}}}login":
            return self._login(operation, version)
        if operation is not None and operation.tag == f"{{{PARTNER}}}logout":
            return self._logout(root)
        name = operation.tag if operation is not None else "(none)"
        return self._fault("soapenv:Client", f"No operation available for request {name}", None)

    def _login(self, operation: ET.Element, version: str) -> Reply:
        username = operation.findtext(f"{{{PARTNER}}}username") or ""
        password = operation.findtext(f"{{{PARTNER}}}password") or ""
        self.login_attempts.append(username)
        if not FIRST_LOGIN_VERSION <= float(version) <= LAST_LOGIN_VERSION:
            return self._api_fault("UNSUPPORTED_API_VERSION")
        user = self.users.get(username.casefold())
        if user is None:
            return self._login_fault("INVALID_LOGIN")
        if user.locked:
            return self._login_fault(self.lockout_code)
        if password == user.password and not user.trusted_network:
            return self._login_fault("LOGIN_MUST_USE_SECURITY_TOKEN")
        if password not in (user.password + user.token, user.password):
            user.failures += 1
            user.locked = user.failures >= self.lockout_after
            return self._login_fault("INVALID_LOGIN")
        user.failures = 0
        if not user.org.api_enabled:
            return self._login_fault("API_DISABLED_FOR_ORG")
        if not user.api_enabled:
            return self._login_fault("API_CURRENTLY_DISABLED")
        org = user.org
        if not org.soap_login_enabled or (
            org.requires_api_auth_permission and not user.use_any_api_auth
        ):
            return self._login_fault("INSUFFICIENT_ACCESS")
        session_id = f"{user.org.org_id[:15]}!AQ{secrets.token_urlsafe(64)}"
        self.sessions[session_id] = Session(user, user.password_expired)
        self.issued.append(session_id)
        return Reply(200, self._login_response(user, session_id, version), _XML)

    def _login_response(self, user: User, session_id: str, version: str) -> bytes:
        org = user.org
        server = f"{self.base_url}/services/Soap/u/{version}/{org.org_id}"
        info = {
            "accessibilityMode": "false",
            "currencySymbol": "$",
            "organizationId": org.org_id,
            "organizationMultiCurrency": "false",
            "organizationName": org.name,
            "profileId": "00e5e000000XyZaAAK",
            "sessionSecondsValid": "7200",
            "userEmail": user.username.split(".uat")[0],
            "userFullName": "Dana Example",
            "userId": user.user_id,
            "userLanguage": "en_US",
            "userLocale": "en_US",
            "userName": user.username,
            "userTimeZone": "Europe/Berlin",
            "userType": "Standard",
            "userUiSkin": "Theme3",
        }
        result = {
            "metadataServerUrl": f"{self.base_url}/services/Soap/m/{version}/{org.org_id}",
            "passwordExpired": str(user.password_expired).lower(),
            "sandbox": str(org.sandbox).lower(),
            "serverUrl": server,
            "sessionId": session_id,
            "userId": user.user_id,
        }
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in result.items())
        user_info = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in info.items())
        return _envelope(
            f'xmlns="{PARTNER}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
            f"<loginResponse><result>{fields}<userInfo>{user_info}</userInfo></result>"
            "</loginResponse>",
        )

    def _logout(self, root: ET.Element) -> Reply:
        session_id = root.findtext(
            f"{{{SOAP_ENV}}}Header/{{{PARTNER}}}SessionHeader/{{{PARTNER}}}sessionId"
        )
        session = self.sessions.get(session_id or "")
        if session is None:
            return self._api_fault("INVALID_SESSION_ID")
        if session.expired:
            return self._api_fault("INVALID_OPERATION_WITH_EXPIRED_PASSWORD")
        del self.sessions[session_id or ""]
        self.logouts.append(session.user.username)
        return Reply(200, _envelope(f'xmlns="{PARTNER}"', "<logoutResponse/>"), _XML)

    # ------------------------------------------------------------ faults

    def _login_fault(self, code: str) -> Reply:
        return self._fault(f"sf:{code}", f"{code}: {_message(code)}", ("LoginFault", code))

    def _api_fault(self, code: str) -> Reply:
        return self._fault(
            f"sf:{code}", f"{code}: {_message(code)}", ("UnexpectedErrorFault", code)
        )

    @staticmethod
    def _fault(faultcode: str, faultstring: str, detail: tuple[str, str] | None) -> Reply:
        extra = ""
        if detail is not None:
            kind, code = detail
            extra = (
                f'<detail><sf:{kind} xsi:type="sf:{kind}"><sf:exceptionCode>{code}'
                f"</sf:exceptionCode><sf:exceptionMessage>{escape(_message(code))}"
                f"</sf:exceptionMessage></sf:{kind}></detail>"
            )
        body = _envelope(
            f'xmlns:sf="{FAULT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
            f"<soapenv:Fault><faultcode>{faultcode}</faultcode>"
            f"<faultstring>{escape(faultstring)}</faultstring>{extra}</soapenv:Fault>",
        )
        return Reply(500, body, _XML)


_XML = {"Content-Type": "text/xml; charset=utf-8"}


def _envelope(namespaces: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" {namespaces}>'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _message(code: str) -> str:
    return MESSAGES.get(code, "Login refused by the organization's policy")
