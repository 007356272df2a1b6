"""HTTP transports built on the one TLS context, with total deadlines on every exchange.

- ``httplib2_http``: the Gmail API client and Google's token endpoint (google-auth-httplib2);
- ``requests_session``: Microsoft Graph and MSAL (Entra ID's token endpoint);
- ``urllib_opener``: the Salesforce SOAP login check.

TLS sockets come from ``inbox_finder.net.tls.client_context`` (its sockets enforce the
deadlines); plain-HTTP sockets (loopback emulators and proxies) are adopted into
``DeadlineSocket`` right after connecting. So an answer must arrive in full within the timeout
after its request was sent, however slowly it trickles. httplib2 and requests are imported only
when a transport of theirs is built.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.request
from functools import cache
from typing import Any

from .deadline import adopt


class _AdoptingConnection(http.client.HTTPConnection):
    """http.client's plain connection whose socket enforces the exchange deadline."""

    def connect(self) -> None:
        super().connect()
        self.sock = adopt(self.sock)


class _AdoptingHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_AdoptingConnection, req)


def urllib_opener(
    context: ssl.SSLContext, *handlers: urllib.request.BaseHandler
) -> urllib.request.OpenerDirector:
    """A urllib opener for http (loopback) and https with ``context``, plus ``handlers``."""
    https = urllib.request.HTTPSHandler(context=context)
    return urllib.request.build_opener(https, _AdoptingHandler(), *handlers)


# ---------------------------------------------------------------- httplib2


@cache
def _httplib2_classes() -> tuple[type[Any], type[Any], type[Any]]:
    import httplib2  # type: ignore[import-untyped]

    class PlainConnection(httplib2.HTTPConnectionWithTimeout):  # type: ignore[misc]
        def connect(self) -> None:
            super().connect()
            self.sock: Any = adopt(self.sock)

    class TlsConnection(httplib2.HTTPSConnectionWithTimeout):  # type: ignore[misc]
        tls_context: ssl.SSLContext

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # httplib2 builds its own context from its CA bundle; ours has the system store,
            # the --ca-file and the deadline sockets (http.client reads it in connect()).
            self._context = self.tls_context

    class Http(httplib2.Http):  # type: ignore[misc]
        tls_connection: type[Any]

        def request(self, uri: str, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("connection_type") is None and len(args) < 5:
                https = uri.lower().startswith("https:")
                kwargs["connection_type"] = self.tls_connection if https else PlainConnection
            return super().request(uri, *args, **kwargs)

    return Http, TlsConnection, PlainConnection


def httplib2_http(timeout: float, context: ssl.SSLContext) -> Any:
    """An ``httplib2.Http`` whose connections use ``context`` and the exchange deadlines."""
    http_class, tls_connection, _ = _httplib2_classes()
    http = http_class(timeout=timeout)
    http.tls_connection = type("TlsConnection", (tls_connection,), {"tls_context": context})
    return http


# ---------------------------------------------------------------- requests


@cache
def _requests_adapter() -> type[Any]:
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class PlainConnection(HTTPConnection):
        def _new_conn(self) -> Any:
            return adopt(super()._new_conn())

    class PlainPool(HTTPConnectionPool):
        ConnectionCls = PlainConnection

    class Adapter(HTTPAdapter):
        def __init__(self, context: ssl.SSLContext) -> None:
            self.tls_context = context  # read by init_poolmanager, which __init__ calls
            super().__init__()

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = self.tls_context
            super().init_poolmanager(*args, **kwargs)
            # A new dict: PoolManager shares the module-level default between instances.
            self.poolmanager.pool_classes_by_scheme = {
                "http": PlainPool,
                "https": HTTPSConnectionPool,
            }

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            kwargs.setdefault("ssl_context", self.tls_context)
            return super().proxy_manager_for(proxy, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            if isinstance(verify, str):  # REQUESTS_CA_BUNDLE or a path: added to the trust
                super().cert_verify(conn, url, verify, cert)
                return
            # Never certifi instead of the context's store, and never verification off.
            conn.cert_reqs, conn.ca_certs = "CERT_REQUIRED", None

    return Adapter


def requests_session(context: ssl.SSLContext) -> Any:
    """A ``requests.Session`` whose connections use ``context`` and the exchange deadlines."""
    import requests

    session = requests.Session()
    adapter = _requests_adapter()(context)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
