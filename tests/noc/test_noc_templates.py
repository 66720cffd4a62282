"""The NOC renders through Jinja2 templates: no markup in its Python, every value escaped,
errors inside the layout, central's root URL leads to the NOC, the console's bounds are the
command contract's, and the templates ship as package data."""

from __future__ import annotations

import ast
import fnmatch
import re
import time
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp import web
from noc_helpers import (
    PASSWORD,
    ROOT,
    Browserless,
    ServerThread,
    build_app,
    central_cfg,
    csrf_of,
    fill,
    open_db,
    run_async,
)

from central.commands.params import MAX_TTL_S, MIN_TTL_S
from central.noc.store import create_user
from central.noc.templating import make_env
from central.storage import Incoming
from protocol.messages import Tele
from protocol.params import MAX_KBPS, MAX_LEASE_S, MIN_KBPS

NOC_DIR = ROOT / "central" / "noc"
TEMPLATES = NOC_DIR / "templates"
NODE, SITE = "taman-kota-sampit-01", "taman-kota-sampit"
EVIL = '<img src=x onerror="alert(1)">'
#: An opening or closing tag (`<td`, `</td>`, `<br/>`), a doctype or a comment.
MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?=[\s/>]|$)|<!")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of a module, its classes and functions."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def markup_in(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal holding HTML markup; f-strings are checked with
    their placeholders filled, docstrings are left out."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                                for v in n.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
        else:
            continue
        if MARKUP.search(str(text)):
            found.append((node.lineno, str(text)[:80]))
    return sorted(found)


def test_the_markup_detector_finds_what_the_noc_used_to_do() -> None:
    """The check below can fail: it catches the old style and lets docstrings through."""
    old_style = '''
"""Module doc that may say <table> and <tr>."""
def cell(v):
    """Returns <td>v</td>."""
    return f'<td class="{v}">{v}</td>'
ROW = "<tr>"
def frame(tag):
    return f"<{tag}>"
END = "</main></body>"
DOCTYPE = "<!doctype html>"
'''
    assert sorted(line for line, _ in markup_in(old_style)) == [5, 6, 8, 9, 10]
    assert markup_in('"""<b>doc</b>"""\nX = "a < b, x<>y, 3<4"\nY = f"{1} < {2}"\n') == []


def test_no_python_file_of_the_noc_holds_html() -> None:
    files = sorted(NOC_DIR.rglob("*.py"))
    assert len(files) > 15  # the whole package, not an empty glob
    bad = {str(p.relative_to(ROOT)): hits for p in files
           if (hits := markup_in(p.read_text(encoding="utf-8")))}
    assert not bad, f"HTML belongs in central/noc/templates/, found in: {bad}"


def test_jinja2_is_imported_in_one_place() -> None:
    """central/noc/templating.py is the one module that knows the template engine."""
    users = set()
    for path in (ROOT / "central").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("jinja2", "aiohttp_jinja2") for n in names):
                users.add(str(path.relative_to(ROOT)))
    assert users == {"central/noc/templating.py"}


def test_every_template_compiles_and_ships_as_package_data() -> None:
    env = make_env(web.Application())  # the NOC's own environment: its filters, autoescape on
    assert env.autoescape is True
    names = env.list_templates()
    assert {"base.html", "fleet.html", "node.html", "budget.html", "users.html", "audit.html",
            "settings.html", "login.html", "setup.html", "error.html",
            "install/check.html"} <= set(names)
    for name in names:
        env.get_template(name)  # raises on a syntax error
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["central.noc"]
    for name in names:
        assert any(fnmatch.fnmatch(f"templates/{name}", p) for p in patterns), name


class _Inputs(HTMLParser):
    """name -> attributes of every <input> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input" and dict(attrs).get("name"):
            self.inputs[str(dict(attrs)["name"])] = dict(attrs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [(NODE, SITE)])
    now = int(time.time() * 1000)
    tele = Tele.model_validate({"site": SITE, "node": NODE, "ts_ms": now, "session": 1,
                                "seq": 50, "samples": [], "events": [
                                    {"ts_ms": now, "kind": "failover", "severity": "warning",
                                     "message": EVIL}]})
    storage.write([Incoming(SITE, NODE, tele, now)])
    for role in ("admin", "operator"):
        create_user(db, role, PASSWORD, role)
    srv = ServerThread(build_app(central_cfg(db), storage)).start()
    yield srv
    srv.stop()
    storage.close()


async def _pages(base: str) -> dict[str, tuple[int, str, str]]:
    """(status, content type, body) of the pages this module checks."""
    out: dict[str, tuple[int, str, str]] = {}
    anon = Browserless(base)
    op = Browserless(base)
    admin = Browserless(base)
    try:
        async with anon.http.get(base + "/", allow_redirects=False) as r:
            out["root-anon"] = (r.status, r.headers.get("Location", ""), await r.text())
        async with anon.http.get(base + "/noc/login") as r:  # a failed login with markup
            pre = csrf_of(await r.text())
        async with anon.http.post(base + "/noc/login", data={
                "csrf": pre, "username": EVIL, "password": "wrong-password"}) as r:
            out["login-failed"] = (r.status, r.content_type, await r.text())
        assert await op.login("operator") == 303
        assert await admin.login("admin") == 303
        op.http.cookie_jar.update_cookies({"kt_lang": "id"})
        for name, c, path in (("root-op", op, "/"), ("node", op, f"/noc/nodes/{NODE}"),
                              ("node-404", op, "/noc/nodes/no-such-node"),
                              ("path-404", op, "/noc/no-such-page"),
                              ("cause-404", op, "/noc/api/nodes/no-such-node/cause"),
                              ("users-403", op, "/noc/users"), ("audit", admin, "/noc/audit")):
            async with c.http.get(base + path, allow_redirects=False) as r:
                out[name] = (r.status, r.headers.get("Location") or r.content_type,
                             await r.text())
        async with admin.http.post(base + "/noc/settings/site", data={
                "csrf": admin.csrf, "site": SITE, "lat": "x<b>", "lon": "1",
                "capacity_mbps": "3"}) as r:
            out["site-400"] = (r.status, r.content_type, await r.text())
    finally:
        for c in (anon, op, admin):
            await c.close()
    return out


def test_pages_escape_values_render_errors_in_the_layout_and_root_leads_to_the_noc(
        server: ServerThread) -> None:
    pages = run_async(_pages(server.url))
    # central's root URL: the login page when not logged in, the fleet when logged in
    assert pages["root-anon"][:2] == (302, "/noc/login")
    assert pages["root-op"][:2] == (302, "/noc/")
    # what users and nodes send is text, never markup: a user name and an event message
    status, _, html = pages["login-failed"]
    assert status == 401 and EVIL not in html and 'value="' + EVIL not in html
    status, _, html = pages["audit"]
    assert status == 200 and EVIL not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    status, _, html = pages["node"]
    assert status == 200 and EVIL not in html and "&lt;img src=x" in html
    # the console's bounds are the command contract's
    parser = _Inputs()
    parser.feed(html)
    # (shown in Mbit/s and minutes; data-scale converts to the protocol's kbit/s and seconds)
    for name, low, high in (("down_mbps", MIN_KBPS, MAX_KBPS), ("up_mbps", MIN_KBPS, MAX_KBPS),
                            ("lease_min", 60, MAX_LEASE_S), ("ttl_s", MIN_TTL_S, MAX_TTL_S)):
        field = parser.inputs[name]
        scale = float(str(field["data-scale"]))
        assert (round(float(str(field["data-min"])) * scale, 6),
                round(float(str(field["data-max"])) * scale, 6)) == (low, high), name
    # errors of pages: inside the NOC layout (navigation, language), in Indonesian here
    for name, status, words in (("node-404", 404, "Node tidak dikenal: no-such-node"),
                                ("path-404", 404, "Halaman tidak ditemukan"),
                                ("users-403", 403, "Peran Anda tidak mengizinkan")):
        got, ctype, html = pages[name]
        assert (got, ctype) == (status, "text/html"), name
        assert '<html lang="id">' in html and '<nav aria-label=' in html and words in html, name
        assert 'href="/noc/"' in html and 'id="lang-switch"' in html, name
    status, ctype, html = pages["site-400"]
    assert (status, ctype) == (400, "text/html") and "Lintang: &#34;x&lt;b&gt;&#34; bukan angka" in html
    assert "x<b>" not in html and "x&lt;b&gt;" in html
    assert pages["cause-404"][:2] == (404, "application/json")  # JSON stays JSON


def test_root_without_any_account_leads_to_the_first_admin_form(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    srv = ServerThread(build_app(central_cfg(db), storage)).start()

    async def go() -> list[str]:
        c = Browserless(srv.url)
        try:
            async with c.http.get(srv.url + "/") as r:
                return [str(h.url.path) for h in r.history] + [r.url.path]
        finally:
            await c.close()
    try:
        assert run_async(go()) == ["/", "/noc/login", "/noc/setup"]
    finally:
        srv.stop()
        storage.close()


def test_a_failing_page_is_a_500_inside_the_layout_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [(NODE, SITE)])
    create_user(db, "viewer", PASSWORD, "viewer")

    def broken(*_: object) -> None:
        raise OSError("disk on fire")
    storage.node_detail = broken  # type: ignore[method-assign]
    srv = ServerThread(build_app(central_cfg(db), storage)).start()

    async def go() -> tuple[int, str, str, int]:
        c = Browserless(srv.url)
        try:
            assert await c.login("viewer") == 303
            async with c.http.get(f"{srv.url}/noc/nodes/{NODE}",
                                  headers={"Accept-Language": "en"}) as r:
                page = (r.status, r.content_type, await r.text())
            async with c.http.get(f"{srv.url}/noc/") as r:  # other pages keep working
                return (*page, r.status)
        finally:
            await c.close()
    try:
        status, ctype, html, fleet = run_async(go())
    finally:
        srv.stop()
        storage.close()
    assert (status, ctype, fleet) == (500, "text/html", 200)
    assert "Server error" in html and '<nav aria-label=' in html and "disk on fire" not in html
    assert "NOC page /noc/nodes/" in caplog.text and "disk on fire" in caplog.text
