"""inferno.kube: reading vLLM command lines and pod specs, as the webhook and the control loop's
actuator both do. Each case is a pod spec written the way a user would write it."""

import pytest

from inferno import kube, sizing


@pytest.mark.parametrize("container, model, flags", [
    ({"command": ["vllm", "serve", "org/m"], "args": ["--max-num-seqs", "64"]}, "org/m", {"--max-num-seqs": "64"}),
    # underscores read as dashes; --flag=value; the model as --model
    ({"command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
      "args": ["--model=org/m", "--tensor_parallel_size", "2"]}, "org/m", {"--model": "org/m", "--tensor-parallel-size": "2"}),
    # a shell script: split with POSIX rules, up to the first operator
    ({"command": ["/bin/sh", "-c", "vllm serve 'org/m' --dtype bfloat16 && echo done --max-num-seqs 9"]},
     "org/m", {"--dtype": "bfloat16"}),
    # a vLLM image whose entrypoint is the server: argv holds only its arguments
    ({"image": "vllm/vllm-openai:v0.9", "args": ["--model", "org/m", "--enforce-eager"]}, "org/m",
     {"--model": "org/m", "--enforce-eager": ""}),
])
def test_a_vllm_server_is_read_from_its_command_line(container, model, flags):
    server = kube.vllm_server(container)
    assert server == kube.VllmServer(model, flags)


@pytest.mark.parametrize("container", [
    {"command": ["vllm", "bench", "serve", "--model", "org/m"]},  # the load generator
    {"command": ["python", "benchmark_serving.py", "--model", "org/m"]},
    {"image": "nginx", "args": ["--model", "org/m"]},  # not vLLM at all
    {"image": "vllm/vllm-openai", "args": []},  # a vLLM image without a model is not known to serve
])
def test_what_is_not_a_vllm_server_is_none(container):
    assert kube.vllm_server(container) is None


def test_serving_options_follow_vllm_flags_and_name_a_bad_value():
    flags = {"--gpu-memory-utilization": "0.85", "--max-model-len": "8k", "--max-num-seqs": "128",
             "--max-num-batched-tokens": "4096", "--dtype": "auto", "--kv-cache-dtype": "fp8"}
    assert kube.serving_options(flags) == {"gpuMemoryUtilization": 0.85, "maxModelLen": 8192, "maxNumSeqs": 128,
                                           "maxNumBatchedTokens": 4096, "kvCacheDtype": "fp8"}
    assert kube.serving_options({}) == {"gpuMemoryUtilization": 0.9}  # vLLM's default share
    with pytest.raises(ValueError, match=r"bad --max-num-seqs 'many'"):
        kube.serving_options({"--max-num-seqs": "many"})


@pytest.mark.parametrize("text", ["", "fast", "5 min", "-3ms", "1e400x"])
def test_a_bad_duration_is_named(text):
    with pytest.raises(ValueError, match="bad inferno.ai/ttft-ms"):
        kube.duration_ms(text, "inferno.ai/ttft-ms")


def test_pod_gpu_constraints():
    selector = {"spec": {"nodeSelector": {kube.PRODUCT_LABEL: "NVIDIA-H100-80GB-HBM3"}}}
    assert kube.node_products(selector) == ["NVIDIA-H100-80GB-HBM3"]
    affinity = {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": kube.PRODUCT_LABEL, "operator": "In", "values": ["NVIDIA-L4", "NVIDIA-L40S"]},
            {"key": kube.PRODUCT_LABEL, "operator": "NotIn", "values": ["NVIDIA-A10G"]}]}]}}}}}
    assert kube.node_products(affinity) == ["NVIDIA-L4", "NVIDIA-L40S"]
    assert kube.node_products({"spec": {}}) == []
    mig = {"spec": {"initContainers": [{"resources": {"requests": {"nvidia.com/mig-1g.10gb": 1}}}]}}
    assert kube.requests_mig(mig) and not kube.requests_mig({"spec": {"containers": [
        {"resources": {"limits": {kube.GPU_RESOURCE: 1}}}]}})
    products = kube.gpu_products(sizing.Catalog.builtin())
    assert products["NVIDIA-H100-80GB-HBM3"] == "H100-SXM5-80GB" and products["NVIDIA-L4"] == "L4"
