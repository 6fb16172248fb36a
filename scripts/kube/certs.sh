#!/bin/bash
# Generate throwaway PKI for a loopback control plane. Usage: certs.sh DIR
# (From ../shared/test-infra; adds the test listener's token.)
set -euo pipefail
D=$1; mkdir -p "$D"; cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=test-ca" -keyout ca.key -out ca.crt 2>/dev/null
mk() { # name cn org sans
  local n=$1 cn=$2 o=$3 sans=${4:-}
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn${o:+/O=$o}" -keyout $n.key -out $n.csr 2>/dev/null
  if [ -n "$sans" ]; then printf "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" "$sans" > $n.ext; else printf "extendedKeyUsage=clientAuth\n" > $n.ext; fi
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile $n.ext -out $n.crt 2>/dev/null
}
mk apiserver kube-apiserver "" "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
mk admin admin system:masters
mk apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
mk kubelet fake-kubelet "" "IP:127.0.0.1,DNS:localhost"
openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
echo "admin-token,admin,1000,system:masters" > tokens.csv
echo "runner-token,runner,1001," >> tokens.csv
# The listener of the tests: no groups; a RoleBinding grants it exactly the listener Role.
echo "listener-token,terrace-listener,1002," >> tokens.csv
