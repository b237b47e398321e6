#!/usr/bin/env bash
# Export a trained model, serve it with `kerascnn serve` (TF Serving's REST and gRPC APIs, no
# Docker), query it with curl (REST, base64 image) and with the gRPC client, stop the server.
#
#   bash examples/export_and_serve.sh                   # trains LeNet-5 on digits first
#   RUN=runs/quickstart bash examples/export_and_serve.sh   # or export an existing run folder
#   EPOCHS=1 WORK=/tmp/demo bash examples/export_and_serve.sh  # quick smoke run
#
# The same SavedModel folder works unchanged with the real TF Serving (see docker-compose.yml):
#   docker run -p 8500:8500 -p 8501:8501 -v "$WORK/models:/models" -e MODEL_NAME=digits tensorflow/serving
set -euo pipefail

PY=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d -t kerascnn-serve-XXXX)}
EPOCHS=${EPOCHS:-30}
RUN=${RUN:-}
kerascnn() { "$PY" -m kerascnn "$@"; }
mkdir -p "$WORK"
echo "working folder: $WORK"

# 1. A trained model: a run folder (train one if none was given).
if [ -z "$RUN" ]; then
  kerascnn train --model lenet5 --data digits --epochs "$EPOCHS" --project "$WORK/runs" --name digits
  RUN="$WORK/runs/digits"
fi

# 2. Export: $WORK/models/digits/1/ (saved_model.pb + variables/ + assets/labels.txt), written
#    atomically, with image decoding + preprocessing inside the graph.
kerascnn export "$RUN" --base "$WORK/models" --name digits

# 3. Serve it on two free loopback ports.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REST_PORT=${REST_PORT:-$(free_port)}
GRPC_PORT=${GRPC_PORT:-$(free_port)}
# Python itself goes to the background (not the `kerascnn` shell function above: `func &` runs a
# subshell, so $! would be the subshell's PID and killing it would leave the server running).
"$PY" -m kerascnn serve --model-name digits --model-base-path "$WORK/models/digits" \
  --port "$GRPC_PORT" --rest-api-port "$REST_PORT" > "$WORK/server.log" 2>&1 &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true  # its exit status after SIGTERM is not ours to report
    echo "server stopped (pid $SERVER)"
  fi
}
trap stop_server EXIT

REST="http://127.0.0.1:$REST_PORT"
for _ in $(seq 1 240); do
  curl -sf "$REST/v1/models/digits" > /dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited:"; cat "$WORK/server.log"; exit 1; }
  sleep 0.5
done
echo "--- model status (REST GET /v1/models/digits)"
curl -sf "$REST/v1/models/digits"
echo

# 4. A real handwritten digit as a PNG file (scikit-learn's bundled digits; this one is a 7).
"$PY" - "$WORK/seven.png" <<'EOF'
import sys
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
digits = load_digits()
index = int(np.flatnonzero(digits.target == 7)[0])
Image.fromarray((digits.images[index] * 255 / 16).astype("uint8")).save(sys.argv[1])
EOF

# 5. REST predict, exactly as for TF Serving: the encoded image as {"b64": ...}.
B64=$(base64 < "$WORK/seven.png" | tr -d '\n')
echo "--- REST POST /v1/models/digits:predict"
curl -sf -X POST "$REST/v1/models/digits:predict" \
  -H 'Content-Type: application/json' \
  -d "{\"signature_name\": \"serving_default\", \"instances\": [{\"b64\": \"$B64\"}]}" \
  | tee "$WORK/rest_response.json"
echo

# 6. gRPC predict with the kerascnn client (PredictionService over TF Serving's protos).
echo "--- gRPC predict (kerascnn predict --server grpc://...)"
kerascnn predict --server "grpc://127.0.0.1:$GRPC_PORT" --model-name digits --top-k 3 \
  "$WORK/seven.png" | tee "$WORK/grpc_response.txt"

# 7. Stop the server (SIGTERM).
stop_server
trap - EXIT
