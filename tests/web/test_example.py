"""examples/web: the worked example page, bundled as its `build:test` script does (the unchanged SDK,
@daily-co/daily-js aliased to the stand-in), plays bundled scenarios; the test reads what a user sees.

The page is the example's own index.html and main.js: the test only passes the mock's URL, a public key
and an assistant id in the query string, clicks "Call", and watches the page's DOM.
"""

from __future__ import annotations

import shutil
from typing import Any

import aiohttp
import pytest

from mockvapi.testing import MockVapi

from .conftest import HERE, PageServer, WebTools, bundle, drive

EXAMPLE = HERE.parents[1] / "examples" / "web"
KEY = "pk-example"
SPEED = 10.0

# Records each change of the captions' text and of the "thinking..." line, as a user would see them.
WATCH = """(() => {
  const root = document.getElementById("call");
  const seen = (window.__seen = { captions: [], thinking: [] });
  const look = () => {
    const text = root.querySelector("[data-role=captions]").innerText;
    if (seen.captions[seen.captions.length - 1] !== text) seen.captions.push(text);
    const shown = !root.querySelector("[data-role=thinking]").hidden;
    if (seen.thinking[seen.thinking.length - 1] !== shown) seen.thinking.push(shown);
  };
  new MutationObserver(look).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  look();
  return true;
})()"""
SHOWN = """(() => {
  const root = document.getElementById("call");
  const texts = (selector) => [...root.querySelectorAll(selector)].map((e) => e.innerText);
  return { seen: window.__seen, captions: texts("[data-role=captions] p"),
           transcript: texts("[data-role=transcript] li"), status: root.dataset.status };
})()"""


@pytest.fixture(scope="module")
def example_page(web_tools: WebTools) -> str:
    folder = web_tools.build / "example"
    if not folder.exists():
        folder.mkdir()
        shutil.copy(EXAMPLE / "index.html", folder / "index.html")
        sdk = HERE / "node_modules" / "@vapi-ai" / "web"
        bundle(EXAMPLE / "main.js", folder / "app.js", web_tools.shim, {"@vapi-ai/web": str(sdk)})
    return "/example/index.html"


async def play_into_the_page(page_server: PageServer, example_page: str, scenario: str) -> dict[str, Any]:
    async with MockVapi(serve=True, clock="real", speed=SPEED, token=KEY) as vapi:
        api = str(vapi.server.url)  # type: ignore[union-attr]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            body = {"name": "Jordan", "metadata": {"mockvapi": {"scenario": scenario}}}
            async with http.post(f"{api}/assistant", json=body) as answer:
                assistant = (await answer.json())["id"]
        out = await drive(
            f"{page_server.url}{example_page}?api={api}&key={KEY}&assistant={assistant}",
            [{"eval": WATCH}, {"click": "[data-role=start]"}, {"waitFor": "main[data-status=ended]"}, {"eval": SHOWN}],
        )
    assert out["pageErrors"] == []
    shown: dict[str, Any] = out["results"][-1]
    return shown


async def test_captions_drop_the_words_the_caller_cut_off(
    web_tools: WebTools, page_server: PageServer, example_page: str
) -> None:
    shown = await play_into_the_page(page_server, example_page, "barge-in")
    assert any("Monday at ten" in text for text in shown["seen"]["captions"])  # streamed while it spoke...
    assert not any("Monday at ten" in text for text in shown["captions"])  # ...gone once it was cut off
    assert shown["captions"][-1] == (
        "Done. You're booked for Tuesday at two thirty. You'll get a text reminder the day before."
    )
    assert shown["transcript"][-1] == "You: Great, thank you. Bye!"
    assert "You: Tuesday at two thirty works." in shown["transcript"]
    assert shown["status"] == "ended"


async def test_thinking_shows_while_a_slow_tool_hangs_the_call(
    web_tools: WebTools, page_server: PageServer, example_page: str
) -> None:
    shown = await play_into_the_page(page_server, example_page, "slow-tool-hang")
    assert shown["seen"]["thinking"][:3] == [False, True, False]  # hidden, shown on hang, hidden when it speaks
    assert shown["status"] == "ended" and shown["transcript"][0].startswith("Assistant: ")
