# The paas control plane as an image. It drives the Docker engine of the host it runs on, so
# mount that engine's socket, and keep DATA_DIR on a volume:
#   docker build -t paas .
#   docker run -d --name paas -v /var/run/docker.sock:/var/run/docker.sock -v paas-data:/data \
#     --network host --privileged paas
# (--privileged because building the stack image runs debootstrap.) BASE may name any local
# Debian 12 image, such as the stack image, where no registry is reachable.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-venv git openssh-client caddy debootstrap ca-certificates curl tar \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/paas
COPY . .
RUN python3 -m venv /opt/paas/.venv && /opt/paas/.venv/bin/pip install --no-cache-dir .
ENV PATH=/opt/paas/.venv/bin:$PATH PAAS_DATA_DIR=/data
VOLUME /data
EXPOSE 8000 2222 8080
CMD ["paas", "up"]
