"""Enrolment refusals: each has a stable code, an English and an Indonesian message, changes
nothing at the broker, and leaves the token where the technician can inspect it."""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

import pytest
from enrollhelp import EnrollEnv, HttpsServer, connack, post, run_enroll
from provhelp import node_password

from central.api.client_addr import TRUSTED_PROXIES, trusted_networks
from central.enroll import RateLimiter, setup_enroll
from provisioning.cli import main as provision
from provisioning.localbroker import free_port
from provisioning.pki import make_signing_key
from provisioning.tokens import mint_token

pytestmark = pytest.mark.broker


def token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "enroll.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    return path


def enroll(env: EnrollEnv, tmp_path: Path, token: str, lang: str = "en") -> tuple[int, str]:
    """Run the agent with this token; (exit status, stderr). Checks nothing was installed."""
    path = token_file(tmp_path, token)
    out = tmp_path / "out"
    proc = run_enroll("--token-file", str(path), "--central", env.url,
                      "--ca", str(env.dep.pki / "ca.crt"), "--out", str(out), lang=lang)
    assert path.exists(), "a refused token must stay in place"
    assert not (out / "agent.toml").exists() and not (out / "mqtt-password").exists()
    assert token not in proc.stdout + proc.stderr
    return proc.returncode, proc.stderr


def test_expired_token_is_refused_in_both_languages(env: EnrollEnv, tmp_path: Path) -> None:
    ttl = 3600
    token, _ = mint_token(env.dep.read("signing.key"), "bupati-01", env.site_of("bupati-01"),
                          ttl_s=ttl, now=time.time() - ttl - 60)
    rc, err = enroll(env, tmp_path / "en", token)
    assert rc == 3 and "[expired]" in err and "has expired" in err
    rc, err = enroll(env, tmp_path / "id", token, lang="id")
    assert rc == 3 and "[expired]" in err and "kedaluwarsa" in err


def test_forged_token_is_refused(env: EnrollEnv, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    other_key, _ = make_signing_key()
    token, _ = mint_token(other_key, "bupati-01", env.site_of("bupati-01"))
    rc, err = enroll(env, tmp_path, token)
    assert rc == 3 and "[bad_signature]" in err
    assert "enrolment of node ? from 127.0.0.1 refused: bad_signature" in caplog.text
    assert token not in caplog.text


def test_token_for_a_node_central_does_not_know_is_refused(env: EnrollEnv,
                                                           tmp_path: Path) -> None:
    token, _ = mint_token(env.dep.read("signing.key"), "ghost-01", env.site_of("tks-01"))
    rc, err = enroll(env, tmp_path / "ghost", token)
    assert rc == 3 and "[unknown_node]" in err
    # a real node, but the token names another site
    token, _ = mint_token(env.dep.read("signing.key"), "tks-01", "kantor-bupati")
    rc, err = enroll(env, tmp_path / "site", token)
    assert rc == 3 and "[unknown_node]" in err


def test_revoked_node_cannot_enrol_nor_log_in(env: EnrollEnv, tmp_path: Path) -> None:
    token, _ = mint_token(env.dep.read("signing.key"), "kominfo-01", env.site_of("kominfo-01"))
    bundle_password = node_password(env.dep, "kominfo-01")
    before = env.broker.reloads()
    assert provision(["--lang", "en", "-d", str(env.dep.root), "revoke", "kominfo-01", "--yes",
                      "--pid-file", str(env.broker.pid_file)]) == 0
    env.broker.wait_reloaded(before)
    rc, err = enroll(env, tmp_path, token)
    assert rc == 3 and "[revoked]" in err and "re-admit" in err
    assert connack(env, "kominfo-01", bundle_password) != 0
    # the token was not consumed: the node is refused for being revoked, not for reuse
    rc, err = enroll(env, tmp_path, token)
    assert "[revoked]" in err


def test_missing_token_and_plain_http_are_refused_on_the_node(env: EnrollEnv,
                                                             tmp_path: Path) -> None:
    proc = run_enroll("--token-file", str(tmp_path / "none.token"), "--central", env.url,
                      "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "[no_token]" in proc.stderr
    path = token_file(tmp_path, "kte1.x.y")
    proc = run_enroll("--token-file", str(path), "--central", env.url.replace("https", "http"),
                      "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "[insecure_url]" in proc.stderr


def test_bad_requests_get_stable_codes(env: EnrollEnv) -> None:
    secret = secrets.token_urlsafe(32)
    assert post(env, {"token": "not-a-token", "secret": secret})[1]["error"] == "malformed"
    token, _ = mint_token(env.dep.read("signing.key"), "bupati-01", env.site_of("bupati-01"))
    status, body = post(env, {"token": token, "secret": "short"})
    assert (status, body["error"]) == (400, "bad_request")
    assert set(body) == {"error", "message", "message_id"}
    status, body = post(env, {"token": token + "A" * 9000, "secret": secret})
    assert (status, body["error"]) == (400, "bad_request")
    # none of these consumed the token: the node can still enrol with it
    status, body = post(env, {"token": token, "secret": secret})
    assert (status, body["node"]) == (200, "bupati-01")


def test_enrolment_is_rate_limited_per_address(env: EnrollEnv) -> None:
    server = HttpsServer(env.dep, free_port())
    setup_enroll(server.app, env.dep.root, str(env.broker.pid_file), per_minute=1, burst=3)
    with server:
        limited = EnrollEnv(env.dep, env.broker, server.url, env.root)
        codes = [post(limited, {"token": "kte1.a.b", "secret": "x" * 40}) for _ in range(4)]
    assert [c[0] for c in codes] == [401, 401, 401, 429]
    assert codes[0][1]["error"] == "bad_signature" and codes[3][1]["error"] == "rate_limited"


@pytest.mark.parametrize("trusted", [True, False])
def test_rate_limit_behind_a_trusted_proxy_is_per_forwarded_client(
        env: EnrollEnv, trusted: bool) -> None:
    server = HttpsServer(env.dep, free_port())
    if trusted:  # what assemble.py does for [http] trusted_proxies = ["127.0.0.1"]
        server.app[TRUSTED_PROXIES] = trusted_networks(["127.0.0.1"])
    setup_enroll(server.app, env.dep.root, str(env.broker.pid_file), per_minute=1, burst=2)
    bad = {"token": "kte1.a.b", "secret": "x" * 40}
    with server:
        limited = EnrollEnv(env.dep, env.broker, server.url, env.root)
        first = [post(limited, bad, headers={"X-Forwarded-For": "203.0.113.5"})[0]
                 for _ in range(3)]
        # a spoofed left entry does not give the same client a fresh bucket
        spoofed = post(limited, bad, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"})
        other = post(limited, bad, headers={"X-Forwarded-For": "203.0.113.6"})
    assert first == [401, 401, 429] and spoofed[0] == 429
    # trusted: another technician behind the same proxy is not locked out by the first
    assert other[0] == (401 if trusted else 429)


def test_rate_limiter_refills_and_keeps_addresses_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert [limiter.allow("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert limiter.allow("10.0.0.2")
    now[0] += 10.0  # 6 per minute: one request back after 10 s
    assert limiter.allow("10.0.0.1") and not limiter.allow("10.0.0.1")


def test_generated_enrol_unit_runs_this_cli(env: EnrollEnv) -> None:
    from agent.cli import build_enroll_parser

    unit = (env.dep.root / "bundles/nodes/tks-01/etc/systemd/system/kotanet-enroll.service")
    exec_line = next(ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart="))
    argv = exec_line.split()
    assert argv[1] == "enroll"
    args = build_enroll_parser().parse_args(argv[2:])
    assert Path("/boot/firmware/kotanet/enroll.token") in args.token_file
    assert Path("/etc/kotanet/enroll.token") in args.token_file
    assert args.out == Path("/etc/kotanet")
