#!/usr/bin/env bash
# Two-process MultiWorkerMirroredStrategy training on one machine, configured with TF_CONFIG.
#
# Each worker is an ordinary `kerascnn train --strategy multiworker` process; TF_CONFIG tells it
# the cluster (every worker's host:port) and which worker it is. The workers keep identical
# weights by all-reducing gradients every step; worker 0 is the chief and alone writes the run
# folder. On several machines, put each machine's address in "worker" and start one process per
# machine with its own "index" - nothing else changes.
#
#   bash examples/multiworker.sh                 # 3 epochs of LeNet-5 on digits
#   EPOCHS=1 WORK=/tmp/mw bash examples/multiworker.sh
set -euo pipefail

PY=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d -t kerascnn-multiworker-XXXX)}
EPOCHS=${EPOCHS:-3}
mkdir -p "$WORK"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT0=$(free_port)
PORT1=$(free_port)
CLUSTER="{\"worker\": [\"127.0.0.1:$PORT0\", \"127.0.0.1:$PORT1\"]}"
echo "cluster: $CLUSTER   working folder: $WORK"

# The global batch (32) is split across the workers; each sees its shard of every batch.
train_worker() {
  local index=$1
  TF_CONFIG="{\"cluster\": $CLUSTER, \"task\": {\"type\": \"worker\", \"index\": $index}}" \
    "$PY" -m kerascnn train --model lenet5 --data digits --epochs "$EPOCHS" --batch-size 32 \
      --strategy multiworker --project "$WORK/runs" --name multiworker \
      > "$WORK/worker$index.log" 2>&1
}

train_worker 0 & CHIEF=$!
train_worker 1 & WORKER=$!
trap 'kill $CHIEF $WORKER 2>/dev/null || true' EXIT

status=0
wait "$CHIEF" || status=$?
wait "$WORKER" || status=$?
trap - EXIT
for i in 0 1; do
  echo "--- worker $i (last lines of $WORK/worker$i.log)"
  grep -v -e '^I0000' -e '^W0000' -e '^E0000' "$WORK/worker$i.log" | tail -n 4 || true
done
if [ "$status" -ne 0 ]; then
  echo "a worker failed (exit $status)"
  exit "$status"
fi
echo "run folder (written by the chief only): $WORK/runs/multiworker"
ls "$WORK/runs/multiworker"
