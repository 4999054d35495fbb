"""The generic loopback server every vendor sandbox reuses."""

import httpx
import pytest

from p2p_assets.sandbox.http import Request, Response, Router, serve


def _app() -> Router:
    router = Router()

    @router.route("GET", "/items/{item_id}")
    def item(request: Request) -> Response:
        return Response.json(
            {
                "id": request.path_params["item_id"],
                "q": request.query.get("q"),
                "agent": request.headers.get("X-AGENT"),
            }
        )

    @router.route("POST", "/echo")
    def echo(request: Request) -> Response:
        return Response(201, {"Content-Type": "application/octet-stream"}, request.body)

    @router.route("GET", "/stream")
    def stream(request: Request) -> Response:
        return Response(200, {}, (bytes([i]) * 1000 for i in range(10)))

    @router.route("GET", "/cut")
    def cut(request: Request) -> Response:
        return Response(200, {}, b"x" * 10_000, drop_after=4_000)

    @router.route("GET", "/boom")
    def boom(request: Request) -> Response:
        raise RuntimeError("handler bug")

    return router


def test_routing_query_headers_and_body():
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        got = client.get("/items/a%20b", params={"q": "1"}, headers={"x-agent": "t"}).json()
        assert got == {"id": "a b", "q": "1", "agent": "t"}
        echoed = client.post("/echo", content=b"\x00payload")
        assert (echoed.status_code, echoed.content) == (201, b"\x00payload")
        assert client.get("/missing").status_code == 404
        assert client.post("/items/1").status_code == 405
        assert client.head("/items/1").content == b""


def test_keep_alive_streaming_and_cut_connections():
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        streamed = client.get("/stream")
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert streamed.content == b"".join(bytes([i]) * 1000 for i in range(10))
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/cut")
        assert client.get("/items/2").status_code == 200  # a fresh connection works


def test_handler_errors_become_500(caplog):
    with serve(_app()) as url, httpx.Client(base_url=url) as client:
        response = client.get("/boom")
    assert (response.status_code, response.json()) == (500, {"message": "Internal server error"})
