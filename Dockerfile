# The kerascnn image: the CLI with TensorFlow (CPU), used by docker-compose's `trainer` service.
#   docker build -t kerascnn .
#   docker run --rm -v "$PWD/serving/models:/models" kerascnn export runs/x --base /models
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg

WORKDIR /opt/kerascnn
# Dependencies first so code edits do not reinstall TensorFlow.
COPY pyproject.toml README.md ./
RUN mkdir kerascnn && touch kerascnn/__init__.py \
    && pip install . \
    && pip uninstall -y kerascnn
COPY kerascnn ./kerascnn
RUN pip install --no-deps . && kerascnn --version

WORKDIR /work
ENTRYPOINT ["kerascnn"]
CMD ["--help"]
