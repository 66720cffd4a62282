"""Read an inventory (YAML file, or sites.csv + nodes.csv) into raw records with line numbers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import yaml

from provisioning.textread import CsvTable, Decoded, DecodeProblem, decode, number_text, read_table

log = logging.getLogger(__name__)

#: catalogue keys naming a CSV separator
DELIMITER_KEYS = {",": "delim_comma", ";": "delim_semicolon", "\t": "delim_tab"}

SITE_COLUMNS = ("id", "name", "kind", "lat", "lon", "capacity_down_kbps", "capacity_up_kbps",
                "upstream")
UPLINK_FIELDS = ("name", "iface", "kind", "priority", "gateway")
GPIO_FIELDS = ("led_ok", "led_warn", "led_fail", "button", "modem_relay")
MAX_CSV_UPLINKS = 3
NODE_COLUMNS = ("id", "site", "board", "ssid", "passphrase", "open", "channel", "lan_subnet",
                "allow_private",
                *(f"uplink{i}_{f}" for i in range(1, MAX_CSV_UPLINKS + 1) for f in UPLINK_FIELDS),
                *(f"gpio_{g}" for g in GPIO_FIELDS))


@dataclass
class Issue:
    """One problem: where (file, line, field) and what (catalogue code + parameters)."""

    file: str
    line: int
    field: str
    code: str
    params: dict[str, Any] = dc_field(default_factory=dict)


@dataclass
class Record:
    """One site or node as written, with the line of every field path (e.g. 'uplinks[0].iface')."""

    file: str
    line: int
    data: dict[str, Any]
    lines: dict[str, int]

    def line_of(self, path: str) -> int:
        """Line of a field path, falling back to its parent's line, then the record's."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else path.split("[")[0] if "[" in path else ""
        return self.line


@dataclass
class RawInventory:
    """Site and node records plus structural problems found while reading."""

    sites: list[Record] = dc_field(default_factory=list)
    nodes: list[Record] = dc_field(default_factory=list)
    issues: list[Issue] = dc_field(default_factory=list)
    #: what was found about the files' format (separator, encoding, decimal commas): not errors
    notes: list[Issue] = dc_field(default_factory=list)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: str, lines: dict[str, int],
          issues: list[Issue], fname: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            key = str(loader.construct_object(knode))
            if key in seen:
                issues.append(Issue(fname, knode.start_mark.line + 1, f"{path}.{key}".lstrip("."),
                                    "e_duplicate_key"))
            seen.add(key)
            _walk(loader, vnode, f"{path}.{key}".lstrip("."), lines, issues, fname)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(loader, item, f"{path}[{i}]", lines, issues, fname)


#: PyYAML's problem texts (English) -> catalogue keys; anything else is e_yaml.
YAML_PROBLEMS = (("mapping values are not allowed", "e_yaml_colon"),
                 ("could not find expected ':'", "e_yaml_no_colon"),
                 ("that cannot start any token", "e_yaml_tab"),
                 ("expected <block end>", "e_yaml_indent"),
                 ("found unexpected end of stream", "e_yaml_quote"),
                 ("unacceptable character", "e_yaml_control"),
                 ("special characters are not allowed", "e_yaml_control"))


def _yaml_issue(fname: str, exc: yaml.YAMLError) -> Issue:
    """A YAML syntax error as an issue in the technician's language (details go to the log)."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    log.info("%s: YAML error: %s", fname, exc)
    code = next((c for text, c in YAML_PROBLEMS if text in problem), "e_yaml")
    return Issue(fname, (mark.line + 1) if mark else 1, "(file)", code)


def load_yaml(path: Path) -> RawInventory:
    """Read a YAML inventory with top-level 'sites' and 'nodes' lists."""
    fname, inv = str(path), RawInventory()
    decoded = _decode(path, inv)
    if decoded is None:
        return inv
    if decoded.encoding != "utf-8":
        inv.notes.append(Issue(fname, 0, "(file)", "n_yaml_encoding",
                               {"encoding": f"enc_{decoded.encoding.replace('-', '_')}"}))
    try:
        loader = yaml.SafeLoader(decoded.text)  # checks for unprintable characters at once
    except yaml.YAMLError as exc:
        inv.issues.append(_yaml_issue(fname, exc))
        return inv
    line = 1
    try:
        root = loader.get_single_node()
        if root is None or not isinstance(root, yaml.MappingNode):
            inv.issues.append(Issue(fname, 1, "(file)", "e_yaml_root"))
            return inv
        for knode, vnode in root.value:
            key = loader.construct_object(knode)
            if key not in ("sites", "nodes"):
                inv.issues.append(Issue(fname, knode.start_mark.line + 1, str(key), "e_unknown_field"))
                continue
            if not isinstance(vnode, yaml.SequenceNode):
                inv.issues.append(Issue(fname, vnode.start_mark.line + 1, key, "e_not_list"))
                continue
            for item in vnode.value:
                line = item.start_mark.line + 1
                if not isinstance(item, yaml.MappingNode):
                    inv.issues.append(Issue(fname, line, key, "e_malformed_row"))
                    continue
                lines: dict[str, int] = {}
                _walk(loader, item, "", lines, inv.issues, fname)
                data = loader.construct_object(item, deep=True)
                getattr(inv, key).append(Record(fname, line, data, lines))
    except yaml.YAMLError as exc:
        inv.issues.append(_yaml_issue(fname, exc))
    except (ValueError, TypeError, OverflowError) as exc:  # a tag PyYAML cannot build (!!int x)
        log.info("%s: YAML value error near line %d: %s", fname, line, exc)
        inv.issues.append(Issue(fname, line, "(file)", "e_yaml"))
    finally:
        loader.dispose()
    return inv


INT_COLUMNS = ("capacity_down_kbps", "capacity_up_kbps")
DECIMAL_COLUMNS = ("lat", "lon")


def _decode(path: Path, inv: RawInventory) -> Decoded | None:
    """The file's text; an undecodable file is one issue (its line and byte), never a crash."""
    try:
        return decode(path.read_bytes())
    except DecodeProblem as exc:
        inv.issues.append(Issue(str(path), exc.line, "(file)", "e_encoding",
                                {"byte": f"0x{exc.byte:02x}"}))
    except OSError as exc:
        inv.issues.append(Issue(str(path), 0, "(file)", "e_unreadable", {"detail": exc.strerror}))
    return None


def _numbers(path: Path, table: CsvTable, inv: RawInventory,
             rows: list[tuple[int, dict[str, str]]]) -> None:
    """Rewrite decimal commas (and thousands dots of ';' files) in number columns, noting it."""
    changed: dict[str, list[str]] = {}
    for line, row in rows:
        for col in (*DECIMAL_COLUMNS, *INT_COLUMNS):
            if col in row:
                row[col], what = number_text(row[col], table.delimiter, col in INT_COLUMNS)
                if what:
                    changed.setdefault(what, []).append(f"{col}@{line}")
    for what, where in changed.items():
        cols = sorted({w.split("@")[0] for w in where})
        lines = sorted({int(w.split("@")[1]) for w in where})
        inv.notes.append(Issue(str(path), lines[0], ", ".join(cols), f"n_{what}",
                               {"count": len(where), "lines": _span(lines)}))


def _span(lines: list[int]) -> str:
    return str(lines[0]) if len(lines) == 1 else f"{lines[0]}-{lines[-1]}"


def _read_csv(path: Path, columns: tuple[str, ...], inv: RawInventory) -> list[tuple[int, dict[str, str]]]:
    fname = str(path)
    rows: list[tuple[int, dict[str, str]]] = []
    decoded = _decode(path, inv)
    if decoded is None:
        return rows
    table = read_table(decoded.text, columns)
    inv.notes.append(Issue(fname, 0, "(file)", "n_csv_format",
                           {"delimiter": DELIMITER_KEYS[table.delimiter],
                            "encoding": f"enc_{decoded.encoding.replace('-', '_')}"}))
    for line, detail in table.bad_rows:
        inv.issues.append(Issue(fname, line, "(row)", "e_csv", {"detail": detail}))
    header = table.header
    if header is None:
        inv.issues.append(Issue(fname, 1, "(header)", "e_csv_empty"))
        return rows
    for col in header:
        if col not in columns:
            inv.issues.append(Issue(fname, 1, col, "e_unknown_field"))
    if "id" not in header:
        inv.issues.append(Issue(fname, 1, "id", "e_missing"))
    for line, cells in table.rows:
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if len(cells) != len(header):
            inv.issues.append(Issue(fname, line, "(row)", "e_csv_columns",
                                    {"got": len(cells), "want": len(header)}))
            continue
        rows.append((line, {h: c.strip() for h, c in zip(header, cells, strict=True)
                            if h in columns and c.strip() != ""}))
    _numbers(path, table, inv, rows)
    return rows


def _node_from_csv(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: row[k] for k in ("id", "site", "board", "lan_subnet",
                                                "allow_private") if k in row}
    data["wifi"] = {k: row[k] for k in ("ssid", "passphrase", "open", "channel") if k in row}
    uplinks = []
    for i in range(1, MAX_CSV_UPLINKS + 1):
        up = {f: row[f"uplink{i}_{f}"] for f in UPLINK_FIELDS if f"uplink{i}_{f}" in row}
        if up:
            uplinks.append(up)
    data["uplinks"] = uplinks
    data["gpio"] = {g: row[f"gpio_{g}"] for g in GPIO_FIELDS if f"gpio_{g}" in row}
    return data


def load_csv_dir(directory: Path) -> RawInventory:
    """Read sites.csv and nodes.csv from one directory (every field's line = its row's line)."""
    inv = RawInventory()
    for name, columns, target in (("sites.csv", SITE_COLUMNS, inv.sites),
                                  ("nodes.csv", NODE_COLUMNS, inv.nodes)):
        path = directory / name
        if not path.is_file():
            inv.issues.append(Issue(str(path), 0, "(file)", "e_missing_file"))
            continue
        for line, row in _read_csv(path, columns, inv):
            data = row if target is inv.sites else _node_from_csv(row)
            target.append(Record(str(path), line, data, {}))
    return inv


def load_inventory(path: str | Path) -> RawInventory:
    """Read a YAML inventory, or a CSV inventory given as its directory or one of its two files."""
    p = Path(path)
    if p.is_dir():
        return load_csv_dir(p)
    if p.suffix.lower() == ".csv":
        return load_csv_dir(p.parent)
    if not p.is_file():
        return RawInventory(issues=[Issue(str(p), 0, "(file)", "e_missing_file")])
    return load_yaml(p)
