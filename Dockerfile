# syntax=docker/dockerfile:1
# consort's container image: the `consort` binary on Debian slim, run as a non-root user.
#
#   docker build -t consort:0.1.0 .                        # slim: the kubernetes, standalone and livy backends
#   docker build -t consort:0.1.0-spark --target spark .   # + Java 17 and Spark, for the local and yarn backends
#
# The slim image (the last stage, built by default) submits Spark work through APIs only: the
# Spark Operator's SparkApplication, a standalone master's REST server, Livy. The local and yarn
# backends run spark-submit, which needs a JRE and a Spark distribution: the `spark` target adds
# OpenJDK 17 and pyspark (a full Spark: spark-submit, jars) and sets SPARK_HOME.
# The Helm chart (deploy/helm/consort) runs the image with a read-only root file system:
# everything consort writes is under /var/lib/consort and /tmp, which the chart mounts.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The image has a C compiler (bundled SQLite, ring); the kube and reqwest clients link the
# system OpenSSL. MIT Kerberos is loaded at run time (dlopen), so it needs no headers here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
# rust-toolchain.toml pins 1.95.0 (this image's toolchain); rustup adds its rustfmt and clippy
# components on the first cargo call if the image lacks them.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p consort \
 && install -D -m 0755 target/release/consort /out/consort

FROM debian:${DEBIAN_RELEASE}-slim AS base
# ca-certificates: TLS to PostgreSQL, the Kubernetes API, object stores, OIDC issuers;
# libssl3: the OpenSSL the binary links; libkrb5-3 + libgssapi-krb5-2: the [kerberos] section (loaded only when configured).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libkrb5-3 libgssapi-krb5-2 \
 && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid/gid that the chart's securityContext names (runAsUser 10001).
RUN groupadd --system --gid 10001 consort \
 && useradd --system --uid 10001 --gid consort --home-dir /var/lib/consort --shell /usr/sbin/nologin consort \
 && install -d -o consort -g consort -m 0750 /var/lib/consort /etc/consort
COPY --from=build /out/consort /usr/local/bin/consort
WORKDIR /var/lib/consort
ENV CONSORT_DATA_DIR=/var/lib/consort
EXPOSE 8093
ENTRYPOINT ["/usr/local/bin/consort"]
CMD ["serve"]

FROM base AS spark
ARG PYSPARK_VERSION=4.3.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless python3 python3-venv procps \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/spark-venv \
 && /opt/spark-venv/bin/pip install --no-cache-dir --disable-pip-version-check "pyspark==${PYSPARK_VERSION}" \
 && ln -s "$(/opt/spark-venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/spark
ENV SPARK_HOME=/opt/spark \
    PYSPARK_PYTHON=/opt/spark-venv/bin/python
USER 10001:10001

FROM base AS slim
USER 10001:10001
