"""Device-code sign-in polls as the identity platform demands (RFC 8628 section 3.5).

The identity emulator names a polling interval, answers a poll that comes sooner with
``slow_down``, and can force ``slow_down``; the Outlook sign-in (MSAL underneath) must keep to
the interval, wait longer after ``slow_down``, and still sign in.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from emulators.ms_emulators import IdentityEmulator, LoopbackCA
from inbox_finder.providers.outlook.auth import run_device_code_login

PUBLIC_ID = "7c6a9e1e-1111-4222-8333-944455556666"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def make_idp(ca: LoopbackCA) -> Iterator[list[IdentityEmulator]]:
    made: list[IdentityEmulator] = []
    yield made
    for emu in made:
        emu.__exit__(None, None, None)


def start(made: list[IdentityEmulator], ca: LoopbackCA, **options: int) -> IdentityEmulator:
    emu = IdentityEmulator(ca, **options).__enter__()
    made.append(emu)
    emu.register_public_client(PUBLIC_ID)
    return emu


def sign_in(idp: IdentityEmulator, ca: LoopbackCA, tmp_path: Path) -> str:
    return run_device_code_login(
        PUBLIC_ID,
        "common",
        idp.authority("common"),
        tmp_path / "cache.json",
        ca_file=str(ca.ca_file),
        out=io.StringIO(),
    )


def gaps(idp: IdentityEmulator) -> list[float]:
    times = idp.poll_times
    return [b - a for a, b in itertools.pairwise(times)]


def test_sign_in_keeps_to_the_interval_it_was_given(
    make_idp: list[IdentityEmulator], ca: LoopbackCA, tmp_path: Path
) -> None:
    idp = start(make_idp, ca, pending_polls=2, interval=1)
    assert sign_in(idp, ca, tmp_path) == idp.device_user
    assert len(idp.poll_times) == 3  # two "pending" answers, then the token
    assert all(gap >= 0.95 for gap in gaps(idp)), gaps(idp)


def test_after_slow_down_the_sign_in_waits_longer_and_still_succeeds(
    make_idp: list[IdentityEmulator], ca: LoopbackCA, tmp_path: Path
) -> None:
    idp = start(make_idp, ca, pending_polls=0, interval=1, slow_down_polls=1)
    assert sign_in(idp, ca, tmp_path) == idp.device_user
    assert len(idp.poll_times) == 2
    # RFC 8628: after slow_down the interval grows by 5 seconds for every later poll.
    assert gaps(idp)[0] >= 5.9


def test_a_client_polling_too_fast_is_told_to_slow_down(
    make_idp: list[IdentityEmulator], ca: LoopbackCA
) -> None:
    idp = start(make_idp, ca, pending_polls=5, interval=3)
    base = idp.authority("common") + "/oauth2/v2.0"
    ca_file = str(ca.ca_file)

    def post(path: str, data: dict[str, str]) -> dict[str, object]:
        answer: dict[str, object] = requests.post(
            f"{base}/{path}", data=data, verify=ca_file, timeout=10
        ).json()
        return answer

    flow = post("devicecode", {"client_id": PUBLIC_ID})
    assert flow["interval"] == 3
    poll = {"client_id": PUBLIC_ID, "grant_type": DEVICE, "device_code": str(flow["device_code"])}
    first, second = post("token", poll), post("token", poll)
    assert (first["error"], second["error"]) == ("authorization_pending", "slow_down")


def test_an_interval_of_zero_is_not_what_the_service_sends(ca: LoopbackCA) -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        IdentityEmulator(ca, interval=0)
