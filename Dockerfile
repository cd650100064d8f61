# syntax=docker/dockerfile:1
# The MNIST digit service on TorchServe's own CPU image. Build with BuildKit (scripts/build_docker.sh).
ARG TORCHSERVE_IMAGE=pytorch/torchserve:0.12.0-cpu

# Stage 1: the model archive, made by the same build_mar.sh as everywhere else.
FROM ${TORCHSERVE_IMAGE} AS mar
WORKDIR /home/model-server/build
COPY --chown=model-server build_mar.sh ./
COPY --chown=model-server model/mnist_cnn.py model/mnist_cnn.pt model/
COPY --chown=model-server handler/ handler/
RUN EXPORT_DIR=/home/model-server/build/model_store ./build_mar.sh

# Stage 2: the stock image with only the archive, the config and the two scripts the container runs.
FROM ${TORCHSERVE_IMAGE}
# Kubernetes runs this image with runAsUser 1000 (k8s/deployment.yaml): fail the build if the stock
# image's model-server user ever has another uid.
RUN test "$(id -u)" = 1000
WORKDIR /home/model-server
COPY config/config.properties config/log4j2.xml ./
COPY scripts/torchserve_foreground.sh scripts/model_ready.py ./
COPY --from=mar /home/model-server/build/model_store/mnist.mar model-store/mnist.mar
# Where TorchServe writes: unpacked archives and worker sockets (TEMP), logs. Read-only everything else.
ENV TEMP=/home/model-server/tmp \
    LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs
EXPOSE 8080
# The model, not just the frontend: /ping is healthy before the workers have loaded the model.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["python", "model_ready.py"]
# TorchServe in the foreground as PID 1's child: the container exits (non-zero) when TorchServe does.
ENTRYPOINT ["./torchserve_foreground.sh", "config.properties", "model-store", "log4j2.xml"]
