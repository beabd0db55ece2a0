"""The README's four flows, run as written against a fresh `oncolink serve --dev`.

The blocks between `<!-- flows -->` and `<!-- /flows -->` are pasted into one bash session, as a reader
would; each block must succeed and print every `#→` line it announces. Only the addresses change: the
server listens on free ports instead of 8080/2575, and writes its tokens and outbox under a temporary
folder (`var/dev-tokens.json` in the README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@block-done@@"


def blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- flows -->", 1)[1].split("<!-- /flows -->", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def expectations(block: str) -> list[str]:
    return [line.split("#→", 1)[1].strip() for line in block.splitlines() if line.startswith("#→")]


@pytest.fixture
def server(tmp_path: Path, package_cache: Path) -> Iterator[dict[str, str]]:
    port, mllp = free_port(), free_port()
    env = {**os.environ, "ONCOLINK_DATABASE_URL": f"sqlite:///{tmp_path / 'flows.db'}", "ONCOLINK_PORT": str(port),
           "ONCOLINK_MLLP_PORT": str(mllp), "ONCOLINK_PACKAGE_CACHE": str(package_cache),
           "ONCOLINK_DEV_TOKENS_FILE": str(tmp_path / "dev-tokens.json"), "ONCOLINK_LOG_LEVEL": "warning",
           "ONCOLINK_MSSANTE_OUTBOX_DIR": str(tmp_path / "outbox"), "ONCOLINK_MSSANTE_SMTP_HOST": "",
           "ONCOLINK_MSSANTE_POLL_SECONDS": "0.5"}
    for name in ("ONCOLINK_AUTH_ISSUER", "ONCOLINK_TOKEN", "ONCOLINK_FHIR_TOKEN", "ONCOLINK_FHIR_BASE_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "fhir_server", "serve", "--dev"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until_serving(proc, port)
    env["ONCOLINK_TEST_TMP"] = str(tmp_path)
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _adapted(block: str, env: dict[str, str]) -> str:
    return (block.replace("127.0.0.1:8080", f"127.0.0.1:{env['ONCOLINK_PORT']}")
            .replace("var/dev-tokens.json", env["ONCOLINK_DEV_TOKENS_FILE"]))


def test_the_readme_flows_work_as_written(server: dict[str, str]) -> None:
    found = blocks()
    assert len(found) == 4, "the README walks through four flows"
    script = "set -euo pipefail\n" + "".join(f"{_adapted(b, server)}\necho {MARKER}\n" for b in found)
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=server, capture_output=True, text=True, timeout=600)
    outputs = done.stdout.split(MARKER)
    assert done.returncode == 0, f"block {len(outputs)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for number, (block, output) in enumerate(zip(found, outputs, strict=False), start=1):
        for expected in expectations(_adapted(block, server)):
            assert expected in output, f"flow {number}: {expected!r} not in\n{output[-3000:]}"
