"""``asgi-rotator serve``, as the README's first command runs it: a real uvicorn process on loopback whose
startup line names its event loop and HTTP parser, answering the official SDK through the gateway's own
upstream client (here, the demo's FakeUpstream served by the same process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import yaml

from asgi_rotator.cli import server_stack

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_names_its_stack_and_answers_the_demo(tmp_path: Path):
    port = _free_port()
    config = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    for provider in config["providers"].values():
        provider["base_url"] = provider["base_url"].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-c", "import sys; from asgi_rotator.cli import main; sys.exit(main())"]
    args = ["serve", "--config", str(path), "--fake-upstream", "--port", str(port), "--log-level", "warning"]
    with subprocess.Popen([*command, *args], stderr=subprocess.PIPE, text=True) as server:
        try:
            assert server.stderr is not None
            loop, http = server_stack()
            assert server.stderr.readline().startswith(f"asgi-rotator: serving on {loop} with {http}")
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="demo-key", max_retries=0) as client:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        completion = client.chat.completions.create(
                            model="demo", messages=[{"role": "user", "content": "hi"}]
                        )
                        break
                    except openai.APIConnectionError:
                        assert time.monotonic() < deadline, "the server did not start"
                        time.sleep(0.1)
            assert completion.choices[0].message.content
            assert completion.model == "demo"  # the client sees the name it asked for
        finally:
            server.terminate()
