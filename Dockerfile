# The MNIST digit service: TorchServe 0.12 on Debian bookworm's Python 3.11 and OpenJDK 17, with exactly the
# serving pins the tests run (requirements/serving.txt). Build: scripts/build_images.sh (or `docker build .`).
ARG BASE_IMAGE=debian:bookworm-slim

# What the final image runs on; the venv is built on the same Python, so it works when copied across.
FROM ${BASE_IMAGE} AS runtime
# Debian stable's point releases carry the security fixes: versions are pinned by the base, not here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

FROM runtime AS build-tools
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*

# The serving venv. PyTorch's CPU index has the pinned torch's CPU build (~0.9 GB, not PyPI's 5.6 GB CUDA
# build); an empty TORCH_INDEX_URL takes the same version from PyPI (for builds that cannot reach that index).
FROM build-tools AS serving-venv
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements/serving.txt /tmp/requirements/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r /tmp/requirements/serving.txt

# The model archive, made by the same build_mar.sh as everywhere else: it exports the weights to ONNX with the
# serving venv's torch and quantizes the graph to int8 with its ONNX Runtime, so it is built on that venv
# (this stage's additions stay in this stage).
FROM serving-venv AS model-archive
COPY requirements/archiver.txt /tmp/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements/archiver.txt
WORKDIR /build
COPY build_mar.sh ./
COPY model/__init__.py model/loading.py model/export_onnx.py model/quantize_int8.py model/mnist_cnn.py model/mnist_cnn.pt \
     model/calibration_digits.npz model/
COPY handler/ handler/
RUN PATH="/opt/venv/bin:$PATH" EXPORT_DIR=/build/model_store ./build_mar.sh

# The service: the runtime, the venv, the archive, the config and the scripts the container runs.
FROM runtime
# uid 1000 is what k8s/deployment.yaml runs it as.
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin model-server
COPY --from=serving-venv /opt/venv /opt/venv
WORKDIR /home/model-server
COPY config/config.properties config/log4j2.xml ./
COPY scripts/torchserve_foreground.sh scripts/memory_budget.sh scripts/model_ready.py ./
COPY --from=model-archive /build/model_store/mnist.mar model-store/
# Where TorchServe writes: unpacked archives and worker sockets (TEMP), logs. Read-only everything else.
ENV PATH=/opt/venv/bin:$PATH \
    TEMP=/home/model-server/tmp \
    LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs
RUN mkdir tmp logs && chown model-server:model-server tmp logs
USER 1000:1000
EXPOSE 8080 8081 8082
# The model, not just the frontend: /ping is healthy before the workers have loaded the model.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["python3", "-I", "model_ready.py"]
# TorchServe in the foreground as PID 1's child: the container exits (non-zero) when TorchServe does.
ENTRYPOINT ["./torchserve_foreground.sh", "config.properties", "model-store", "log4j2.xml"]
