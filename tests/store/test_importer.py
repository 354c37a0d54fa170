"""Bulk import from CSV/GeoJSON: row-level errors, all-or-nothing loading, upserts, the CLI."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kernel.passwords import verify_password
from kernel.settings import Settings
from sharpeyes import import_cli
from store.importer import SPECS, RowError, import_bundle, load, load_bundle, validate
from store.importer.geometry import contains, normalise_geometry
from store.importer.resolve import TableWrite

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).parent / "data" / "import_sample"
TEMPLATE = REPO / "deploy" / "import-template"
TABLES = ("regions", "grids", "people", "grid_members", "places", "devices", "zones")

Located = set[tuple[str, int, str]]


def _sample(tmp_path: Path, *names: str) -> Path:
    """A copy of the sample dataset (only ``names`` if given) to modify."""
    target = tmp_path / "bundle"
    target.mkdir(parents=True)
    for path in SAMPLE.iterdir():
        if not names or path.name in names:
            shutil.copy(path, target / path.name)
    return target


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def _replace(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8-sig")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _located(errors: list[RowError] | tuple[RowError, ...]) -> Located:
    return {(e.file, e.line, e.column) for e in errors}


def _one(db: psycopg.Connection, query: str) -> tuple[Any, ...]:
    row = db.execute(query).fetchone()
    assert row is not None, query
    return row


def _counts(db: psycopg.Connection) -> dict[str, int]:
    return {t: _one(db, f"SELECT count(*) FROM {t}")[0] for t in TABLES}


def _square(code: str, region: str, west: float, south: float, east: float,
            north: float) -> dict[str, object]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Feature", "properties": {"code": code, "region_id": region, "name": code},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _geojson(*features: dict[str, object]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, indent=1)


# --------------------------------------------------------------------------- files alone


def test_the_sample_and_the_templates_parse_without_errors() -> None:
    for directory in (SAMPLE, TEMPLATE):
        bundle = load_bundle(directory)
        assert bundle.errors == (), [str(e) for e in bundle.errors]
    assert len(load_bundle(SAMPLE).devices) == 4


def test_an_unknown_column_is_an_error_naming_it_and_rows_are_still_checked(
        tmp_path: Path) -> None:
    directory = _write(tmp_path / "b", "places.csv",
                       "id,name,kind,lon,lat,colour\nPL-1,A,square,200,22.5,red\n")
    errors = load_bundle(directory).errors
    assert _located(errors) == {("places.csv", 1, "colour"), ("places.csv", 2, "lon")}
    assert "unknown column" in str(errors[0])


def test_header_problems_are_reported_once_not_on_every_row(tmp_path: Path) -> None:
    directory = _write(tmp_path / "b", "zones.csv",
                       "ID,device_id,name,name\nZ-1,CAM-1,A,A\nZ-2,CAM-1,B,B\n")
    assert _located(load_bundle(directory).errors) == {
        ("zones.csv", 1, "name"), ("zones.csv", 1, "area_m2")}


def test_rows_are_checked_for_levels_roles_thresholds_and_values(tmp_path: Path) -> None:
    directory = tmp_path / "b"
    _write(directory, "regions.csv",
           "id,parent_id,level,name\nX,,town,Bad level\nD,,district,Orphan\nC.1,,city,Dotted\n")
    _write(directory, "people.csv",
           "id,username,display_name,role,password,password_hash,active\n"
           "P-1,u1,A,chief,long-enough-pw,,maybe\n"
           "P-2,u 2,B,worker,short,,true\n"
           "P-3,u3,C,worker,long-enough-pw,scrypt$1$1$1$ab$" + "0" * 64 + ",\n")
    _write(directory, "zones.csv",
           "id,device_id,name,area_m2,warn_density,critical_density,polygon_json\n"
           "Z-1,CAM-1,A,0,,,\n"
           "Z-2,CAM-1,B,100,4.5,4,\n"
           "Z-3,CAM-1,C,100,,12,\"[[0,0],[1,1]]\"\n")
    assert _located(load_bundle(directory).errors) == {
        ("regions.csv", 2, "level"), ("regions.csv", 3, "parent_id"), ("regions.csv", 4, "id"),
        ("people.csv", 2, "role"), ("people.csv", 2, "active"),
        ("people.csv", 3, "username"), ("people.csv", 3, "password"),
        ("people.csv", 4, "password_hash"),
        ("zones.csv", 2, "area_m2"), ("zones.csv", 3, "warn_density"),
        ("zones.csv", 4, "critical_density"), ("zones.csv", 4, "polygon_json"),
    }


def test_duplicates_within_a_file_name_the_first_line(tmp_path: Path) -> None:
    directory = _write(tmp_path / "b", "people.csv",
                       "id,username,display_name,role,password\n"
                       "P-1,amy,A,worker,password-1\n"
                       "P-2,bob,B,worker,password-1\n"
                       "P-1,cat,C,worker,password-1\n"
                       "P-4,bob,D,worker,password-1\n")
    errors = load_bundle(directory).errors
    assert _located(errors) == {("people.csv", 4, "id"), ("people.csv", 5, "username")}
    assert "first on line 2" in str(errors[0]) and "first on line 3" in str(errors[1])


def test_grid_geometry_is_validated_per_feature_at_its_line(tmp_path: Path) -> None:
    good = _square("G-1", "C-1", 113.9, 22.5, 113.91, 22.51)
    unclosed = _square("G-2", "C-1", 113.9, 22.5, 113.91, 22.51)
    unclosed["geometry"]["coordinates"][0].pop()  # type: ignore[index]
    too_short = _square("G-3", "C-1", 0, 0, 1, 1)
    too_short["geometry"]["coordinates"] = [[[0, 0], [1, 1], [0, 0]]]  # type: ignore[index]
    far_east = _square("G-4", "C-1", 190, 22.5, 191, 22.51)
    swapped = _square("G-5", "C-1", 22.5, 113.9, 22.51, 113.91)
    point = {**_square("G-6", "C-1", 0, 0, 1, 1),
             "geometry": {"type": "Point", "coordinates": [0, 0]}}
    extra = _square("G-7", "C-1", 0, 0, 1, 1)
    extra["properties"]["OBJECTID"] = 7  # type: ignore[index]
    duplicate = _square("G-1", "C-1", 0, 0, 1, 1)
    text = _geojson(good, unclosed, too_short, far_east, swapped, point, extra, duplicate)
    directory = _write(tmp_path / "b", "grids.geojson", text)
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "  {"]
    bundle = load_bundle(directory)
    expected = {("grids.geojson", starts[n], column) for n, column in (
        (1, "geometry"), (2, "geometry"), (3, "geometry"), (4, "geometry"), (5, "geometry"),
        (6, "OBJECTID"), (7, "code"))}
    assert _located(bundle.errors) == expected
    messages = " | ".join(str(e) for e in bundle.errors)
    for phrase in ("not closed", "at least 4", "longitude 190", "swapped", "'Point'",
                   "unknown property", "duplicate 'G-1'"):
        assert phrase in messages
    assert [g.code for g in bundle.grids] == ["G-1"]
    assert bundle.grids[0].bbox == (113.9, 22.5, 113.91, 22.51)


def test_points_in_polygons_respect_holes_and_shared_edges() -> None:
    outer = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    hole = [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]
    donut, problems = normalise_geometry({"type": "Polygon", "coordinates": [outer, hole]})
    assert donut is not None and not problems
    assert contains(donut, 0.5, 0.5) and not contains(donut, 2, 2)
    left = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    right = {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]]}
    assert [contains(left, 1, 0.5), contains(right, 1, 0.5)].count(True) == 1


def test_encodings_utf8_with_and_without_bom_pass_gbk_and_utf16_are_refused(
        tmp_path: Path) -> None:
    text = "id,parent_id,level,name\nSZ,,city,深圳市\n"
    for encoding in ("utf-8", "utf-8-sig"):
        directory = tmp_path / encoding
        directory.mkdir()
        (directory / "regions.csv").write_bytes(text.encode(encoding))
        bundle = load_bundle(directory)
        assert bundle.errors == () and bundle.regions[0].name == "深圳市"
    for encoding, phrase in (("gbk", "GBK"), ("utf-16", "UTF-16")):
        directory = tmp_path / encoding
        directory.mkdir()
        (directory / "regions.csv").write_bytes(text.encode(encoding))
        [error] = load_bundle(directory).errors
        assert error.file == "regions.csv" and phrase in error.message


def test_malformed_rows_and_unknown_files_are_reported(tmp_path: Path) -> None:
    directory = _write(tmp_path / "b", "grid_members.csv",
                       "grid_code,person_id,duty\nG-1,P-1,worker,extra\n\nG-1,P-2,boss\n")
    _write(directory, "devices.xlsx", "")
    _write(directory, "README.md", "ignored")
    assert _located(load_bundle(directory).errors) == {
        ("devices.xlsx", 0, ""), ("grid_members.csv", 2, ""), ("grid_members.csv", 4, "duty")}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no import files" in load_bundle(empty).errors[0].message
    with pytest.raises(NotADirectoryError):
        load_bundle(tmp_path / "missing")


def test_the_format_document_describes_every_file_and_column() -> None:
    doc = (REPO / "docs" / "import-format.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", doc, flags=re.MULTILINE)
    for spec in SPECS:
        [section] = [s for s in sections if s.startswith(spec.file)]
        documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.MULTILINE))
        assert set(spec.columns) <= documented, (spec.file, set(spec.columns) - documented)
        header = (TEMPLATE / spec.file).read_text(encoding="utf-8").splitlines()[0]
        if spec.file.endswith(".csv"):
            assert header.split(",") == list(spec.columns)


# --------------------------------------------------------------------------- against the store


def test_the_sample_imports_and_every_row_matches(db: psycopg.Connection) -> None:
    report = import_bundle(db, SAMPLE)
    assert report.ok and report.written, [str(e) for e in report.errors]
    assert _counts(db) == {"regions": 5, "grids": 3, "people": 5, "grid_members": 5,
                           "places": 3, "devices": 4, "zones": 4}
    assert report.count("devices").inserted == 4 and report.count("devices").updated == 0
    assert _one(db, "SELECT path, name FROM regions WHERE id = 'JC-D1-S1-C2'") == (
        "JC.JC-D1.JC-D1-S1.JC-D1-S1-C2", "Cedar Community 杉木社区")
    boundary, box = _one(db, "SELECT boundary, array[min_lon, min_lat, max_lon, max_lat]"
                               " FROM grids WHERE code = 'G-JC-3'")
    assert boundary["type"] == "MultiPolygon" and len(boundary["coordinates"]) == 2
    assert box == [113.92, 22.50, 113.94, 22.52]
    grids: dict[str, str] = dict(db.execute("SELECT id, grid_code FROM places").fetchall())
    grids |= dict(db.execute("SELECT id, grid_code FROM devices").fetchall())
    grids |= dict(db.execute("SELECT id, grid_code FROM zones").fetchall())
    assert grids == {
        "PL-JC-1": "G-JC-1", "PL-JC-2": "G-JC-3", "PL-JC-3": "G-JC-3",  # by point, island
        "CAM-JC-1": "G-JC-1", "CAM-JC-2": "G-JC-2", "CAM-JC-3": "G-JC-3", "SEN-JC-1": "G-JC-3",
        "CAM-JC-1-Z1": "G-JC-1", "CAM-JC-1-Z2": "G-JC-1", "CAM-JC-2-Z1": "G-JC-2",
        "CAM-JC-3-Z1": "G-JC-3",
    }
    assert _one(db, "SELECT source, registered, calibration, stream_url FROM devices"
                      " WHERE id = 'CAM-JC-1'") == (
        "frigate", "manual", {"person_height_px": [[650, 170], [220, 48]]},
        "rtsp://10.20.0.5:554/Streaming/Channels/101")
    assert _one(db, "SELECT warn_density, critical_density, polygon FROM zones"
                      " WHERE id = 'CAM-JC-1-Z2'") == (
        2.5, 4.0, [[0, 0], [640, 0], [640, 360], [0, 360]])
    people = {r[0]: r[1:] for r in db.execute(
        "SELECT id, display_name, password_hash, active, phone FROM people")}
    assert people["P-JC-2"][0] == "王芳" and people["P-JC-3"][3] == "+86 138 0000 0003"
    assert people["P-JC-2"][1] == people["P-JC-3"][1]  # one hash per distinct password
    assert verify_password("Worker-pass-2024", people["P-JC-2"][1])
    assert verify_password("Leader-pass-2024", people["P-JC-4"][1])  # given pre-hashed
    assert people["P-JC-5"][2] is False
    assert _one(db, "SELECT on_duty FROM grid_members WHERE grid_code = 'G-JC-3'"
                      " AND person_id = 'P-JC-3'") == (False,)


def test_several_bad_rows_are_each_reported_and_nothing_is_written(
        db: psycopg.Connection, tmp_path: Path) -> None:
    directory = _sample(tmp_path)
    _replace(directory, "regions.csv", "JC-D1-S1,JC-D1,street", "JC-D1-S1,JC,street")
    _replace(directory, "people.csv", "wang.fang,王芳,worker", "wang.fang,王芳,boss")
    _replace(directory, "places.csv", "113.925,22.51", "22.51,113.925")
    _replace(directory, "devices.csv", "Maple Road camera,,", "Maple Road camera,PL-NOPE,")
    _replace(directory, "zones.csv", "Maple Road crossing,300,2.2,3.5",
             "Maple Road crossing,0,3.6,3.5")
    errors = validate(db, load_bundle(directory))
    assert _located(errors) == {
        ("regions.csv", 4, "parent_id"),       # a street under a city
        ("people.csv", 3, "role"),
        ("places.csv", 3, "lat"),              # swapped lon/lat
        ("devices.csv", 3, "place_id"),        # unknown place
        ("zones.csv", 4, "area_m2"),
        ("zones.csv", 4, "warn_density"),
    }
    report = import_bundle(db, directory)
    assert not report.written and _located(report.errors) == _located(errors)
    assert report.counts == ()
    assert set(_counts(db).values()) == {0}


def test_a_database_error_while_loading_rolls_back_every_table(
        db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    real = load.upsert_statement

    def failing_on_zones(write: TableWrite) -> sql.Composed:
        return real(replace(write, table="no_such_table") if write.table == "zones" else write)

    monkeypatch.setattr(load, "upsert_statement", failing_on_zones)
    with pytest.raises(psycopg.errors.UndefinedTable):
        import_bundle(db, SAMPLE)
    assert set(_counts(db).values()) == {0}


def test_a_reference_to_a_missing_grid_is_reported(db: psycopg.Connection,
                                                   tmp_path: Path) -> None:
    directory = _sample(tmp_path)
    _replace(directory, "grid_members.csv", "G-JC-2,P-JC-3", "G-JC-9,P-JC-3")
    _replace(directory, "zones.csv", ",G-JC-1,Jade Square", ",G-JC-9,Jade Square")
    report = import_bundle(db, directory)
    assert _located(report.errors) == {("grid_members.csv", 4, "grid_code"),
                                       ("zones.csv", 3, "grid_code")}
    assert "unknown grid 'G-JC-9' (not in grids.geojson nor in the database)" in str(
        report.errors[0])
    assert _counts(db)["grids"] == 0


def test_references_and_region_levels_resolve_against_stored_rows(
        db: psycopg.Connection, tmp_path: Path) -> None:
    assert import_bundle(db, _sample(tmp_path / "first", "regions.csv", "grids.geojson")).written
    rest = _sample(tmp_path / "second", "people.csv", "grid_members.csv", "places.csv",
                   "devices.csv", "zones.csv")
    report = import_bundle(db, rest)
    assert report.written, [str(e) for e in report.errors]
    assert _one(db, "SELECT grid_code FROM devices WHERE id = 'CAM-JC-2'") == (
        "G-JC-2",)  # found in a stored grid's boundary
    wrong = _write(tmp_path / "third", "regions.csv",
                   "id,parent_id,level,name\n"
                   "X-C,JC-D1,community,Under a district\n"
                   "JC-D1-S1,JC-D1-S1-C1,street,Moved\n"
                   "X-S,NOPE,street,Unknown parent\n")
    _write(wrong, "grids.geojson", _geojson(_square("G-X", "JC-D1", 1, 1, 2, 2)))
    errors = validate(db, load_bundle(wrong))
    assert _located(errors) == {("regions.csv", 2, "parent_id"), ("regions.csv", 3, "parent_id"),
                                ("regions.csv", 4, "parent_id"), ("grids.geojson", 4, "region_id")}
    assert "cannot move a region" in str(errors[1])


def test_chinese_names_import_with_and_without_a_bom(db: psycopg.Connection,
                                                     tmp_path: Path) -> None:
    directory = tmp_path / "b"
    directory.mkdir()
    (directory / "regions.csv").write_bytes(
        "\ufeffid,parent_id,level,name\nSZ,,city,深圳市\nSZ-FT,SZ,district,福田区\n"
        .encode("utf-8"))
    (directory / "people.csv").write_bytes(
        "id,username,display_name,role,region_id,password\n"
        "P-1,网格员01,王小明,worker,SZ-FT,初始密码-2024\n".encode())
    assert import_bundle(db, directory).written
    assert db.execute("SELECT name FROM regions ORDER BY path").fetchall() == [
        ("深圳市",), ("福田区",)]
    username, name, password_hash = _one(
        db, "SELECT username, display_name, password_hash FROM people")
    assert (username, name) == ("网格员01", "王小明")
    assert verify_password("初始密码-2024", password_hash)


def test_a_point_gets_the_one_grid_containing_it_else_an_error(
        db: psycopg.Connection, tmp_path: Path) -> None:
    directory = _sample(tmp_path, "regions.csv")
    _write(directory, "grids.geojson", _geojson(
        _square("G-W", "JC-D1-S1-C1", 113.90, 22.50, 113.91, 22.51),
        _square("G-E", "JC-D1-S1-C1", 113.91, 22.50, 113.92, 22.51),
        _square("G-OVER", "JC-D1-S1-C1", 113.915, 22.505, 113.93, 22.52)))
    _write(directory, "devices.csv",
           "id,kind,name,lon,lat\n"
           "SEN-W,sensor,West,113.905,22.505\n"
           "SEN-EDGE,sensor,On the shared edge,113.91,22.505\n"
           "SEN-BOTH,sensor,In two grids,113.918,22.508\n"
           "SEN-OUT,sensor,Nowhere,120.0,30.0\n")
    errors = validate(db, load_bundle(directory))
    assert _located(errors) == {("devices.csv", 4, "grid_code"), ("devices.csv", 5, "grid_code")}
    assert "lies in 2 grids (G-E, G-OVER)" in errors[0].message
    assert "no grid contains" in errors[1].message
    _replace(directory, "devices.csv", "SEN-BOTH,sensor,In two grids,113.918,22.508\n", "")
    _replace(directory, "devices.csv", "SEN-OUT,sensor,Nowhere,120.0,30.0\n", "")
    assert import_bundle(db, directory).written
    assert dict(db.execute("SELECT id, grid_code FROM devices").fetchall()) == {
        "SEN-W": "G-W", "SEN-EDGE": "G-E"}


def test_reimport_updates_by_key_keeps_passwords_and_columns_left_out(
        db: psycopg.Connection, tmp_path: Path) -> None:
    assert import_bundle(db, SAMPLE).written
    old_hash = _one(db, "SELECT password_hash FROM people WHERE id = 'P-JC-2'")[0]
    directory = _sample(tmp_path, "people.csv", "places.csv", "devices.csv")
    _replace(directory, "people.csv", "13800000002,Worker-pass-2024", "13900000002,New-pass-2025")
    _replace(directory, "places.csv", "Jade Station 翡翠站", "Jade Central Station 翡翠中心站")
    _write(directory, "devices.csv",  # no calibration_json, stream_url or lon/lat columns
           "id,kind,name,place_id,grid_code\n"
           "CAM-JC-1,camera,Renamed camera,PL-JC-1,G-JC-1\n"
           "CAM-JC-9,camera,New camera,PL-JC-3,\n")
    report = import_bundle(db, directory)
    assert report.written, [str(e) for e in report.errors]
    assert (report.count("people").inserted, report.count("people").updated) == (0, 5)
    assert (report.count("devices").inserted, report.count("devices").updated) == (1, 1)
    assert _one(db, "SELECT phone, password_hash FROM people WHERE id = 'P-JC-2'") == (
        "13900000002", old_hash)
    assert _one(db, "SELECT name FROM places WHERE id = 'PL-JC-2'") == (
        "Jade Central Station 翡翠中心站",)
    assert _one(db, "SELECT name, calibration IS NOT NULL, stream_url, lon FROM devices"
                      " WHERE id = 'CAM-JC-1'") == (
        "Renamed camera", True, "rtsp://10.20.0.5:554/Streaming/Channels/101", 113.9052)
    assert _one(db, "SELECT grid_code FROM devices WHERE id = 'CAM-JC-9'") == (
        "G-JC-3",)  # no point: the place's grid
    assert _counts(db)["zones"] == 4  # never deletes


def test_a_username_owned_by_another_stored_person_is_refused(
        db: psycopg.Connection, tmp_path: Path) -> None:
    assert import_bundle(db, _sample(tmp_path / "a", "regions.csv", "people.csv")).written
    directory = _write(tmp_path / "b", "people.csv", "id,username,display_name,role\n"
                                                     "P-NEW,wang.fang,Someone,viewer\n")
    errors = validate(db, load_bundle(directory))
    assert _located(errors) == {("people.csv", 2, "username"), ("people.csv", 2, "password")}


def test_dry_run_validates_against_the_store_and_writes_nothing(db: psycopg.Connection) -> None:
    report = import_bundle(db, SAMPLE, dry_run=True)
    assert report.ok and not report.written and report.count("zones").inserted == 4
    assert set(_counts(db).values()) == {0}
    template = import_bundle(db, TEMPLATE, dry_run=True)
    assert template.ok, [str(e) for e in template.errors]


# --------------------------------------------------------------------------- the command


def _run_cli(db_url: str, tmp_path: Path, directory: Path, *flags: str) -> int:
    parser = argparse.ArgumentParser()
    import_cli.register(parser.add_subparsers())
    args = parser.parse_args(["import", str(directory), *flags])
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data")
    code: int = args.handler(args, settings)
    return code


def test_cli_prints_each_error_on_its_own_line_and_exits_1(
        db_url: str, db: psycopg.Connection, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    directory = _sample(tmp_path, "regions.csv", "places.csv")
    _replace(directory, "places.csv", "G-JC-1,113.905", "G-JC-7,113.905")
    _replace(directory, "regions.csv", ",district,", ",county,")
    assert _run_cli(db_url, tmp_path, directory) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines[:-1]] == [
        ["regions.csv:3:", "level:"], ["places.csv:2:", "grid_code:"],
        ["places.csv:3:", "grid_code:"], ["places.csv:4:", "grid_code:"]]  # no grids at all
    assert lines[0].startswith("regions.csv:3: level: 'county' is not one of")
    assert lines[1].startswith("places.csv:2: grid_code: unknown grid 'G-JC-7'")
    assert lines[-1].startswith("4 error(s)")
    assert _counts(db)["regions"] == 0


def test_cli_dry_run_writes_nothing_then_import_writes(
        db_url: str, db: psycopg.Connection, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(db_url, tmp_path, SAMPLE, "--dry-run") == 0
    assert "regions: 5 would insert, 0 would update" in capsys.readouterr().out
    assert set(_counts(db).values()) == {0}
    assert _run_cli(db_url, tmp_path, SAMPLE) == 0
    assert "zones: 4 inserted, 0 updated" in capsys.readouterr().out
    assert _counts(db)["zones"] == 4
    assert _run_cli(db_url, tmp_path, tmp_path / "missing") == 2
