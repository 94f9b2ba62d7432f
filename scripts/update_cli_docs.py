"""Re-run every console block of docs/cli.md and write the outputs back into the page.

For intended output changes only (review the diff): tests/test_docs.py checks that the page
shows exactly what the commands print.  Run with the venv's Python, after installing the package:
    .venv/bin/python scripts/update_cli_docs.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_docs  # noqa: E402  (its block parser and runner are the ones the test uses)


def main() -> None:
    page = test_docs.CLI_PAGE
    lines = page.read_text(encoding="utf-8").splitlines()
    replacements = {}  # line number of a command -> (number of shown lines, new output)
    for block in test_docs.CLI_BLOCKS:
        for command, got in zip(block, test_docs.run_block(block)):
            replacements[command.line] = (len(command.expected), got)
    out, number = [], 0
    while number < len(lines):
        out.append(lines[number])
        number += 1
        if number in replacements:  # 1-based line of the command just copied
            shown, got = replacements[number]
            out.extend(got)
            number += shown
    page.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
