"""The namespace lab the provisioning and netns tests share leaks nothing when set-up fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netns import nsutil
from netns.nsutil import TMP_VETH_PREFIX, Lab, Netns, sh

pytestmark = pytest.mark.netns


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("ktn")
    yield lab
    lab.close()


def _root_links() -> set[str]:
    out = sh(["ip", "-o", "link", "show"]).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _namespaces() -> set[str]:
    return {line.split()[0] for line in sh(["ip", "netns", "list"]).stdout.splitlines() if line}


def test_failed_link_leaves_no_veth_in_root_namespace(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    a = lab.add("a")
    gone = Netns(f"{lab.prefix}-gone")
    gone.delete()  # moving the second end into it fails after the pair exists
    names = (f"{TMP_VETH_PREFIX}{lab.prefix[-4:]}xa", f"{TMP_VETH_PREFIX}{lab.prefix[-4:]}xb")
    monkeypatch.setattr(Lab, "_tmp_names", staticmethod(lambda: names))
    try:
        with pytest.raises(RuntimeError):
            lab.link(a, "eth0", None, gone, "eth0", None)
        assert not set(names) & _root_links(), "temporary veth leaked into the root namespace"
    finally:
        for name in names:
            sh(["ip", "link", "del", name], check=False)


def test_tmp_veth_names_have_the_known_prefix_and_fit() -> None:
    a, b = Lab._tmp_names()
    assert a.startswith(TMP_VETH_PREFIX) and b.startswith(TMP_VETH_PREFIX) and a != b
    assert len(a) <= 15 and len(b) <= 15


def test_failed_namespace_setup_deletes_the_namespace(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"{lab.prefix}-half"

    def broken_run(self: Netns, *args: str, **kw: object) -> object:
        raise RuntimeError("configuration failed")

    monkeypatch.setattr(nsutil.Netns, "run", broken_run)
    try:
        with pytest.raises(RuntimeError):
            Netns(name)
        assert name not in _namespaces(), "half-configured namespace leaked"
    finally:
        sh(["ip", "netns", "del", name], check=False)
