"""A Label Studio server on 127.0.0.1 for the tests that need one (tests/test_annotation_e2e.py and
tests/test_annotation_browser.py): found through ``ICAA_LABEL_STUDIO_BIN`` or ``.venv-ls/bin/label-studio``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "icaa-e2e-token-4d1f7a"


def label_studio_binary() -> Path | None:
    candidates = [os.environ.get("ICAA_LABEL_STUDIO_BIN"), REPO_ROOT / ".venv-ls" / "bin" / "label-studio"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A Label Studio process on 127.0.0.1 with a fresh data directory; restartable on the same database."""

    def __init__(self, binary: Path, root: Path):
        self.binary, self.root, self.port = binary, root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180.0) -> None:
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(self.root / "ls-data"),
               "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
               "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.root), "LATEST_VERSION_CHECK": "false"}
        log = open(self.root / "ls.log", "ab")
        self.process = subprocess.Popen(
            [str(self.binary), "start", "--internal-host", "127.0.0.1", "-p", str(self.port), "--no-browser",
             "--username", "admin@example.com", "--password", "Adm1nPass!", "--user-token", TOKEN,
             "--enable-legacy-api-token"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Label Studio exited: {(self.root / 'ls.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/api/projects", headers={"Authorization": f"Token {TOKEN}"},
                                timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("Label Studio did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None




#: What the server writes to its log when a request made it fail (Django's traceback, DRF's 404 on a page past
#: the last one, any 5xx).
SERVER_ERROR = re.compile(r"Traceback \(most recent call last\)|Invalid page|\" 5\d\d \d+$|"
                          r"Internal Server Error", re.MULTILINE)


def server_errors(log_text: str) -> list[str]:
    """Lines of a Label Studio log that report a server-side error."""
    return [line for line in log_text.splitlines() if SERVER_ERROR.search(line)]
