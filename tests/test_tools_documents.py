"""Documents tool: PDF pages, DOCX tables, XLSX sheets, CSV, text; caps, roots and corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest

from memento.tools.config import DocumentsConfig
from memento.tools.documents import build_documents, parse_pages, read_document
from tests.support.pdfgen import write_pdf


@pytest.fixture
def cfg(tmp_path: Path) -> DocumentsConfig:
    return DocumentsConfig(roots=[tmp_path], max_rows=50)


def test_pdf_all_pages_and_selection(tmp_path: Path, cfg: DocumentsConfig) -> None:
    write_pdf(tmp_path / "r.pdf", ["Alpha page", "Beta page", "Gamma page"])
    everything = read_document("r.pdf", cfg)
    assert all(word in everything for word in ("Alpha", "Beta", "Gamma"))
    some = read_document(str(tmp_path / "r.pdf"), cfg, pages="2-3")
    assert "Alpha" not in some and "Beta" in some and "page 3 of 3" in some


def test_pdf_page_out_of_range(tmp_path: Path, cfg: DocumentsConfig) -> None:
    write_pdf(tmp_path / "r.pdf", ["one"])
    assert "out of range" in read_document("r.pdf", cfg, pages="2")
    assert "bad page selection" in read_document("r.pdf", cfg, pages="x")


def test_corrupt_pdf_is_error_text(tmp_path: Path, cfg: DocumentsConfig) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage")
    out = read_document("bad.pdf", cfg)
    assert out.startswith("Error: cannot read bad.pdf")


def test_truncated_pdf_is_error_text(tmp_path: Path, cfg: DocumentsConfig) -> None:
    data = write_pdf(tmp_path / "ok.pdf", ["some text here"]).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    out = read_document("cut.pdf", cfg)
    assert out.startswith("Error:") or "no text found" in out


def test_docx_paragraphs_and_tables(tmp_path: Path, cfg: DocumentsConfig) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Quarterly report")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "city", "sales"
    table.cell(1, 0).text, table.cell(1, 1).text = "Oslo", "42"
    document.save(str(tmp_path / "r.docx"))
    out = read_document("r.docx", cfg)
    assert "Quarterly report" in out
    assert "| city | sales |" in out and "| Oslo | 42 |" in out


def test_xlsx_sheet_selection(tmp_path: Path, cfg: DocumentsConfig) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "People"
    first.append(["name", "age"])
    first.append(["Ada", 36])
    other = book.create_sheet("Cities")
    other.append(["city"])
    other.append(["Paris"])
    book.save(str(tmp_path / "b.xlsx"))
    both = read_document("b.xlsx", cfg)
    assert "| Ada | 36 |" in both and "Paris" in both
    one = read_document("b.xlsx", cfg, sheet="Cities")
    assert "Paris" in one and "Ada" not in one
    assert "no sheet 'Nope'" in read_document("b.xlsx", cfg, sheet="Nope")


def test_csv_rows_capped(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * i}" for i in range(100))
    (tmp_path / "t.csv").write_text("n,square\n" + rows)
    out = read_document("t.csv", DocumentsConfig(roots=[tmp_path], max_rows=10))
    assert "| n | square |" in out and "| 3 | 9 |" in out
    assert "more rows" in out and "| 99 |" not in out


def test_text_and_size_caps(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("word " * 10_000)
    out = read_document("big.txt", DocumentsConfig(roots=[tmp_path], max_chars=300))
    assert "truncated" in out and len(out) < 500
    refused = read_document("big.txt", DocumentsConfig(roots=[tmp_path], max_bytes=1000))
    assert "over the 1000-byte limit" in refused


def test_outside_roots_refused(tmp_path: Path, cfg: DocumentsConfig) -> None:
    assert "outside the allowed folders" in read_document("/etc/hostname", cfg)
    assert "outside the allowed folders" in read_document("../../etc/passwd", cfg)


def test_hidden_and_key_files_refused(tmp_path: Path, cfg: DocumentsConfig) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-SECRET")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config.txt").write_text("SECRET")
    (tmp_path / "server.pem").write_text("SECRET")
    for name in (".env", ".ssh/config.txt", "server.pem"):
        out = read_document(name, cfg)
        assert "refused" in out and "SECRET" not in out


def test_missing_and_unsupported(tmp_path: Path, cfg: DocumentsConfig) -> None:
    assert "no such file" in read_document("nope.pdf", cfg)
    (tmp_path / "x.bin").write_bytes(b"\x00")
    assert "unsupported file type" in read_document("x.bin", cfg)


def test_corrupt_docx_and_xlsx(tmp_path: Path, cfg: DocumentsConfig) -> None:
    (tmp_path / "bad.docx").write_bytes(b"not a zip")
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 broken")
    assert read_document("bad.docx", cfg).startswith("Error: cannot read bad.docx")
    assert read_document("bad.xlsx", cfg).startswith("Error: cannot read bad.xlsx")


def test_parse_pages() -> None:
    assert parse_pages("1-3,5", 5) == [0, 1, 2, 4]


async def test_tool(tmp_path: Path, cfg: DocumentsConfig) -> None:
    (tmp_path / "n.md").write_text("# Notes\nhello")
    tool = build_documents(cfg)
    assert "hello" in await tool.ainvoke({"path": "n.md"})
    with pytest.raises(Exception):  # noqa: B017
        await tool.ainvoke({"file": "n.md"})
