# Certificates and keys for the end-to-end control plane, made with openssl at run time.
# Sourced by run.sh; writes into $PKI.

# new_ca NAME CN: a self-signed CA (NAME.crt, NAME.key).
new_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# new_cert NAME CA SUBJECT USAGE [SANS]: a leaf certificate signed by CA.
# USAGE is clientAuth or serverAuth; SANS like "DNS:localhost,IP:127.0.0.1".
new_cert() {
  local name=$1 ca=$2 subject=$3 usage=$4 sans=${5:-}
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } >"$ext"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -days 2 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# make_pki: everything the control plane needs.
make_pki() {
  mkdir -p "$PKI"
  new_ca ca "e2e-kubernetes-ca"
  new_ca front-proxy-ca "e2e-front-proxy-ca"
  new_cert apiserver ca "/CN=kube-apiserver" serverAuth \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1"
  new_cert admin ca "/O=system:masters/CN=e2e-admin" clientAuth
  new_cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
  new_cert scheduler ca "/CN=system:kube-scheduler" clientAuth
  new_cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
  # Service-account token signing key pair.
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# kubeconfig_cert PATH NAME: a kubeconfig for the client certificate NAME.
kubeconfig_cert() {
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: e2e
  context: {cluster: e2e, user: $2}
current-context: e2e
YAML
}

# kubeconfig_token PATH TOKEN: a kubeconfig for a bearer token.
kubeconfig_token() {
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority: $PKI/ca.crt
users:
- name: token
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: token}
current-context: e2e
YAML
}
