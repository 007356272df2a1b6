"""Microsoft Graph lists messages in no promised order unless ``$orderby`` asks for one, so the
Outlook provider must ask for ``receivedDateTime desc`` on every list; the emulator answers a
list without ``$orderby`` in delivery order, so a lost ``$orderby`` shows as a wrong token.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from emulators.ms_emulators import IdentityEmulator, LoopbackCA
from emulators.ms_graph_emulator import GraphEmulator
from inbox_finder.providers.outlook.provider import OutlookProvider

from inbox_finder import find_token, find_tokens
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.testing.mail import new_token, other_mail, token_mail

UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "order-test-secret"
T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
# Delivery order (hours after T0): neither newest first nor oldest first.
HOURS = [3, 0, 7, 1, 5, 2, 6, 4]


@pytest.fixture
def graph(ca: LoopbackCA) -> Iterator[GraphEmulator]:
    with IdentityEmulator(ca) as idp, GraphEmulator(idp, ca) as emu:
        idp.register_app(APP_ID, secret=SECRET)
        emu.add_mailbox(UPN)
        yield emu


def provider(graph: GraphEmulator, ca: LoopbackCA, **keys: Any) -> OutlookProvider:
    idp = graph.identity
    profile = {
        "client_id": APP_ID,
        "tenant": idp.tenant_id,
        "authority": idp.authority(),
        "graph_endpoint": graph.endpoint,
        "client_secret_env": "ORDER_TEST_SECRET",
        **keys,
    }
    options = SourceOptions(ca_file=str(ca.ca_file), timeout=5, profile=profile)
    return OutlookProvider.from_url(f"outlook://{UPN}", options)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_TEST_SECRET", SECRET)


def deliver(graph: GraphEmulator) -> dict[int, str]:
    """Token mails at HOURS, delivered in that order; hour -> token."""
    tokens = {h: new_token() for h in HOURS}
    for h in HOURS:
        when = T0 + dt.timedelta(hours=h)
        graph.add_message(UPN, token_mail(tokens[h], UPN, when), when)
    return tokens


def list_queries(graph: GraphEmulator) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in graph.requests if r.path.endswith("/messages")]


def test_the_emulator_keeps_delivery_order_without_orderby(
    graph: GraphEmulator, ca: LoopbackCA
) -> None:
    """What the provider's correctness rests on: no $orderby, no newest-first answer."""
    deliver(graph)
    with provider(graph, ca) as p:
        list(p.search(Query()))  # signs in; the request log keeps the bearer token
    auth = next(r.authorization for r in graph.requests if r.authorization)
    url = f"{graph.endpoint}/users/{UPN}/messages"
    headers = {"Authorization": str(auth)}
    params = {"$select": "receivedDateTime", "$top": "50"}
    plain = requests.get(url, params=params, headers=headers, verify=str(ca.ca_file), timeout=5)
    got = [dt.datetime.fromisoformat(m["receivedDateTime"]) for m in plain.json()["value"]]
    assert got == [T0 + dt.timedelta(hours=h) for h in HOURS]
    ordered = requests.get(
        url,
        params={**params, "$orderby": "receivedDateTime desc"},
        headers=headers,
        verify=str(ca.ca_file),
        timeout=5,
    )
    got = [dt.datetime.fromisoformat(m["receivedDateTime"]) for m in ordered.json()["value"]]
    assert got == sorted(got, reverse=True) and len(got) == len(HOURS)


@pytest.mark.parametrize("page_size", [3, 50])
def test_search_is_newest_first_and_every_list_asks_for_it(
    graph: GraphEmulator, ca: LoopbackCA, page_size: int
) -> None:
    deliver(graph)
    with provider(graph, ca, page_size=page_size) as p:
        got = [c.received for c in p.search(Query(sender_domains=("salesforce.com",)))]
    assert got == [T0 + dt.timedelta(hours=h) for h in sorted(HOURS, reverse=True)]
    first = list_queries(graph)[0]
    assert first["$orderby"] == ["receivedDateTime desc"]


def test_newest_token_wins_whatever_the_delivery_order(
    graph: GraphEmulator, ca: LoopbackCA
) -> None:
    tokens = deliver(graph)
    with provider(graph, ca, page_size=3) as p:
        assert find_token(p).token == tokens[max(HOURS)]


def test_scan_cursor_probe_sees_the_newest_mail(graph: GraphEmulator, ca: LoopbackCA) -> None:
    """The cursor probe reads one short page: it must be the newest mail, not the first."""
    rng = random.Random(5)
    hours = rng.sample(range(40), 40)
    for h in hours:
        when = T0 + dt.timedelta(hours=h)
        graph.add_message(UPN, other_mail(h, when=when), when)
    newest = T0 + dt.timedelta(hours=40)
    graph.add_message(UPN, token_mail(new_token(), UPN, newest), newest)
    with provider(graph, ca, page_size=5) as p:
        cursor = p.sync_cursor()
        later = T0 + dt.timedelta(hours=41)
        graph.add_message(UPN, token_mail(new_token(), UPN, later), later)
        after = list(p.search(Query(after_cursor=cursor)))
    # Only the mail after the cursor (plus the delivery slack) is listed, newest first.
    assert after and after[0].received == later
    assert all(c.received >= newest - dt.timedelta(minutes=5) for c in after)
    with provider(graph, ca) as p:
        assert [f.received for f in find_tokens(p)][:2] == [later, newest]
