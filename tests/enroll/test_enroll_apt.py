"""Central serves the deployment's apt repository under /apt/ read-only: the index and the
packages, nothing else of the deployment directory."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

from enrollhelp import EnrollEnv

from provisioning.aptrepo import write_index


def _get(env: EnrollEnv, path: str, method: str = "GET") -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(env.dep.pki / "ca.crt"))
    req = urllib.request.Request(env.url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_apt_repository_is_served_read_only(env: EnrollEnv, tmp_path: Path) -> None:
    repo = env.dep.root / "apt"
    repo.mkdir(exist_ok=True)
    write_index(repo)
    assert _get(env, "/apt/Release")[0] == 200
    assert _get(env, "/apt/./Packages") == (200, (repo / "Packages").read_bytes())
    for path in ("/apt/../manifest.json", "/apt/%2e%2e/manifest.json", "/apt/manifest.json",
                 "/apt/pki/ca.key", "/apt/nothing.deb", "/apt/"):
        assert _get(env, path)[0] == 404, path
    assert _get(env, "/apt/Release", method="POST")[0] == 405
