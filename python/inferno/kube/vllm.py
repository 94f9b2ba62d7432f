"""vLLM's command line as a pod runs it: the argv of a container (through ``sh -c``), its flags,
whether it is a server or a benchmark, and the serving options the sizing model takes from it."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# vLLM flags whose value is read (names normalised: "_" -> "-").
VALUE_FLAGS = ("--model", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--tensor-parallel-size",
               "--dtype", "--quantization", "--kv-cache-dtype", "--max-num-batched-tokens")
SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class VllmServer:
    """A container that runs a vLLM server: the model it serves and its flags (normalised names)."""
    model: str
    flags: dict[str, str] = field(default_factory=dict)


def container_argv(container: Mapping[str, Any]) -> list[str]:
    """command + args; the script of ``sh -c SCRIPT`` is split with POSIX rules."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if argv and Path(argv[0]).name in SHELLS and "-c" in argv:
        i = argv.index("-c")
        if i + 1 < len(argv):
            argv = argv[:i] + shlex.split(argv[i + 1], posix=True) + argv[i + 2:]
    return argv


def _after_pair(argv: list[str], first: str, second: str) -> int:
    """Index after the first occurrence of the token pair, or -1 (``first`` may be a path)."""
    for i in range(len(argv) - 1):
        if (argv[i] == first or Path(argv[i]).name == first) and argv[i + 1] == second:
            return i + 2
    return -1


def is_benchmark(argv: list[str]) -> bool:
    """Whether the command line runs vLLM's load generator rather than a server."""
    return _after_pair(argv, "vllm", "bench") >= 0 or any("benchmark_serving" in a for a in argv)


def _normalised(token: str) -> tuple[str, str | None]:
    name, eq, value = token.partition("=")
    return name.replace("_", "-"), (value if eq else None)


def parse_flags(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--flag value`` / ``--flag=value`` pairs (names with "_" read as "-") and the positional
    arguments, up to the first shell operator (the rest of a script is another command)."""
    flags: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in SHELL_OPERATORS:
            break
        if tok.startswith("--"):
            name, value = _normalised(tok)
            if value is None and i + 1 < len(tokens) and not tokens[i + 1].startswith("-") \
                    and tokens[i + 1] not in SHELL_OPERATORS:
                value = tokens[i + 1]
                i += 1
            flags[name] = value if value is not None else ""
        elif not tok.startswith("-"):
            positional.append(tok)
        i += 1
    return flags, positional


def vllm_server(container: Mapping[str, Any]) -> VllmServer | None:
    """The vLLM server a container runs (``vllm serve``, the OpenAI entry point, or a vLLM image's
    entrypoint given its arguments), else None."""
    argv = container_argv(container)
    if is_benchmark(argv):
        return None
    start = _after_pair(argv, "vllm", "serve")
    if start < 0:
        start = _after_pair(argv, "-m", "vllm.entrypoints.openai.api_server")
    if start < 0:
        if "vllm" not in str(container.get("image", "")):
            return None
        start = 0  # the image's entrypoint is the server; argv holds only its arguments
    flags, positional = parse_flags(argv[start:])
    model = flags.get("--model") or (positional[0] if positional else "")
    if not model and start == 0 and _after_pair(argv, "vllm", "serve") < 0:
        return None  # an image named vllm without a model argument is not known to be a server
    return VllmServer(model, flags)


def serving_options(flags: Mapping[str, str]) -> dict[str, Any]:
    """The sizing model's serving options (docs/sizing.md §5) from vLLM's flags, with vLLM's
    default memory share 0.9. Raises ValueError naming a flag whose value cannot be read."""
    serving: dict[str, Any] = {"gpuMemoryUtilization": 0.9}
    numeric = {"--gpu-memory-utilization": ("gpuMemoryUtilization", float), "--max-model-len": ("maxModelLen", int),
               "--max-num-seqs": ("maxNumSeqs", int), "--max-num-batched-tokens": ("maxNumBatchedTokens", int)}
    for flag, (key, kind) in numeric.items():
        if flags.get(flag):
            text = flags[flag]
            if key == "maxModelLen" and text.lower().endswith("k"):  # vLLM accepts "8k"
                text = str(int(float(text[:-1]) * 1024))
            try:
                serving[key] = kind(float(text)) if kind is int else kind(text)
            except ValueError:
                raise ValueError(f"bad {flag} {text[:30]!r}") from None
    for flag, key in (("--dtype", "dtype"), ("--kv-cache-dtype", "kvCacheDtype")):
        if flags.get(flag) and flags[flag] != "auto":
            serving[key] = flags[flag]
    return serving


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us)?\s*$")


def duration_ms(text: Any, what: str = "duration") -> float:
    """A duration in ms: a plain number is ms; "50ms", "0.05s" and "500us" are accepted."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"bad {what} {str(text)[:30]!r}")
    scale = {"ms": 1.0, None: 1.0, "s": 1000.0, "us": 0.001}[m.group(2)]
    return float(m.group(1)) * scale
