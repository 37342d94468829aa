# The paas control plane as an image, built on the platform's stack image: no image registry is needed.
#   docker build --build-arg BASE=paas/stack:TAG -t paas .
# where paas/stack:TAG is the current stack image (`make stack` builds it and imports it into Docker; `docker images
# paas/stack` lists it). BASE may name any Debian 12 image. Behind a proxy that intercepts TLS, put its root CA (or a
# bundle holding it) in the build context as ca-bundle.crt: apt, pip and the platform itself then trust it.
#
# It drives the Docker engine of the host it runs on, so mount that engine's socket, and keep DATA_DIR on a volume:
#   docker run -d --name paas -v /var/run/docker.sock:/var/run/docker.sock -v paas-data:/data \
#     --network host --privileged paas
# (--privileged because building the stack image runs debootstrap.) As a cluster's controller, whose builds and jobs
# run on `paas builder` and `paas agent` elsewhere:
#   docker run -d --network host -e DATABASE_URL=postgres://... -e CELERY_BROKER_URL=redis://... paas paas controller
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# The CA bundle, when the build context has one. The pattern alone matches nothing without it, and a COPY with no
# source fails: .dockerignore comes along so that there is always one (not the Dockerfile, an edit of which would
# then rebuild every layer). apt trusts the bundle through its own setting until the system's roots include it (a
# bare Debian image has no ca-certificates yet).
COPY .dockerignore ca-bundle.cr[t] /tmp/paas-ca/
RUN if [ -f /tmp/paas-ca/ca-bundle.crt ]; then \
        mkdir -p /usr/local/share/ca-certificates \
        && cp /tmp/paas-ca/ca-bundle.crt /usr/local/share/ca-certificates/paas-build-ca.crt \
        && echo 'Acquire::https::CAInfo "/usr/local/share/ca-certificates/paas-build-ca.crt";' \
           > /etc/apt/apt.conf.d/60paas-ca \
        && if command -v update-ca-certificates > /dev/null; then update-ca-certificates > /dev/null; fi; \
    fi \
    && rm -rf /tmp/paas-ca

# Most of these are in the stack image already; debootstrap (`paas up` builds the stack image with it) is not.
# setpriv (util-linux) and useradd (passwd) run the router as its own unprivileged user.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-venv git openssh-client debootstrap ca-certificates curl tar util-linux passwd \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# pip trusts the system's roots (the CA bundle's too), not the ones it carries.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 PIP_PROGRESS_BAR=off
WORKDIR /opt/paas

# The dependencies first, from the project's metadata alone, so that a change to the code reinstalls only paas.
# The router is Caddy from scripts/router-requirements.txt (pinned and hashed), not Debian's: see that file.
COPY setup.cfg pyproject.toml scripts/router-requirements.txt /tmp/paas-deps/
RUN python3 -m venv /opt/paas/.venv \
    && cd /tmp/paas-deps \
    && python3 -c 'import configparser, tomllib; \
config = configparser.ConfigParser(); config.read("setup.cfg"); \
build = tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]; \
print(config["options"]["install_requires"].strip(), *build, sep="\n")' \
       > requirements.txt \
    && /opt/paas/.venv/bin/pip install -r requirements.txt \
    && /opt/paas/.venv/bin/pip install --require-hashes --no-deps -r router-requirements.txt \
    && rm -rf /tmp/paas-deps

# The code: built with the build requirements installed above (no download), then its build output dropped. The
# CA bundle came along with the rest of the context; it is in the system's roots already.
COPY . .
RUN /opt/paas/.venv/bin/pip install --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info ca-bundle.crt

# The stack image's HOME is the apps' /app; the platform's is root's.
ENV PATH=/opt/paas/.venv/bin:$PATH PAAS_DATA_DIR=/data HOME=/root
VOLUME /data
EXPOSE 8000 2222 8080 8443
CMD ["paas", "up"]
