"""Reading the range tables of the documentation, so that tests can probe what the docs promise.
Shared by the *_ranges test modules."""

from __future__ import annotations


def range_rows(section: str, columns: int, allowed_column: int) -> dict[str, str]:
    """{key: allowed} from the Markdown table rows of ``section`` that have ``columns`` cells and
    a key in backticks in the first one."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == columns and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[allowed_column]
    return rows
