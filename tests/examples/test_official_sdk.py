"""Code that uses the official SDK (`vapi-server-sdk`), tested against the mock's REST API.

The same works against `mockvapi serve --port 8000` with `base_url="http://127.0.0.1:8000"`.
"""

from __future__ import annotations

import httpx
import pytest
from vapi import AsyncVapi

from mockvapi.testing import MockVapi


async def start_follow_up_call(vapi: AsyncVapi, assistant_id: str) -> str:
    """The code under test: start a call with the follow-up assistant."""
    call = await vapi.calls.create(assistant_id=assistant_id, name="Roof inspection follow-up")
    return call.id


@pytest.mark.mockvapi(serve=True)
async def test_follow_up_call_reaches_voicemail(mockvapi: MockVapi) -> None:
    async with httpx.AsyncClient() as http:
        vapi = AsyncVapi(token="test-token", base_url=mockvapi.server.url, httpx_client=http)
        assistant = await vapi.assistants.create(
            name="Drew", metadata={"mockvapi": {"scenario": "outbound-voicemail"}}  # the call it plays
        )

        call_id = await start_follow_up_call(vapi, assistant.id)
        await mockvapi.find_call(call_id).wait()  # the call plays in virtual time

        call = await vapi.calls.get(call_id)
        assert call.status == "ended" and call.ended_reason == "voicemail"
        assert call.name == "Roof inspection follow-up"
