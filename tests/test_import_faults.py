"""`kb import` of hostile or broken files (issue 14, items 5, 6, 7 and 11): each fault is one line naming the file
(and the member or the position in it), counted as a failure (exit 1); every other record and file is stored, memory
stays bounded, and a run in which every path fails leaves no database behind.

Every malicious input is generated here, small: a "4 GiB" ZIP member is a member whose headers claim that size, and
limits are lowered through the environment where a real input would be large."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harvest.identifiers import normalize_nct
from kb import pipeline
from kb.cli import cli
from kb.store.schema import open_db

from .conftest import OFFLINE, fixture_bytes, fixture_path
from .faults import peak_memory

BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")
SMALL = fixture_bytes("ctgov", "v2_study_NCT03418623_aact.json")  # a real recorded study, 9 KB
OTHER = fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json")
LARGE = fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")  # 91 KB
CLAIMED = 4 * 2**30 - 2  # "4 GiB" in a 32-bit header field (0xFFFFFFFF would announce a ZIP64 size)
NOTHING = ("not a ClinicalTrials.gov study, study array or ZIP, nor a response of PubMed, Crossref, J-STAGE, "
           "J-STAGE WebAPI, Europe PMC, CiNii Research or JATS full text")


def run(*args):
    """`kb ARGS`; an exception escaping the command fails the test as it would show a traceback to a user."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def stored(db_path: Path) -> set[str]:
    return {row["nct_id"] for row in open_db(str(db_path))["trials"].rows}


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("kb: ")]


def study(nct_id: str, **identification) -> dict:
    doc = json.loads(SMALL)
    doc["protocolSection"]["identificationModule"].update(nctId=nct_id, **identification)
    return doc


def study_bytes(nct_id: str) -> bytes:
    return json.dumps(study(nct_id)).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- 5. ZIP bombs ----------------------------------------------------------------------------------------------------


def claim_size(archive: Path, member: str, size: int) -> None:
    """Make the local and central headers of `member` claim `size` bytes uncompressed (its data unchanged)."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_length] == name:
            struct.pack_into("<I", data, central + 24, size)
            local = struct.unpack_from("<I", data, central + 42)[0]
            struct.pack_into("<I", data, local + 22, size)
        central = data.find(b"PK\x01\x02", central + 4)
    archive.write_bytes(bytes(data))


def test_a_zip_member_claiming_4_gib_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("NCT00000001.json", study_bytes("NCT00000001"))
        z.writestr("NCT00000002.json", study_bytes("NCT00000002"))
        z.writestr("NCT00000003.json", study_bytes("NCT00000003"))
    claim_size(archive, "NCT00000002.json", CLAIMED)
    assert zipfile.ZipFile(archive).getinfo("NCT00000002.json").file_size == CLAIMED
    result = run("import", archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert f"{archive}!/NCT00000002.json" in line and f"{CLAIMED} bytes" in line and "KB_MAX_BODY_BYTES" in line
    assert stored(tmp_path / "kb.db") == {"NCT00000001", "NCT00000003"}
    assert "3 studies read, 2 stored" in result.output


def test_a_highly_compressed_member_is_refused_by_its_ratio(tmp_path):
    padded = study_bytes("NCT00000002")[:-1] + b" " * (4 * 2**20) + b"}"  # valid JSON, 4 MiB of blanks
    archive = tmp_path / "ratio.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("NCT00000001.json", study_bytes("NCT00000001"))
        z.writestr("NCT00000002.json", padded)
    result = run("import", archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert f"{archive}!/NCT00000002.json" in line and "compression ratio" in line
    assert stored(tmp_path / "kb.db") == {"NCT00000001"}


def test_a_member_over_the_size_limit_is_refused_and_read_at_most_to_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_MAX_BODY_BYTES", "20000")
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.json", LARGE)
        z.writestr("small.json", SMALL)
    result = run("import", archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert f"{archive}!/big.json" in line and "KB_MAX_BODY_BYTES" in line and "20000" in line
    assert stored(tmp_path / "kb.db") == {"NCT03418623"}


def test_a_member_whose_header_understates_its_size_is_not_read_past_the_limit(tmp_path, monkeypatch):
    """The bounded read does not trust the header: a member claiming 100 bytes that holds 90 KB fails alone."""
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("liar.json", LARGE)
        z.writestr("small.json", SMALL)
    claim_size(archive, "liar.json", 100)
    result = run("import", archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert f"{archive}!/liar.json" in line
    assert stored(tmp_path / "kb.db") == {"NCT03418623"}


def test_a_corrupt_member_or_archive_fails_alone(tmp_path):
    archive = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("bad.json", study_bytes("NCT00000001"))
        z.writestr("good.json", study_bytes("NCT00000002"))
    data = archive.read_bytes()
    at = data.find(b"NCT00000001")
    archive.write_bytes(data[:at] + b"NCT00000009" + data[at + 11:])  # the CRC no longer matches
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) - 30])  # the central directory's end is missing: not a ZIP any more
    result = run("import", archive, cut, BULK, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    bad, damaged = errors(result)
    assert f"{archive}!/bad.json" in bad and "CRC" in bad
    assert damaged.startswith(f"kb: {cut}: a damaged ZIP") and "truncated download?" in damaged
    assert "NCT00000002" in stored(tmp_path / "kb.db") and len(stored(tmp_path / "kb.db")) == 101


def test_the_peak_memory_of_a_zip_bomb_import_stays_near_the_limit(tmp_path, monkeypatch):
    """A real bomb, scaled down: a 64 MiB member of blanks compresses to ~64 KB; with the limit at 1 MiB (and the
    ratio check disabled, so that the bounded read itself is what stops it), the import allocates a few MiB."""
    monkeypatch.setenv("KB_MAX_BODY_BYTES", str(2**20))
    monkeypatch.setenv("KB_MAX_ZIP_RATIO", "0")
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("bomb.json", "w") as member:
            for _ in range(64):
                member.write(b" " * 2**20)
        z.writestr("small.json", SMALL)
    with peak_memory() as peak:
        summary = pipeline.import_studies(open_db(str(tmp_path / "kb.db")), [archive])
    assert summary.stored_ids == ["NCT03418623"] and len(summary.failed) == 1
    assert "bomb.json" in summary.failed[0] and "1048576" in summary.failed[0]
    assert peak[0] < 8 * 2**20, peak[0]


# --- 6. one bad record fails alone -----------------------------------------------------------------------------------


def bulk_with(tmp_path: Path, index: int, damage) -> Path:
    """The 100-study download with element `index` (one study per line) changed by `damage(line) -> bytes`."""
    lines = BULK.read_bytes().split(b"\n")
    assert lines[0] == b"[" and lines[index + 1].startswith(b'{"protocolSection"')
    lines[index + 1] = damage(lines[index + 1])
    path = tmp_path / "bulk.json"
    path.write_bytes(b"\n".join(lines))
    return path


def test_invalid_utf8_in_study_80_fails_alone_and_the_next_file_is_read(tmp_path):
    path = bulk_with(tmp_path, 79, lambda line: line.replace(b'"briefTitle":"', b'"briefTitle":"\xff\xfe', 1))
    other = tmp_path / "other.json"
    other.write_bytes(OTHER)
    result = run("import", path, other, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith(f"kb: ClinicalTrials.gov {path}[79] (NCT02759614): parse failure: ") and "UTF-8" in line
    kept = stored(tmp_path / "kb.db")
    assert len(kept) == 100 and "NCT02759614" not in kept and "NCT00973089" in kept
    assert "101 studies read, 100 stored" in result.output


@pytest.mark.parametrize("damage, reason", [
    (lambda line: b'{"protocolSection": ' + nested(100_000).encode() + b"}", "nested more than 64 levels"),
    (lambda line: line.replace(b'"briefTitle":', b'"briefTitle"', 1), "not valid JSON"),
    (lambda line: line[:-3] + b"]]]" + line[-3:], "not valid JSON"),
])
def test_a_malformed_or_deeply_nested_study_in_an_array_fails_alone(tmp_path, damage, reason):
    path = bulk_with(tmp_path, 79, damage)
    result = run("import", path, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    assert errors(result) and all(reason in line for line in errors(result)), result.output
    assert errors(result)[0].startswith(f"kb: ClinicalTrials.gov {path}[79]")
    assert len(stored(tmp_path / "kb.db")) == 99


def test_a_deeply_nested_study_file_or_member_is_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}}, "x": '
                    + nested(100_000) + "}")
    archive = tmp_path / "deep.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("deep.json", deep.read_bytes())
        z.writestr("small.json", SMALL)
    result = run("import", deep, archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    assert len(errors(result)) == 2 and all("nested more than 64 levels" in line for line in errors(result))
    assert stored(tmp_path / "kb.db") == {"NCT03418623"}


def test_an_element_over_the_size_limit_is_skipped_with_bounded_memory(tmp_path, monkeypatch):
    """An element larger than KB_MAX_BODY_BYTES (here a study carrying a 9 MB array) is never buffered whole."""
    monkeypatch.setenv("KB_MAX_BODY_BYTES", str(2**20))
    path = tmp_path / "big.json"
    big = json.dumps({**study("NCT00000002"), "x": "HERE"}).encode()
    big = big.replace(b'"HERE"', b"[" + b"1, " * 3 * 2**20 + b"0]")
    path.write_bytes(b"[" + SMALL + b",\n" + big + b",\n" + OTHER + b"]")
    del big
    with peak_memory() as peak:
        summary = pipeline.import_studies(open_db(str(tmp_path / "kb.db")), [path])
    assert summary.stored_ids == ["NCT03418623", "NCT00973089"]
    [failure] = summary.failed
    assert f"{path}[1] (NCT00000002)" in failure and "KB_MAX_BODY_BYTES" in failure
    assert peak[0] < 8 * 2**20, peak[0]


def test_a_truncated_array_keeps_what_came_before_the_cut(tmp_path):
    data = BULK.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: data.find(b"\n", len(data) // 2) + 200])
    result = run("import", cut, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert "truncated" in line and f"{cut}[" in line
    assert 40 < len(stored(tmp_path / "kb.db")) < 60


def test_a_broken_article_file_fails_alone(tmp_path):
    from .conftest import SEED_FILES

    broken = tmp_path / "broken.xml"
    broken.write_bytes(SEED_FILES[0].read_bytes()[:2000])
    result = run("import", broken, *SEED_FILES[1:], "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert line.startswith("kb: PubMed broken.xml: parse failure")
    assert "1 articles" in result.output


def test_a_study_that_cannot_be_stored_fails_alone_in_its_batch(tmp_path, monkeypatch):
    """Valid JSON that SQLite cannot hold (a lone surrogate escape, a number past 64 bits) fails alone: its batch is
    stored study by study."""
    monkeypatch.setattr(pipeline, "BATCH", 3)
    surrogate, huge = study("NCT00000002"), study("NCT00000003")
    surrogate["protocolSection"]["identificationModule"]["briefTitle"] = "A \udc80 title"
    huge["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 10**30
    path = tmp_path / "studies.json"
    path.write_text(json.dumps([study("NCT00000001"), surrogate, huge, study("NCT00000004")]))
    result = run("import", path, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    assert [line.split(": cannot be stored")[0] for line in errors(result)] == [
        f"kb: ClinicalTrials.gov {path}[1]", f"kb: ClinicalTrials.gov {path}[2]"]
    assert stored(tmp_path / "kb.db") == {"NCT00000001", "NCT00000004"}
    assert "4 studies read, 2 stored, 0 unchanged; 0 articles; 2 failed." in result.output


# --- 7. identifiers are normalised and validated wherever they enter -------------------------------------------------


def test_an_nct_id_with_a_trailing_newline_or_in_lower_case_is_the_same_trial(tmp_path):
    db_path = tmp_path / "kb.db"
    for i, nct in enumerate(["NCT03418623\n", "nct03418623", " NCT03418623 "]):
        path = tmp_path / f"variant{i}.json"
        doc = json.loads(SMALL)
        doc["protocolSection"]["identificationModule"]["nctId"] = nct
        doc["protocolSection"]["identificationModule"]["briefTitle"] += f" (variant {i})"
        path.write_text(json.dumps(doc))
        assert run("import", path, "--db", db_path, "--no-derive").exit_code == 0
    assert stored(db_path) == {"NCT03418623"}
    db = open_db(str(db_path))
    assert {row["key"] for row in db["snapshots"].rows} == {"NCT03418623"}
    assert db["trial_versions"].count == 3


@pytest.mark.parametrize("nct", ["NCT0341862", "NCT034186231", "NCT03418623\nNCT00000001", "NCT03418623x",
                                 "XNCT03418623", "NCT 03418623"])
def test_a_malformed_nct_id_in_a_study_file_is_refused(tmp_path, nct):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(study(nct)))
    good = tmp_path / "good.json"
    good.write_bytes(OTHER)
    result = run("import", path, good, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    [line] = errors(result)
    assert str(path) in line and repr(nct) in line and "8 digits" in line
    assert stored(tmp_path / "kb.db") == {"NCT00973089"}


@pytest.mark.parametrize("value", ["NCT03418623\n", "nct03418623", "\tNCT03418623 "])
def test_identifiers_are_normalised_whole(value):
    assert normalize_nct(value) == "NCT03418623"


def test_a_registry_reference_pmid_is_normalised_or_dropped(tmp_path):
    doc = json.loads(SMALL)
    doc["protocolSection"]["referencesModule"]["references"] = [
        {"pmid": "23032071\n", "type": "BACKGROUND", "citation": "A"},
        {"pmid": "PMID: 22663011", "type": "RESULT", "citation": "B"},
        {"pmid": "2303207x", "type": "BACKGROUND", "citation": "C"}]
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(doc))
    assert run("import", path, "--db", tmp_path / "kb.db", "--no-derive").exit_code == 0
    db = open_db(str(tmp_path / "kb.db"))
    assert [r["pmid"] for r in db["trial_references"].rows_where(order_by="position")] == [
        "23032071", "22663011", None]
    assert {r["article_id"] for r in db["article_trials"].rows} == {"pmid:23032071", "pmid:22663011"}


def test_trial_numbers_an_article_states_are_normalised(tmp_path):
    from .conftest import FIXTURES

    path = FIXTURES / "crossref" / "works_10.1136_esmoopen-2020-000776_body_extracted_from_habanero_cassette.json"
    work = json.loads(path.read_text())
    numbers = work["message"]["clinical-trial-number"]
    numbers[0]["clinical-trial-number"] = " " + numbers[0]["clinical-trial-number"].lower() + "\n"
    numbers.append({"clinical-trial-number": "NCT0379732", "registry": "10.18810/clinical-trials-gov"})
    (tmp_path / "work.json").write_text(json.dumps(work))
    assert run("import", tmp_path / "work.json", "--db", tmp_path / "kb.db", "--no-derive").exit_code == 0
    db = open_db(str(tmp_path / "kb.db"))
    assert sorted(r["nct_id"] for r in db["article_trials"].rows_where("evidence = 'crossref'")) == [
        "NCT03797326", "NCT04008797"]


def test_build_options_are_normalised_or_refused(tmp_path, server):
    result = run("build", "--nct", "NCT03418623\nNCT00000001", "--db", tmp_path / "kb.db")
    assert result.exit_code == 2 and "8 digits" in result.output and not (tmp_path / "kb.db").exists()
    result = run("build", "--pmid", "32009091\n", "--pmid", "3200909x", "--db", tmp_path / "kb.db")
    assert result.exit_code == 2 and "3200909x" in result.output and server.requests == []


# --- 11. a file that holds nothing is a failure ----------------------------------------------------------------------


@pytest.mark.parametrize("name, body", [
    ("file.txt", b"just some text\n"),
    ("empty.json", b""),
    ("blank.json", b" \n\t"),
    ("foo.json", b'{"foo": 1}'),
    ("broken.json", b"{not json"),
    ("binary.bin", bytes(range(256))),
])
def test_a_file_with_no_record_is_a_failure_and_creates_no_database(tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body)
    result = run("import", path, "--db", tmp_path / "kb.db")
    assert result.exit_code == 1
    assert errors(result) == [f"kb: {path}: {NOTHING}"]
    assert "0 studies read" in result.output
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("name, make, reason", [
    ("empty.json", lambda p: p.write_bytes(b"[]"), "an empty JSON array"),
    ("nothing.zip", lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hello"), "a ZIP with no .json member"),
])
def test_an_empty_array_or_a_zip_without_studies_is_a_failure(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)
    result = run("import", path, "--db", tmp_path / "kb.db")
    assert result.exit_code == 1 and errors(result) == [f"kb: {path}: {reason}, no study"]
    assert list(tmp_path.iterdir()) == [path]


def test_a_file_with_nothing_beside_good_ones_fails_alone_and_an_existing_kb_is_kept(tmp_path):
    db_path = tmp_path / "kb.db"
    text = tmp_path / "notes.txt"
    text.write_text("nothing here")
    good = tmp_path / "good.json"
    good.write_bytes(OTHER)
    result = run("import", text, good, "--db", db_path, "--no-derive")
    assert result.exit_code == 1 and errors(result) == [f"kb: {text}: {NOTHING}"]
    assert stored(db_path) == {"NCT00973089"}
    result = run("import", text, "--db", db_path, "--no-derive")
    assert result.exit_code == 1 and stored(db_path) == {"NCT00973089"}


def test_in_a_folder_hidden_files_are_skipped_and_others_must_hold_records(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "good.json").write_bytes(OTHER)
    (folder / "README").write_text("my downloads")
    result = run("import", folder, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1 and errors(result) == [f"kb: {folder / 'README'}: {NOTHING}"]
    assert stored(tmp_path / "kb.db") == {"NCT00973089"}


def test_the_offline_build_still_imports_its_folder(tmp_path):
    shipped = {json.loads(p.read_bytes())["protocolSection"]["identificationModule"]["nctId"]
               for p in OFFLINE.glob("v2_study_*.json")}
    result = run("build", "--offline", "--db", tmp_path / "kb.db")
    assert result.exit_code == 0, result.output
    assert shipped and stored(tmp_path / "kb.db") == shipped  # every study shipped, no other



def test_a_file_that_cannot_be_opened_is_one_line(tmp_path, monkeypatch):
    """(The tests run as root, whom permissions do not stop: the refusal is simulated where the file is opened.)"""
    from kb.load import files

    locked, good = tmp_path / "locked.json", tmp_path / "good.json"
    locked.write_bytes(OTHER)
    good.write_bytes(SMALL)
    real = files.file_kind

    def refuse(path):
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(files, "file_kind", refuse)
    result = run("import", locked, good, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1 and errors(result) == [f"kb: {locked}: cannot be read (Permission denied)"]
    assert stored(tmp_path / "kb.db") == {"NCT03418623"}


def test_a_limit_that_is_not_a_number_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_MAX_BODY_BYTES", "64MB")
    good = tmp_path / "good.json"
    good.write_bytes(SMALL)
    result = run("import", good, "--db", tmp_path / "kb.db")
    assert result.exit_code == 2 and errors(result) == ["kb: KB_MAX_BODY_BYTES='64MB': expected a whole number"]
    assert not (tmp_path / "kb.db").exists()
