"""cxm.csvfile: the CSV downloads of the dashboards, the responses export and import reports."""

from __future__ import annotations

from cxm.csvfile import cell, download, lines


def test_cells_a_spreadsheet_would_run_are_quoted_and_numbers_stay_numbers():
    values = ["=1+1", "+x", "-2", "@a", "\tx", "\rx", "plain", None, -3, 2.5]
    assert [cell(v) for v in values] == [
        "'=1+1", "'+x", "'-2", "'@a", "'\tx", "'\rx", "plain", "", "-3", "2.5",
    ]  # fmt: skip


def test_a_download_streams_one_line_per_row_with_an_optional_byte_order_mark():
    response = download(lines([["name", "=cmd()"], [1, None]]), "x.csv", excel_bom=True)
    assert b"".join(response.streaming_content).decode() == "\ufeffname,'=cmd()\r\n1,\r\n"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    plain = download(lines([["a"]]), "y.csv")
    assert b"".join(plain.streaming_content) == b"a\r\n"
