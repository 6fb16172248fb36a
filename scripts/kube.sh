#!/usr/bin/env bash
# A real Kubernetes control plane for the tests of the listener's kubernetes executor:
# kube-apiserver, kube-controller-manager and kube-scheduler 1.20.2 built from Debian
# bookworm's `kubernetes` source package (no Kubernetes binary is packaged), etcd from Debian.
# There is no kubelet: tests/kube/fake_node.py plays the node.
#
#   scripts/kube.sh build        install etcd, build the binaries once (about 7 min cold on 2
#                                cores, 1.4 GB peak memory), cached in $TERRACE_K8S_DIR
#   scripts/kube.sh bindir       print where the binaries are
#   scripts/kube.sh up WORKDIR   start the control plane on loopback (ETCD_PORT, ETCD_PORT+1
#                                and API_PORT, default 12379/12380/16443); writes
#                                WORKDIR/admin.kubeconfig, WORKDIR/pki and WORKDIR/*.pid
#   scripts/kube.sh down WORKDIR stop it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.20.2
BIN=${TERRACE_K8S_DIR:-$HOME/.cache/terrace-k8s/$K8S_VERSION}

case "${1:-}" in
  build)
    [ "$(id -u)" = 0 ] || { echo "kube.sh build: must run as root (apt-get)" >&2; exit 1; }
    if [ "$(dpkg-query -W -f='${Status}' etcd-server 2>/dev/null || true)" != "install ok installed" ]; then
      echo "kube.sh: apt installing etcd-server"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
    fi
    if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ]; then
      echo "kube.sh: Kubernetes $K8S_VERSION already built in $BIN"
    else
      echo "kube.sh: building Kubernetes $K8S_VERSION into $BIN (about 7 minutes)"
      start=$(date +%s)
      "$here/kube/build-k8s.sh" "$BIN"
      echo "kube.sh: built in $(( $(date +%s) - start )) s"
    fi
    ;;
  bindir) echo "$BIN" ;;
  up)
    W=${2:?usage: kube.sh up WORKDIR}
    for b in kube-apiserver kube-controller-manager kube-scheduler; do
      [ -x "$BIN/$b" ] || { echo "kube.sh: $BIN/$b is missing: run scripts/kube.sh build" >&2; exit 1; }
    done
    command -v etcd >/dev/null || { echo "kube.sh: etcd is missing: run scripts/kube.sh build" >&2; exit 1; }
    "$here/kube/up.sh" "$W" "$BIN"
    ;;
  down) "$here/kube/down.sh" "${2:?usage: kube.sh down WORKDIR}" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
