"""
REST-compatible JSON I/O
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['document_schemas', 'max_json_bytes', 'run_queue_requests']
def document_schemas() -> list:
    """
    Every published document format as (name, file, title, JSON Schema dict), generated from the tables the readers use.
    """
def run_queue_requests(operation: str, lines: collections.abc.Sequence[str], threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[list[str], int]:
    """
    Runs ProblemData JSON lines through solve|target|optimize; returns (output lines, failures). Blank input lines give empty output strings.
    """
max_json_bytes: int = 67108864
