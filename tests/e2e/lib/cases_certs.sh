# End-to-end cases about our serving certificate as the aggregator sees it: the APIServices
# verify it with a caBundle (no insecureSkipTLSVerify), a rotated certificate is served
# without a restart, and --self-managed-ca publishes its own CA. Sourced by run.sh after
# cases.sh (fail, wait_for, kc, WORK, PKI, LOGS, SERVING_CA, SERVING_TLS, SERVICE_HOST).

APISERVICES=(v1beta1.metrics.k8s.io v1.metrics.k8s.io)

# patch_apiservices JSON: merge-patches both APIServices' spec with JSON.
patch_apiservices() {
  local api
  for api in "${APISERVICES[@]}"; do
    kc patch apiservice "$api" --type=merge -p "{\"spec\":$1}" >/dev/null || return 1
  done
}

# apiservices_verify BUNDLE: both APIServices carry caBundle BUNDLE and no insecureSkipTLSVerify.
apiservices_verify() {
  local api
  for api in "${APISERVICES[@]}"; do
    [ "$(kc get apiservice "$api" -o jsonpath='{.spec.caBundle}')" = "$1" ] &&
      [ -z "$(kc get apiservice "$api" -o jsonpath='{.spec.insecureSkipTLSVerify}')" ] || return 1
  done
}

# nodes_through_aggregator: the node metrics list through kube-apiserver has every node.
nodes_through_aggregator() {
  kc get --raw /apis/metrics.k8s.io/v1beta1/nodes |
    jq -e --argjson n "$NODES" '[.items[] | select(.metadata.name | startswith("sim-node-"))] | length == $n' >/dev/null
}

# apiservices_available: both APIServices are Available=True.
apiservices_available() {
  local api
  for api in "${APISERVICES[@]}"; do
    kc wait --for=condition=Available "apiservice/$api" --timeout=60s >/dev/null 2>&1 ||
      { fail "$api not Available: $(kc get apiservice "$api" -o jsonpath='{.status.conditions[0].message}')"; return 1; }
  done
}

# served_serial: the serial of the certificate our port serves for the Service name.
served_serial() {
  openssl s_client -connect "127.0.0.1:$METRICS_SERVER_PORT" -servername "$SERVICE_HOST" \
    </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}

# serving_serial_is SERIAL: our port serves the certificate with SERIAL.
serving_serial_is() { [ "$(served_serial)" = "$1" ]; }

# top_nodes_loop FILE: `kubectl top nodes` every second until $WORK/top.stop exists (at most
# 120 rounds, and never past run.sh), one line `ok` or `fail: <output>` per round into FILE.
top_nodes_loop() {
  local out i
  for ((i = 0; i < 120; i++)); do
    [ -e "$WORK/top.stop" ] && break
    kill -0 "$$" 2>/dev/null || break
    if out=$(kc top nodes --no-headers 2>&1) && [ "$(echo "$out" | grep -c '^sim-node-')" = "$NODES" ]; then
      echo ok
    else
      echo "fail: $(echo "$out" | tr '\n' ' ')"
    fi
    sleep 1
  done >"$1"
}

case_cert_rotation() {
  local bundle wrong out old_serial new_serial loop_pid code ups
  local up="APIService v1beta1.metrics.k8s.io is Available again"
  bundle=$(serving_ca_bundle)
  ups=$(log_count "$up")
  # Control: with a caBundle of another CA the aggregator refuses our certificate, so the
  # checks below cannot pass without real verification.
  wrong=$(base64 -w0 <"$PKI/front-proxy-ca.crt")
  patch_apiservices "{\"insecureSkipTLSVerify\":null,\"caBundle\":\"$wrong\"}" ||
    { fail "cannot patch the APIServices"; return 1; }
  wait_for "the aggregator to reject our certificate under another CA" 30 \
    bash -c '! "$0" --kubeconfig "$1" get --raw /apis/metrics.k8s.io/v1beta1/nodes' "$KUBECTL" "$ADMIN" ||
    { fail "the aggregator accepted our certificate with a caBundle of another CA"; return 1; }
  kc wait --for=condition=Available=False apiservice/v1beta1.metrics.k8s.io --timeout=60s >/dev/null 2>&1 ||
    { fail "v1beta1.metrics.k8s.io stayed Available with a caBundle of another CA"; return 1; }
  echo "    caBundle of another CA: Available=False: $(kc get apiservice v1beta1.metrics.k8s.io \
    -o jsonpath='{.status.conditions[?(@.type=="Available")].message}' | tail -c 120)"
  apiservice_explains_unknown_authority || return 1

  patch_apiservices "{\"insecureSkipTLSVerify\":null,\"caBundle\":\"$bundle\"}" ||
    { fail "cannot patch the APIServices"; return 1; }
  apiservices_verify "$bundle" || { fail "APIServices still skip TLS verification or lack the caBundle"; return 1; }
  wait_for "the aggregator to verify our certificate" 60 nodes_through_aggregator ||
    { fail "with the caBundle of our CA: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  apiservices_available || return 1
  wait_for "our recovery line" 30 log_count_above "$up" "$ups" || { fail "no '$up' after the caBundle of our CA"; return 1; }
  old_serial=$(served_serial)
  echo "    caBundle of our CA, insecureSkipTLSVerify removed: Available, nodes listed; serving $old_serial"

  rm -f "$WORK/top.stop"
  top_nodes_loop "$WORK/top-during-rotation.log" &
  loop_pid=$!
  sleep 2
  issue_serving_cert serving-2
  new_serial=$(openssl x509 -noout -serial -in "$PKI/serving-2.crt")
  if [ "$new_serial" = "$old_serial" ]; then
    touch "$WORK/top.stop"
    fail "the new certificate has the old serial"
    return 1
  fi
  secret_volume_write "$SERVING_TLS" "$PKI/serving-2.crt" "$PKI/serving-2.key"
  local t0=$SECONDS
  wait_for "the new certificate to be served" 20 serving_serial_is "$new_serial"
  local served=$?
  local took=$((SECONDS - t0))
  sleep 3
  touch "$WORK/top.stop"
  wait "$loop_pid" 2>/dev/null || true
  ((served == 0)) || { fail "still serving $(served_serial) 20 s after the files changed to $new_serial"; return 1; }
  echo "    new certificate from the same CA written: $new_serial served after ${took}s"
  local rounds failures
  rounds=$(grep -c . "$WORK/top-during-rotation.log")
  failures=$(grep -c '^fail' "$WORK/top-during-rotation.log" || true)
  ((rounds >= 3 && failures == 0)) ||
    { fail "kubectl top nodes during the rotation: $failures of $rounds rounds failed: $(grep -m1 '^fail' "$WORK/top-during-rotation.log")"; return 1; }
  echo "    kubectl top nodes during the rotation: $rounds rounds, none failed"
  # A new connection verifies the new certificate for the Service name with the same CA.
  code=$(direct /healthz)
  [ "$code" = 200 ] || { fail "a new TLS connection with our CA got $code: $(cat "$WORK/direct.err" | tail -n 1)"; return 1; }
  # The aggregator may keep its connection from before the rotation; the same CA re-encoded
  # (one more newline) gives it a new transport, so it must handshake with the new certificate.
  bundle=$( (cat "$SERVING_CA/ca.crt"; echo) | base64 -w0)
  patch_apiservices "{\"caBundle\":\"$bundle\"}" || { fail "cannot patch the APIServices"; return 1; }
  wait_for "the aggregator with a new connection" 30 nodes_through_aggregator ||
    { fail "aggregator after the rotation: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  apiservices_available || return 1
  echo "    aggregator on a new connection (caBundle re-encoded): nodes listed, Available"
}

# Our server restarted with --self-managed-ca (and the RBAC of manifests/overlays/self-managed-ca)
# takes over an APIService that skips verification: it writes the CA of its Secret into the
# caBundle, removes insecureSkipTLSVerify, and the aggregator verifies it.
case_self_managed_ca() {
  patch_apiservices '{"caBundle":null,"insecureSkipTLSVerify":true}' ||
    { fail "cannot reset the APIServices"; return 1; }
  kc apply -f "$REPO/manifests/overlays/self-managed-ca/rbac-ca.yaml" >/dev/null ||
    { fail "cannot apply manifests/overlays/self-managed-ca/rbac-ca.yaml"; return 1; }
  restart_metrics_server --self-managed-ca || { fail "our server did not start with --self-managed-ca"; return 1; }
  local bundle code out
  wait_for "Secret kube-system/metrics-server-ca" 30 kc get secret metrics-server-ca -n kube-system ||
    { fail "no Secret kube-system/metrics-server-ca; log: $(tail -n 3 "$LOGS/metrics-server.log")"; return 1; }
  bundle=$(kc get secret metrics-server-ca -n kube-system -o jsonpath='{.data.ca\.crt}')
  wait_for "the caBundle of the self-managed CA" 30 apiservices_verify "$bundle" ||
    { fail "APIServices not switched to the self-managed CA: $(kc get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.spec}' | head -c 300)"; return 1; }
  echo "    caBundle = Secret kube-system/metrics-server-ca ca.crt on both APIServices, insecureSkipTLSVerify removed"
  wait_for "metrics through the aggregator" 60 nodes_through_aggregator ||
    { fail "aggregator with the self-managed CA: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  apiservices_available || return 1
  base64 -d <<<"$bundle" >"$WORK/self-managed-ca.crt"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/self-managed-ca.crt" \
    --resolve "$SERVICE_HOST:$METRICS_SERVER_PORT:127.0.0.1" "https://$SERVICE_HOST:$METRICS_SERVER_PORT/healthz")
  [ "$code" = 200 ] || { fail "serving certificate not verified by the Secret's CA for $SERVICE_HOST (curl $code)"; return 1; }
  out=$(kc top nodes --no-headers 2>&1) && [ "$(echo "$out" | grep -c '^sim-node-')" = "$NODES" ] ||
    { fail "kubectl top nodes with the self-managed CA: $out"; return 1; }
  echo "    Available, kubectl top nodes ok, serving certificate verified by the Secret's CA"
}
