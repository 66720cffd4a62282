"""The technician-facing CLI: teaching --help, language choice, progress without a TTY."""

from __future__ import annotations

import asyncio
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from provhelp import SAMPLE, make_deployment

from central.noc import ROUTES as NOC_ROUTES
from provisioning import brokerfiles, commands
from provisioning.build import build_all
from provisioning.cli import main
from provisioning.deployment import DEFAULT_NOC_URL, LEGACY_NOC_URL
from provisioning.i18n import CATALOGUE, Messages
from provisioning.inventory import load_inventory
from provisioning.progress import Progress
from provisioning.rules import validate


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("init", "validate", "build", "sdcard", "label", "verify", "rotate", "revoke"):
        assert f"kotanet-provision {cmd} " in out
    with pytest.raises(SystemExit):
        main(["sdcard", "--help"])
    assert "example:" in capsys.readouterr().out


def test_every_message_exists_in_both_languages() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"en", "id"}, key


def test_language_follows_lang_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    assert Messages().lang == "id"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert Messages().lang == "en"
    assert Messages("id").lang == "id"


def test_progress_without_tty_prints_one_line_per_node(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, build=False)
    inv, _ = validate(load_inventory(SAMPLE))
    assert inv is not None
    stream = io.StringIO()
    build_all(dep, inv, dep.root / "bundles", stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5 and "\r" not in stream.getvalue()
    assert lines[-1].startswith("Building [" + "#" * 30 + "] 5/5 100%")


def test_progress_redraws_in_place_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    p = Progress(2, "Membuat", stream)
    p.step("a")
    p.step("b")
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("100% b\n")


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path, build=False)
    key = dep.read("ca.key")
    assert main(["--lang", "en", "init", str(dep.root)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().out
    assert dep.read("ca.key") == key


def test_commands_without_deployment_explain_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "-d", str(tmp_path), "label", "tks-01"]) == 1
    assert "run 'kotanet-provision init" in capsys.readouterr().out


def test_build_names_nodes_dropped_from_the_inventory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    smaller = tmp_path / "smaller.yaml"
    text = SAMPLE.read_text()
    smaller.write_text(text[: text.index("  - id: kominfo-01")])
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "build", str(smaller)]) == 0
    out = capsys.readouterr().out
    assert "not in this inventory: kominfo-01 (revoke them" in out


def test_rotate_and_revoke_say_when_the_broker_was_not_reloaded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    dep = make_deployment(tmp_path)
    nowhere = (str(tmp_path / "no-mosquitto.pid"),)  # never signal a mosquitto of the host
    monkeypatch.setattr(brokerfiles, "DEFAULT_PID_FILES", nowhere)
    monkeypatch.setattr(commands, "DEFAULT_PID_FILES", nowhere)
    capsys.readouterr()
    # rotate without --pid-file and no default pid file: the technician is told
    assert main(["--lang", "en", "-d", str(dep.root), "rotate", "tks-01"]) == 0
    out = capsys.readouterr().out
    assert "New credentials for tks-01" in out
    assert f"Broker NOT reloaded: no mosquitto pid file found ({nowhere[0]})" in out
    assert f"install {dep.broker_dir} on the broker host" in out
    # rotate --confirm with a --pid-file that does not exist, in Bahasa Indonesia
    missing = tmp_path / "missing.pid"
    assert main(["--lang", "id", "-d", str(dep.root), "rotate", "tks-01", "--confirm",
                 "--pid-file", str(missing)]) == 0
    out = capsys.readouterr().out
    assert "Rotasi tks-01 dikonfirmasi" in out
    assert f"Broker TIDAK dimuat ulang: berkas pid mosquitto tidak ditemukan ({missing})" in out
    # revoke no longer claims a reload that did not happen
    assert main(["--lang", "en", "-d", str(dep.root), "revoke", "tks-02"]) == 0
    out = capsys.readouterr().out
    assert "Node tks-02 revoked" in out and "Broker NOT reloaded" in out
    assert "Broker reloaded" not in out and "and broker reloaded" not in out


def _noc_route(url: str) -> str:
    """The NOC route template (e.g. /noc/nodes/{node}) central would serve url's path with."""
    app = web.Application()
    for method, path, handler in NOC_ROUTES:
        app.router.add_route(method, path, handler)
    match = asyncio.run(app.router.resolve(make_mocked_request("GET", urlsplit(url).path,
                                                               app=app)))
    assert match.http_exception is None, f"central serves no page at {url}"
    assert match.route.resource is not None
    return match.route.resource.canonical


def test_default_label_url_is_the_node_page_central_serves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    assert dep.settings.noc_url == DEFAULT_NOC_URL
    assert _noc_route(DEFAULT_NOC_URL.replace("{node}", "tks-01")) == "/noc/nodes/{node}"
    with pytest.raises(AssertionError, match="serves no page"):
        _noc_route(LEGACY_NOC_URL.replace("{node}", "tks-01"))  # the old default: no route
    ns = {"s": "http://www.w3.org/2000/svg"}
    out = tmp_path / "labels"
    assert main(["-d", str(dep.root), "label", "tks-01", "--out", str(out)]) == 0
    texts = [t.text for t in ET.parse(out / "tks-01-label.svg").getroot().findall("s:text", ns)]
    assert "https://noc.kotimkab.go.id/noc/nodes/tks-01" in texts
    # a deployment made with the old default gets the served page on its labels too
    settings = json.loads((dep.root / "deployment.json").read_text())
    (dep.root / "deployment.json").write_text(json.dumps({**settings, "noc_url": LEGACY_NOC_URL}))
    assert main(["-d", str(dep.root), "label", "tks-01", "--out", str(out)]) == 0
    texts = [t.text for t in ET.parse(out / "tks-01-label.svg").getroot().findall("s:text", ns)]
    assert "https://noc.kotimkab.go.id/noc/nodes/tks-01" in texts
