"""Pins on the private aiohttp and aiobotocore code the library relies on.

Like aiobotocore's tests/test_patches.py: each function is pinned by the sha256 of its
source, for the versions whose code was read and found to behave as the library needs.
A new version fails here with what to re-check; once checked, add its hash.
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import aiohttp
import aiohttp.client
from aiobotocore.httpsession import AIOHTTPSession

from aioversioned import _s3


def _digest(function: Callable[..., Any]) -> str:
    return hashlib.sha256(textwrap.dedent(inspect.getsource(function)).encode()).hexdigest()


# aiohttp ClientSession._request, by version: does it send a PUT or DELETE again?
_REQUEST_WITHOUT_RESEND = {
    "8b6b24286920b72bee031c8b1c90a528a2179f68cbf86e238c24501572d3a60a",  # 3.9.2
}
_REQUEST_WITH_SWITCHED_RESEND = {
    "d068c1bcfe010d660b0f0a4d3444cc2ecdbfa55a0d8ea4370c0000a0079b1537",  # 3.11.0
    "0ea88654cef56ab218b945d660353ad36b07794ea8667ed034ab9cb3edaddb61",  # 3.14.5
}
# aiobotocore AIOHTTPSession._get_session, by version.
_GET_SESSION = {
    "4353a3b938f88d9fffb7f3df3f94b745c8b0b29c3384f2c57e237ad45887183e",  # 2.25.1
    "b71e40c5a3668ee0c73a89abcbbf66d921d8a55022fa42521dbc16e18c7779a0",  # 3.10.0
}


def test_aiohttp_resends_nothing_the_library_does_not_turn_off() -> None:
    digest = _digest(aiohttp.ClientSession._request)
    assert digest in _REQUEST_WITHOUT_RESEND | _REQUEST_WITH_SWITCHED_RESEND, (
        f"aiohttp {aiohttp.__version__} changed ClientSession._request (sha256 {digest}). "
        "Re-check: does it send a request again after a dropped connection "
        "(ServerDisconnectedError, ClientOSError; 3.11 to 3.14: 'retry_persistent_connection')? "
        "If it does, is every such resend of a PUT or DELETE still turned off by "
        "ClientSession._retry_connection = False, which aioversioned._s3._NoResendSession "
        "sets? tests/test_lost_answers.py must pass on it. Then add the hash here."
    )
    switched = digest in _REQUEST_WITH_SWITCHED_RESEND
    assert _s3._RESEND_SWITCH is switched
    if switched:
        assert "PUT" in aiohttp.client.IDEMPOTENT_METHODS  # what the switch is for
        assert "_retry_connection" in aiohttp.ClientSession.ATTRS


def test_aiobotocore_makes_its_aiohttp_session_where_the_library_reaches_it() -> None:
    digest = _digest(AIOHTTPSession._get_session)
    assert digest in _GET_SESSION, (
        f"aiobotocore changed AIOHTTPSession._get_session (sha256 {digest}). Re-check: does "
        "it still create (or return) the one aiohttp.ClientSession of a request, which "
        "aioversioned._s3._NoResendSession._get_session takes to turn aiohttp's resend off? "
        "Then add the hash here."
    )
    # _NoResendSession.send sends a GET or HEAD again on the error a dropped connection
    # becomes, and the session it sends on is the one _get_session returns.
    sent = inspect.getsource(AIOHTTPSession.send)
    assert "self._get_session(" in sent and "raise ConnectionClosedError(" in sent
