#!/usr/bin/env bash
# The main job: set up (idempotent), optimise the sample fleet samples/large, then a queueing demo
# on the sample server in samples/queue.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
INFERNO=.venv/bin/inferno
SAMPLE=samples/queue/problem-data.json

echo
echo "== inferno optimize samples/large: accelerator, replicas and batch size for 27 servers =="
"$INFERNO" optimize samples/large
echo
echo "== The reference optimizer's answer on the same data (preset reference-v2: its greedy) =="
"$INFERNO" optimize samples/large --preset reference-v2 --format csv | head -n 4
echo "..."
"$INFERNO" optimize samples/large --preset reference-v2 --format json | grep -E '"(totalCost|status)"'

echo
echo "== Sample server ($SAMPLE) =="
cat "$SAMPLE"
echo
echo "== inferno queue solve: metrics versus load, with percentiles =="
"$INFERNO" queue solve --problem "$SAMPLE" --rate 0.5,1,1.5,2,2.5,3,3.5,3.8,4.5 \
  --percentiles 50,95,99 --format table
echo
echo "== inferno queue target: largest load meeting TTFT <= 60 ms and ITL <= 20 ms (from the file) =="
"$INFERNO" queue target --problem "$SAMPLE" --format table
echo
echo "== ... and with only a P95 TTFT target of 150 ms (mean targets cleared) =="
"$INFERNO" queue target --problem "$SAMPLE" --ttft 0 --itl 0 --target ttft_p95=150 --format table
echo
echo "== inferno queue batch-size: smallest batch size on the SLO-throughput plateau =="
"$INFERNO" queue optimize --problem "$SAMPLE" --max-batch 256 --format table
echo
echo "== The same requests as REST-compatible JSON lines (samples/queue/problems.jsonl) =="
# The last line of the file is deliberately invalid: it gets an error object and exit code 2 (partial).
"$INFERNO" queue solve < samples/queue/problems.jsonl || echo "(exit code $?: one line was rejected, the others were answered)"

echo
echo "== inferno simulate: the same server measured by discrete-event simulation (300 s per rate) =="
"$INFERNO" simulate --problem "$SAMPLE" --rate 1,2,3,3.5 --duration 300 --format table

echo
echo "== inferno tune: alpha, beta learned online from a real vLLM trace (samples/tuner/tuner-exp13.csv) =="
"$INFERNO" tune samples/tuner/tuner-exp13.csv
echo
echo "== ... and the reference's offline replay of the same file (published: alpha 2.854, beta 0.00936) =="
"$INFERNO" tune samples/tuner/tuner-exp13.csv --replay

echo
echo "== inferno size: cheapest MIG slice or GPU per server (samples/sizing/request.json) =="
"$INFERNO" size recommend --input samples/sizing/request.json
echo
echo "== ... and a slice demand packed onto as few A100s as possible =="
"$INFERNO" size pack --gpu A100-SXM4-80GB --demand 3g.40gb=3,2g.20gb=2,1g.10gb=5

echo
echo "== inferno control simulate: six autoscaling policies in closed loop on the Azure conversation trace (1 h, 60 s period) =="
"$INFERNO" control simulate samples/control/conversation.yaml
