"""Reading what Kubernetes and vLLM say about a server: a pod's vLLM command line, its GPU
resources and node constraints, and durations written in annotations.

The admission webhook reads pods with it (docs/sizing.md §9); the control loop's actuator reads
the Deployments it scales with the same functions, so both understand a pod the same way. Every
function is pure: no cluster access, no downloads. Unreadable values raise ``ValueError`` naming
the value.

>>> from inferno import kube
>>> server = kube.vllm_server({"command": ["vllm", "serve", "meta-llama/Llama-3.1-8B"],
...                            "args": ["--max-num-seqs=64", "--tensor_parallel_size", "2"]})
>>> server.model, server.flags["--max-num-seqs"], server.flags["--tensor-parallel-size"]
('meta-llama/Llama-3.1-8B', '64', '2')
>>> kube.serving_options(server.flags)["maxNumSeqs"]
64
>>> kube.duration_ms("0.05s")
50.0
"""

from .pods import GPU_RESOURCE, MIG_PREFIX, PRODUCT_LABEL, gpu_products, node_products, requests_mig
from .vllm import (SHELL_OPERATORS, SHELLS, VALUE_FLAGS, VllmServer, container_argv, duration_ms, is_benchmark,
                   parse_flags, serving_options, vllm_server)

__all__ = ["GPU_RESOURCE", "MIG_PREFIX", "PRODUCT_LABEL", "SHELLS", "SHELL_OPERATORS", "VALUE_FLAGS", "VllmServer",
           "container_argv", "duration_ms", "gpu_products", "is_benchmark", "node_products", "parse_flags",
           "requests_mig", "serving_options", "vllm_server"]
