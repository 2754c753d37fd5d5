"""Training-data validation: every bad file is a DataError naming the file and the row."""

from pathlib import Path

import pandas as pd
import pytest

from classifier import dataset
from pipeline.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "classifier" / "tickets.csv"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_fixture_loads_with_all_heads_and_labels():
    data = dataset.load([str(FIXTURE)])
    frame = pd.read_csv(FIXTURE)
    assert data.heads == ("type", "priority", "queue")
    assert len(data.frame) == len(frame)
    assert data.sources[0].rows == len(frame)
    assert set(data.frame["type"]) == set(frame["type"])


def test_missing_column_is_named_with_the_header_row(tmp_path):
    path = write(tmp_path / "t.csv", "subject,type\nprinter broken,incident\n")
    with pytest.raises(DataError, match=r"t\.csv: row 1 \(header\): missing column body"):
        dataset.load([str(path)])


def test_no_label_column_is_refused(tmp_path):
    path = write(tmp_path / "t.csv", "subject,body\nprinter,broken\n")
    with pytest.raises(DataError, match="no label column"):
        dataset.load([str(path)])


def test_empty_text_gives_spreadsheet_row_numbers(tmp_path):
    text = "subject,body,type\nok,fine,incident\n,,incident\nok,fine,inquiry\n  ,\t,inquiry\n"
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(DataError, match=r"rows 3, 5: empty text"):
        dataset.load([str(path)])


def test_unknown_encoding_names_the_line(tmp_path):
    text = "subject,body,type\nok,fine,incident\nContraseña,no va,incident\n"
    path = write(tmp_path / "t.csv", text, encoding="latin-1")
    with pytest.raises(DataError, match=r"t\.csv: line 3: unknown encoding \(byte 0xf1"):
        dataset.load([str(path)])


def test_utf16_with_bom_and_utf8_with_bom_are_read(tmp_path):
    text = "subject,body,type\nContraseña,no va,incident\n"
    for i, encoding in enumerate(("utf-16", "utf-8-sig")):
        data = dataset.load([str(write(tmp_path / f"t{i}.csv", text, encoding))])
        assert data.frame.loc[0, "subject"] == "Contraseña"


def test_empty_label_cell_means_unlabelled_for_that_head(tmp_path):
    text = "subject,body,type,priority\na,b,incident,\nc,d,,low\n"
    data = dataset.load([str(write(tmp_path / "t.csv", text))])
    assert data.labelled("type").tolist() == [True, False]
    assert data.labelled("priority").tolist() == [False, True]
    assert data.labelled("queue").tolist() == [False, False]


def test_directory_reads_csv_and_parquet_and_any_label_values(tmp_path):
    write(tmp_path / "a.csv", "subject,body,queue\nlaptop,screen dead,Team Blue\n")
    pd.DataFrame({"subject": ["vpn", None], "body": ["down", "no tunnel"],
                  "queue": ["Team Red", None], "language": ["en", "en"]}
                 ).to_parquet(tmp_path / "b.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    data = dataset.load([str(tmp_path)])
    assert [Path(s.path).name for s in data.sources] == ["a.csv", "b.parquet"]
    assert data.frame["queue"].tolist() == ["Team Blue", "Team Red", ""]
    assert data.frame["subject"].tolist() == ["laptop", "vpn", ""]
    assert data.heads == ("queue",)


def test_parquet_rows_count_from_one(tmp_path):
    pd.DataFrame({"subject": ["a", ""], "body": ["b", None], "type": ["x", "y"]}
                 ).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"t\.parquet: row 2: empty text"):
        dataset.load([str(tmp_path / "t.parquet")])


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        dataset.load([str(tmp_path / "nope.csv")])
    with pytest.raises(DataError, match=r"no \.csv or \.parquet"):
        dataset.load([str(tmp_path)])


def test_dataset_hash_follows_the_bytes(tmp_path):
    path = write(tmp_path / "t.csv", "subject,body,type\na,b,incident\n")
    first = dataset.load([str(path)]).sha256
    write(path, "subject,body,type\na,b,inquiry\n")
    assert dataset.load([str(path)]).sha256 != first
