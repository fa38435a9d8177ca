"""The MCP server with the official MCP Python SDK as a real client: `atlas mcp` over stdio and
Streamable HTTP at /mcp on atlasd. Lists the tools, calls each one, and checks bad arguments,
unknown tools and resources."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_helpers import post_overtrained_run, wait_for_diagnosis
from atlasd import ATLAS_CLI, ATLASD, Server
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextResourceContents

Json = Any
READ_ONLY_TOOLS = {
    "list_projects",
    "list_runs",
    "get_run_summary",
    "get_epoch_metrics",
    "get_findings",
    "get_layer_health",
    "get_architecture",
    "get_energy_timeline",
    "get_waste_report",
    "get_forecast",
    "compare_runs",
    "get_project_history",
    "get_beliefs",
}


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    if not ATLASD.exists():
        pytest.fail(f"{ATLASD} is not built: run `make build` first")
    with Server(tmp_path / "data") as server:
        first = post_overtrained_run(server, "first")
        second = post_overtrained_run(server, "second", epochs=6)
        wait_for_diagnosis(server, first)
        wait_for_diagnosis(server, second)
        yield server, first, second


def arguments_for(name: str, run: str, other: str) -> dict[str, Json]:
    if name in ("list_projects", "list_runs"):
        return {}
    if name == "compare_runs":
        return {"run_id": run, "other_run_id": other}
    return {"run_id": run}


Transport = Callable[[], AbstractAsyncContextManager[Any]]


async def exercise(transport: Transport, run: str, other: str) -> None:
    async with transport() as streams, ClientSession(streams[0], streams[1]) as session:
        init = await session.initialize()
        assert init.server_info.name == "atlas"
        assert init.protocol_version == "2025-06-18"

        listed = await session.list_tools()
        names = {t.name for t in listed.tools}
        assert names == READ_ONLY_TOOLS  # read-only: no action tool without the flag
        for tool in listed.tools:
            assert tool.input_schema["type"] == "object"
            assert tool.description

        for name in sorted(READ_ONLY_TOOLS):
            result = await session.call_tool(name, arguments_for(name, run, other))
            assert not result.is_error, (name, result.content)
            assert result.content[0].type == "text"
            assert json.loads(result.content[0].text) == result.structured_content

        summary = await session.call_tool("get_run_summary", {"run_id": run})
        assert summary.structured_content["run_id"] == run
        compared = await session.call_tool("compare_runs", {"run_id": run, "other_run_id": other})
        assert compared.structured_content["same_architecture"] is True

        with pytest.raises(MCPError) as missing:
            await session.call_tool("get_findings", {})
        assert missing.value.code == -32602
        assert "run_id" in missing.value.message
        with pytest.raises(MCPError) as wrong_type:
            await session.call_tool("get_epoch_metrics", {"run_id": run, "from_epoch": "three"})
        assert wrong_type.value.code == -32602
        assert "from_epoch" in wrong_type.value.message
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("drop_all_tables", {})
        assert unknown.value.code == -32602
        with pytest.raises(MCPError):
            await session.call_tool(
                "request_run_action", {"run_id": run, "action": "stop", "reason": "x"}
            )
        not_found = await session.call_tool("get_findings", {"run_id": "no-such-run"})
        assert not_found.is_error

        resources = await session.list_resources()
        uris = {str(r.uri) for r in resources.resources}
        assert f"atlas://runs/{run}" in uris
        read = await session.read_resource(f"atlas://runs/{run}")
        content = read.contents[0]
        assert isinstance(content, TextResourceContents)
        assert json.loads(content.text)["run_id"] == run


def test_stdio_transport_of_atlas_mcp(runs: tuple[Server, str, str]) -> None:
    server, run, other = runs
    params = StdioServerParameters(
        command=str(ATLAS_CLI), args=["mcp", "--url", f"http://127.0.0.1:{server.port}"]
    )
    anyio.run(exercise, lambda: stdio_client(params), run, other)


def test_streamable_http_transport_on_atlasd(runs: tuple[Server, str, str]) -> None:
    server, run, other = runs
    url = f"http://127.0.0.1:{server.port}/mcp"
    anyio.run(exercise, lambda: streamable_http_client(url), run, other)


def test_http_transport_refuses_what_the_spec_says_to_refuse(runs: tuple[Server, str, str]) -> None:
    server, _, _ = runs
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18"},
    }
    assert server.post("/mcp", init).status == 200
    note = server.post("/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert note.status == 202
    assert note.body is None
    assert server.post_raw("/mcp", b"{not json").body["error"]["code"] == -32700
    assert server.get("/mcp").status == 405
    evil = server.post_raw(
        "/mcp", json.dumps(init).encode(), extra={"Origin": "http://evil.example"}
    )
    assert evil.status == 403
    old = server.post_raw(
        "/mcp", json.dumps(init).encode(), extra={"MCP-Protocol-Version": "1999-01-01"}
    )
    assert old.status == 400
