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

# The Service name the aggregator verifies our serving certificate for.
SERVICE_HOST=metrics-server.kube-system.svc

# make_serving_certs: a CA and a serving certificate for the Service's DNS names made by
# `metrics-server certs` into $SERVING_CA (ca.crt, ca.key, tls.crt, tls.key), the pair
# installed into $SERVING_TLS the way the kubelet mounts a Secret; our server reads
# $SERVING_TLS/tls.crt and tls.key.
make_serving_certs() {
  "$METRICS_SERVER" certs --service-name metrics-server --namespace kube-system \
    --out-dir "$SERVING_CA" --validity 48h --ca-validity 96h >"$LOGS/certs.log" 2>&1 ||
    { cat "$LOGS/certs.log" >&2; return 1; }
  secret_volume_write "$SERVING_TLS" "$SERVING_CA/tls.crt" "$SERVING_CA/tls.key"
}

# secret_volume_write DIR CERT KEY: puts CERT and KEY into DIR as tls.crt and tls.key the way
# the kubelet updates a mounted Secret (its AtomicWriter): the files go into a new
# timestamped directory, the `..data` symlink is swapped to it with one rename, and
# tls.crt/tls.key are symlinks through `..data`, so a reader sees the old pair or the new one.
secret_volume_write() {
  local dir=$1 cert=$2 key=$3 old="" stamp
  mkdir -p "$dir"
  [ -L "$dir/..data" ] && old=$(readlink "$dir/..data")
  stamp="..$(date +%Y_%m_%d_%H_%M_%S.%N)"
  mkdir "$dir/$stamp"
  cp "$cert" "$dir/$stamp/tls.crt"
  cp "$key" "$dir/$stamp/tls.key"
  chmod 0600 "$dir/$stamp/tls.key"
  ln -s "$stamp" "$dir/..data_tmp"
  mv -T "$dir/..data_tmp" "$dir/..data"
  [ -L "$dir/tls.crt" ] || ln -s ..data/tls.crt "$dir/tls.crt"
  [ -L "$dir/tls.key" ] || ln -s ..data/tls.key "$dir/tls.key"
  if [ -n "$old" ]; then rm -rf "${dir:?}/$old"; fi
}

# serving_ca_bundle: the APIService caBundle for $SERVING_CA/ca.crt.
serving_ca_bundle() { base64 -w0 <"$SERVING_CA/ca.crt"; }

# issue_serving_cert NAME: a new serving certificate ($PKI/NAME.crt, .key) for the Service's
# DNS names from the CA `metrics-server certs` made (the next certificate a user issues with
# the ca.key they kept).
issue_serving_cert() {
  cp "$SERVING_CA/ca.crt" "$PKI/serving-ca.crt"
  cp "$SERVING_CA/ca.key" "$PKI/serving-ca.key"
  new_cert "$1" serving-ca "/CN=$SERVICE_HOST" serverAuth \
    "DNS:metrics-server,DNS:metrics-server.kube-system,DNS:$SERVICE_HOST,DNS:$SERVICE_HOST.cluster.local"
}
