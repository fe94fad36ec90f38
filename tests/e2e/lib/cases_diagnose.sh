# End-to-end cases of `metrics-server diagnose`: a healthy installation exits 0 with no
# warning; then one break at a time (a caBundle of another CA, the auth-reader RoleBinding
# deleted, a kubelet certificate without an IP SAN, the v1 APIService taken by another
# provider, our server stopped), each named by diagnose with its fix, and each restored.
# Sourced by run.sh after cases_certs.sh (fail, wait_for, kc, WORK, PKI, LOGS, NODES,
# METRICS_SERVER, SERVING_TLS, patch_apiservices, apiservices_available,
# nodes_through_aggregator, serving_ca_bundle, restart_metrics_server).

# diagnose_kubeconfig: a ServiceAccount bound to cluster-admin, as the person who runs
# diagnose; a token (not the admin's client certificate) so the simulated kubelets, which
# authorize bearer tokens, answer it.
diagnose_kubeconfig() {
  [ -f "$WORK/diagnose.kubeconfig" ] && return 0
  kc create serviceaccount e2e-diagnose -n e2e-other >/dev/null 2>&1 || true
  kc create clusterrolebinding e2e-diagnose --clusterrole=cluster-admin \
    --serviceaccount=e2e-other:e2e-diagnose >/dev/null 2>&1 || true
  kubeconfig_token "$WORK/diagnose.kubeconfig" "$(kc create token e2e-diagnose -n e2e-other --duration=1h)"
}

# run_diagnose ARGS...: `metrics-server diagnose` with our server's flags; the report in
# $DIAGNOSE_OUT, the exit code in DIAGNOSE_RC (set -e must not stop the case on exit 1).
run_diagnose() {
  diagnose_kubeconfig
  DIAGNOSE_OUT="$WORK/diagnose.out"
  DIAGNOSE_RC=0
  "$METRICS_SERVER" diagnose --kubeconfig "$WORK/diagnose.kubeconfig" \
    --kubelet-certificate-authority "$WORK/kubelet-ca.crt" \
    --kubelet-use-node-status-port \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-request-timeout 5s \
    --metric-resolution 10s \
    "$@" >"$DIAGNOSE_OUT" 2>"$WORK/diagnose.err" || DIAGNOSE_RC=$?
  cp "$DIAGNOSE_OUT" "$LOGS/diagnose.$(date +%s%N).log"
}

# has_line STATUS CHECK OBJECT TEXT: the report has a STATUS line of CHECK on OBJECT whose
# cause or fix holds TEXT.
has_line() {
  awk -v s="$1" -v c="$2" -v o="$3:" '$1 == s && $2 == c && $3 == o' "$DIAGNOSE_OUT" | grep -qF -- "$4"
}

# show_lines PATTERN: prints the report lines matching PATTERN, indented (at most 8).
show_lines() { grep -E -- "$1" "$DIAGNOSE_OUT" | head -n 8 | cut -c1-220 | sed 's/^/    /'; }

# expect_line STATUS CHECK OBJECT TEXT: like has_line, or fails the case showing the report's
# first WARN and FAIL lines.
expect_line() {
  has_line "$@" || { fail "no $1 $2 line on $3 with \"$4\" (exit $DIAGNOSE_RC): $(grep -E '^(FAIL|WARN)' "$DIAGNOSE_OUT" | head -n 5 | cut -c1-300)"; return 1; }
}

case_diagnose_healthy() {
  local api node summary
  run_diagnose
  summary=$(tail -n 1 "$DIAGNOSE_OUT")
  [ "$DIAGNOSE_RC" = 0 ] && [[ $summary == "0 failed, 0 warnings,"* ]] ||
    { fail "healthy installation: exit $DIAGNOSE_RC, $summary: $(grep -E '^(FAIL|WARN)' "$DIAGNOSE_OUT" | head -n 3 | cut -c1-300)"; return 1; }
  for api in v1beta1.metrics.k8s.io v1.metrics.k8s.io; do
    expect_line OK apiservice-owner "apiservice/$api" "points at Service kube-system/metrics-server" || return 1
    expect_line OK apiservice-available "apiservice/$api" "Available" || return 1
    expect_line OK apiservice-tls "apiservice/$api" "verifies the serving certificate for metrics-server.kube-system.svc" || return 1
  done
  expect_line OK service-endpoints service/kube-system/metrics-server "1 ready" || return 1
  expect_line OK serving-endpoint "endpoint/127.0.0.1:$METRICS_SERVER_PORT" "answers TLS" || return 1
  expect_line OK rbac serviceaccount/kube-system/metrics-server "may get nodes/metrics" || return 1
  expect_line OK rbac-aggregated-reader clusterrole/system:aggregated-metrics-reader "exists" || return 1
  for node in $(seq 1 "$NODES"); do
    expect_line OK kubelet-tls "node/sim-node-$node" "verifies for the address dialled" || return 1
    expect_line OK kubelet-fetch "node/sim-node-$node" "GET /metrics/resource" || return 1
    expect_line OK node-clock "node/sim-node-$node" "from this machine's clock" || return 1
  done
  echo "    $summary"
  # The same checks as JSON.
  run_diagnose -o json
  [ "$DIAGNOSE_RC" = 0 ] &&
    jq -e '.exitCode == 0 and .summary.fail == 0 and (.checks | length) > 20 and
      ([.checks[] | select(.check == "kubelet-tls" and .status == "OK")] | length) == '"$NODES" \
      "$DIAGNOSE_OUT" >/dev/null ||
    { fail "-o json: exit $DIAGNOSE_RC: $(head -c 300 "$DIAGNOSE_OUT")"; return 1; }
  echo "    -o json: $(jq -c .summary "$DIAGNOSE_OUT")"
  # The certificate from its Secret instead of a handshake.
  kc -n kube-system create secret tls metrics-server-e2e-tls --cert="$SERVING_TLS/tls.crt" \
    --key="$SERVING_TLS/tls.key" >/dev/null 2>&1 || true
  run_diagnose --serving-cert-secret kube-system/metrics-server-e2e-tls
  kc -n kube-system delete secret metrics-server-e2e-tls >/dev/null 2>&1 || true
  [ "$DIAGNOSE_RC" = 0 ] || { fail "--serving-cert-secret: exit $DIAGNOSE_RC"; return 1; }
  expect_line OK serving-cert-names certificate/serving \
    "in Secret kube-system/metrics-server-e2e-tls is valid for metrics-server.kube-system.svc" || return 1
  expect_line OK apiservice-tls apiservice/v1.metrics.k8s.io "verifies the serving certificate" || return 1
  grep -q serving-endpoint "$DIAGNOSE_OUT" && { fail "--serving-cert-secret still dialled an endpoint"; return 1; }
  echo "    --serving-cert-secret: the certificate read from the Secret, verified the same way"
}

case_diagnose_wrong_ca_bundle() {
  local wrong
  wrong=$(base64 -w0 <"$PKI/front-proxy-ca.crt")
  patch_apiservices "{\"insecureSkipTLSVerify\":null,\"caBundle\":\"$wrong\"}" ||
    { fail "cannot patch the APIServices"; return 1; }
  run_diagnose
  local held=0
  [ "$DIAGNOSE_RC" = 1 ] || { fail "exit $DIAGNOSE_RC with a caBundle of another CA"; held=1; }
  ((held == 0)) && expect_line FAIL apiservice-tls apiservice/v1beta1.metrics.k8s.io \
    "caBundle (CN=e2e-front-proxy-ca) does not verify the serving certificate, issued by CN=metrics-server-ca" || held=1
  ((held == 0)) && expect_line FAIL apiservice-tls apiservice/v1.metrics.k8s.io "kubectl patch apiservice v1.metrics.k8s.io" || held=1
  ((held == 0)) && show_lines '^FAIL apiservice-tls'
  patch_apiservices "{\"caBundle\":\"$(serving_ca_bundle)\"}" || { fail "cannot restore the caBundle"; return 1; }
  wait_for "the aggregator to verify our certificate again" 60 nodes_through_aggregator ||
    { fail "not restored: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  apiservices_available || return 1
  return "$held"
}

# configmap_grant STATUS: diagnose reports STATUS for the ServiceAccount's access to the
# extension-apiserver-authentication ConfigMap.
configmap_grant() {
  run_diagnose
  has_line "$1" rbac serviceaccount/kube-system/metrics-server "configmaps extension-apiserver-authentication in kube-system"
}

case_diagnose_missing_rbac() {
  local binding=metrics-server-auth-reader held=0 want_fix
  want_fix="kubectl -n kube-system create rolebinding $binding --role=extension-apiserver-authentication-reader --serviceaccount=kube-system:metrics-server"
  kc get rolebinding "$binding" -n kube-system -o json >"$WORK/auth-reader.json" ||
    { fail "no RoleBinding $binding to delete"; return 1; }
  kc delete rolebinding "$binding" -n kube-system >/dev/null
  wait_for "the denial to show" 30 configmap_grant FAIL || true
  [ "$DIAGNOSE_RC" = 1 ] || { fail "exit $DIAGNOSE_RC without the auth-reader RoleBinding"; held=1; }
  ((held == 0)) && expect_line FAIL rbac serviceaccount/kube-system/metrics-server \
    "may not get and watch configmaps extension-apiserver-authentication in kube-system" || held=1
  ((held == 0)) && expect_line FAIL rbac serviceaccount/kube-system/metrics-server "fix: $want_fix" || held=1
  ((held == 0)) && show_lines '^FAIL rbac'
  # Restore the manifest's object as it was (labels included).
  jq 'del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields)' \
    "$WORK/auth-reader.json" | kc create -f - >/dev/null || { fail "cannot restore RoleBinding $binding"; return 1; }
  wait_for "the RoleBinding to count again" 30 configmap_grant OK ||
    { fail "the restored RoleBinding does not grant the ConfigMap"; return 1; }
  return "$held"
}

# kubelet_san NODE: the subjectAltName of the certificate NODE's kubelet serves now.
kubelet_san() {
  local endpoint
  endpoint=$(kc get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}:{.status.daemonEndpoints.kubeletEndpoint.Port}')
  openssl s_client -connect "$endpoint" </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n +2
}

# serves_ip_san NODE: NODE's kubelet certificate has an IP SAN.
serves_ip_san() { kubelet_san "$1" | grep -q "IP Address"; }
# serves_no_ip_san NODE: it has SANs, none of them an IP.
serves_no_ip_san() { local san; san=$(kubelet_san "$1") && [ -n "$san" ] && ! grep -q "IP Address" <<<"$san"; }

case_diagnose_kubelet_no_ip_san() {
  local node=sim-node-2 held=0 ip
  ip=$(kc get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  sim_control "$node serving-cert=no-ip-san"
  wait_for "$node to serve a certificate without an IP SAN" 30 serves_no_ip_san "$node" ||
    { fail "$node still serves IP SANs: $(kubelet_san "$node")"; held=1; }
  ((held == 0)) && echo "    $node serves:$(kubelet_san "$node")"
  if ((held == 0)); then
    run_diagnose
    [ "$DIAGNOSE_RC" = 0 ] || { fail "exit $DIAGNOSE_RC: a warning alone must exit 0"; held=1; }
    ((held == 0)) && expect_line WARN kubelet-tls "node/$node" "has no IP SAN for $ip, only the node's name $node" || held=1
    ((held == 0)) && expect_line WARN kubelet-tls "node/$node" "--kubelet-preferred-address-types=Hostname,InternalIP" || held=1
    ((held == 0)) && expect_line OK kubelet-tls node/sim-node-1 "verifies" || held=1
    ((held == 0)) && show_lines "^WARN kubelet-tls +node/$node"
    ((held == 0)) && echo "    $(tail -n 1 "$DIAGNOSE_OUT")"
  fi
  sim_control
  wait_for "$node to serve its IP SAN again" 30 serves_ip_san "$node" ||
    { fail "$node did not get its IP SAN back"; return 1; }
  return "$held"
}

case_diagnose_second_owner() {
  local held=0
  kc create service clusterip prometheus-adapter -n e2e-other --tcp=443:6443 >/dev/null ||
    { fail "cannot create the other provider's Service"; return 1; }
  kc patch apiservice v1.metrics.k8s.io --type=merge \
    -p '{"spec":{"service":{"namespace":"e2e-other","name":"prometheus-adapter"}}}' >/dev/null ||
    { fail "cannot point v1.metrics.k8s.io elsewhere"; return 1; }
  run_diagnose
  [ "$DIAGNOSE_RC" = 1 ] || { fail "exit $DIAGNOSE_RC with v1.metrics.k8s.io owned by another provider"; held=1; }
  ((held == 0)) && expect_line FAIL apiservice-owner apiservice/v1.metrics.k8s.io \
    "owned by prometheus-adapter: it points at Service e2e-other/prometheus-adapter, not at kube-system/metrics-server" || held=1
  ((held == 0)) && expect_line FAIL apiservice-owner apiservice/v1.metrics.k8s.io \
    "kubectl patch apiservice v1.metrics.k8s.io --type=merge -p" || held=1
  ((held == 0)) && expect_line OK apiservice-owner apiservice/v1beta1.metrics.k8s.io "points at Service kube-system/metrics-server" || held=1
  ((held == 0)) && show_lines '^FAIL apiservice-owner'
  kc patch apiservice v1.metrics.k8s.io --type=merge \
    -p '{"spec":{"service":{"namespace":"kube-system","name":"metrics-server"}}}' >/dev/null ||
    { fail "cannot point v1.metrics.k8s.io back"; return 1; }
  kc delete service prometheus-adapter -n e2e-other >/dev/null || true
  apiservices_available || return 1
  return "$held"
}

case_diagnose_stopped_server() {
  local held=0 message
  stop_process metrics-server
  run_diagnose
  [ "$DIAGNOSE_RC" = 1 ] || { fail "exit $DIAGNOSE_RC with our server stopped"; held=1; }
  ((held == 0)) && expect_line FAIL serving-endpoint "endpoint/127.0.0.1:$METRICS_SERVER_PORT" "connection refused: nothing listens there" || held=1
  ((held == 0)) && show_lines '^FAIL serving-endpoint'
  # Once the aggregator notices, its condition is explained in plain words.
  if ((held == 0)) && kc wait --for=condition=Available=False apiservice/v1beta1.metrics.k8s.io --timeout=90s >/dev/null 2>&1; then
    run_diagnose
    message=$(kc get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].message}')
    expect_line FAIL apiservice-available apiservice/v1beta1.metrics.k8s.io "nothing listens on port $METRICS_SERVER_PORT (connection refused)" ||
      { echo "    aggregator: $message"; held=1; }
    ((held == 0)) && show_lines '^FAIL apiservice-available +apiservice/v1beta1'
  elif ((held == 0)); then
    fail "v1beta1.metrics.k8s.io stayed Available for 90 s with our server stopped"
    held=1
  fi
  restart_metrics_server --tls-cert-file "$SERVING_TLS/tls.crt" --tls-private-key-file "$SERVING_TLS/tls.key" ||
    { fail "our server did not start again"; return 1; }
  wait_for "metrics through the aggregator again" 90 nodes_through_aggregator ||
    { fail "not restored: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  apiservices_available || return 1
  return "$held"
}
