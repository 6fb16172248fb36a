# syntax=docker/dockerfile:1
# Terrace's image for people with Docker or BuildKit (docs/image.md). Without a Docker daemon,
# scripts/build-image.sh makes the same shape of image (user 65532, entrypoint terrace,
# terraform optional) reproducibly from a built binary.
#
#   docker build -t terrace:0.1.0 .
#   docker build -t terrace:0.1.0 --build-arg TERRAFORM_VERSION=1.11.4 .   # terraform baked in
#
# Without TERRAFORM_VERSION the image holds no terraform: runs get theirs from the site's
# catalogue of versions through the server's binary cache (docs/engines.md).

ARG RUST_VERSION=1.89
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
# samael's xmlsec feature binds libxmlsec1 through bindgen.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libxml2-dev libxmlsec1-dev libclang-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked --bin terrace --bin terrace-runner \
 && install -m 0755 target/dist/terrace target/dist/terrace-runner /

# terraform from releases.hashicorp.com, checked against its SHA256SUMS; nothing when
# TERRAFORM_VERSION is empty.
FROM debian:${DEBIAN}-slim AS terraform
ARG TERRAFORM_VERSION=""
ARG TARGETARCH=amd64
RUN mkdir /out \
 && if [ -n "$TERRAFORM_VERSION" ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates curl unzip \
      && base="https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}" \
      && zip="terraform_${TERRAFORM_VERSION}_linux_${TARGETARCH}.zip" \
      && curl -fsSLO "$base/$zip" \
      && curl -fsSL "$base/terraform_${TERRAFORM_VERSION}_SHA256SUMS" | grep " $zip\$" | sha256sum -c - \
      && unzip -o "$zip" terraform -d /out \
      && chmod 0755 /out/terraform; \
    fi

FROM debian:${DEBIAN}-slim
ARG VERSION=0.1.0
# The shared libraries terrace links (libxmlsec1-openssl pulls libxmlsec1, libxml2, libssl3)
# and the CA bundle; a nonroot user like distroless's.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libxmlsec1-openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot \
 && chmod 0700 /home/nonroot
COPY --from=build /terrace /terrace-runner /usr/local/bin/
COPY --from=terraform /out/ /usr/local/bin/
ENV HOME=/home/nonroot SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="terrace" \
      org.opencontainers.image.description="Terrace: a server for the HCP Terraform / Terraform Enterprise V2 API, its listener and runner" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/terrace"]
CMD ["--help"]
