#!/bin/bash
# Start etcd + kube-apiserver (+ kube-controller-manager + kube-scheduler) on loopback.
# Usage: up.sh WORKDIR BINDIR   -> writes WORKDIR/admin.kubeconfig and WORKDIR/*.pid
# (From ../shared/test-infra; ports from ETCD_PORT (and +1) and API_PORT.)
set -euo pipefail
W=$1; B=$2; P=$W/pki
ETCD_PORT=${ETCD_PORT:-12379}; API_PORT=${API_PORT:-16443}
mkdir -p $W/etcd-data $W/logs
[ -f $P/ca.crt ] || $(dirname $0)/certs.sh $P
t0=$(date +%s.%N)
etcd --data-dir $W/etcd-data --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
     --listen-peer-urls http://127.0.0.1:$((ETCD_PORT+1)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT+1)) \
     --initial-cluster default=http://127.0.0.1:$((ETCD_PORT+1)) --unsafe-no-fsync --quota-backend-bytes=1073741824 > $W/logs/etcd.log 2>&1 &
echo $! > $W/etcd.pid
$B/kube-apiserver --etcd-servers=http://127.0.0.1:$ETCD_PORT --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
  --secure-port=$API_PORT --insecure-port=0 --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key \
  --client-ca-file=$P/ca.crt --token-auth-file=$P/tokens.csv --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
  --kubelet-client-certificate=$P/apiserver-kubelet-client.crt --kubelet-client-key=$P/apiserver-kubelet-client.key \
  --kubelet-preferred-address-types=InternalIP --endpoint-reconciler-type=none \
  > $W/logs/apiserver.log 2>&1 &
echo $! > $W/apiserver.pid
cat > $W/admin.kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$P/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$P/admin.crt", client-key: "$P/admin.key"}
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
KC
ready=
for i in $(seq 1 600); do
  if curl -sf --cacert $P/ca.crt --cert $P/admin.crt --key $P/admin.key https://127.0.0.1:$API_PORT/readyz >/dev/null 2>&1; then ready=1; break; fi; sleep 0.1
done
[ -n "$ready" ] || { echo "the apiserver did not get ready; see $W/logs/apiserver.log" >&2; tail -20 $W/logs/apiserver.log >&2; exit 1; }
echo "apiserver ready after $(( $(date +%s) - ${t0%.*} )) s"
if [ -x $B/kube-controller-manager ]; then
  $B/kube-controller-manager --kubeconfig=$W/admin.kubeconfig --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --port=0 \
    --controllers='*,-nodeipam,-service,-route,-cloud-node-lifecycle,-persistentvolume-binder,-attachdetach,-csrsigning,-csrapproving,-bootstrapsigner,-tokencleaner' \
    --service-account-private-key-file=$P/sa.key --root-ca-file=$P/ca.crt --use-service-account-credentials=false > $W/logs/kcm.log 2>&1 &
  echo $! > $W/kcm.pid
fi
if [ -x $B/kube-scheduler ]; then
  $B/kube-scheduler --kubeconfig=$W/admin.kubeconfig --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 --port=0 > $W/logs/scheduler.log 2>&1 &
  echo $! > $W/scheduler.pid
fi
echo "all started after $(( $(date +%s) - ${t0%.*} )) s"
