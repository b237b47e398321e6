# The kerascnn image: the CLI with TensorFlow (CPU), used by docker-compose's `trainer` service.
#   docker build -t kerascnn .
#   docker run --rm -u "$(id -u):$(id -g)" -v "$PWD:/work" kerascnn export runs/x --base serving/models
# The ENTRYPOINT is `kerascnn`, so arguments are a verb and its options; the compose trainer
# replaces the entrypoint with `/bin/sh -c` to run two verbs.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    HOME=/home/kerascnn

WORKDIR /opt/kerascnn
# Dependencies first so code edits do not reinstall TensorFlow.
COPY pyproject.toml README.md ./
RUN mkdir kerascnn && touch kerascnn/__init__.py \
    && pip install . \
    && pip uninstall -y kerascnn
COPY kerascnn ./kerascnn
RUN pip install --no-deps . && kerascnn --version

# Any user may run the image (`docker run -u`, compose's `user:`), so the files it writes in bind
# mounts belong to the host user: a HOME (Keras and TFDS caches, Matplotlib) and a working
# folder that every user can write, and no root by default.
RUN mkdir -p /home/kerascnn /work && chmod 1777 /home/kerascnn /work
USER 1000:1000
WORKDIR /work
ENTRYPOINT ["kerascnn"]
CMD ["--help"]
