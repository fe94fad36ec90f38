# End-to-end cases that call our server straight on its port, not through the aggregator,
# the way any pod in a cluster can: who is let in is decided by our own authentication
# (front-proxy headers only with a front-proxy client certificate, client certificates,
# TokenReview) and authorization (SubjectAccessReview) against the real kube-apiserver.
# Sourced by run.sh after cases.sh (fail, wait_for, kc, WORK, SERVING_CA, SERVICE_HOST).

# direct PATH [CURL_ARGS...]: GET PATH on our port, verifying the serving certificate against
# the CA for the Service name; prints the status code, the body goes to $WORK/direct.body.
direct() {
  local path=$1
  shift
  curl -sS -o "$WORK/direct.body" -w '%{http_code}' --max-time 10 \
    --cacert "$SERVING_CA/ca.crt" --resolve "$SERVICE_HOST:$METRICS_SERVER_PORT:127.0.0.1" \
    "$@" "https://$SERVICE_HOST:$METRICS_SERVER_PORT$path" 2>>"$WORK/direct.err" || true
}

# body_short: the last response body on one line, at most 300 characters.
body_short() { tr '\n' ' ' <"$WORK/direct.body" | head -c 300; }

# expect_denied PATH CODE USER [CURL_ARGS...]: PATH answers CODE with a Status that names
# USER (when given) and carries no metrics.
expect_denied() {
  local path=$1 want=$2 user=$3 code
  shift 3
  code=$(direct "$path" "$@")
  [ "$code" = "$want" ] || { fail "$path got $code, want $want: $(body_short)"; return 1; }
  [ "$(jq -r '.kind + " " + (.code | tostring)' "$WORK/direct.body" 2>/dev/null)" = "Status $want" ] ||
    { fail "$path: not a Status with code $want: $(body_short)"; return 1; }
  if [ -n "$user" ] && ! grep -qF "User \\\"$user\\\"" "$WORK/direct.body"; then
    fail "$path: Status does not name $user: $(body_short)"
    return 1
  fi
  if grep -q '"usage"\|"items"' "$WORK/direct.body"; then
    fail "$path: denied response leaks metrics: $(body_short)"
    return 1
  fi
  echo "    $path -> $code $(jq -r .message "$WORK/direct.body")"
}

case_direct_anonymous_denied() {
  local path code
  for path in /apis/metrics.k8s.io/v1beta1/nodes /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods \
    /apis/metrics.k8s.io/v1beta1/namespaces/e2e-top/pods/multi /metrics; do
    expect_denied "$path" 403 system:anonymous || return 1
  done
  code=$(direct /healthz)
  [ "$code" = 200 ] && [ "$(cat "$WORK/direct.body")" = ok ] ||
    { fail "/healthz got $code: $(body_short)"; return 1; }
  echo "    /healthz -> $code $(cat "$WORK/direct.body")"
}

# Front-proxy headers count only with a client certificate of the front-proxy CA: without a
# certificate the caller is anonymous; with a certificate of the cluster CA (valid, but not
# the front-proxy's) it is the certificate's user, and the headers are ignored.
case_direct_forged_headers() {
  local forged=(-H "X-Remote-User: system:admin" -H "X-Remote-Group: system:masters")
  expect_denied /apis/metrics.k8s.io/v1beta1/nodes 403 system:anonymous "${forged[@]}" || return 1
  expect_denied /apis/metrics.k8s.io/v1beta1/nodes 403 system:kube-scheduler "${forged[@]}" \
    --cert "$PKI/scheduler.crt" --key "$PKI/scheduler.key" || return 1
}

# create_token NAMESPACE SERVICEACCOUNT: a 10-minute token of the ServiceAccount.
create_token() { kc create token "$2" -n "$1" --duration=10m; }

# A ServiceAccount bound to system:aggregated-metrics-reader reads metrics, one without RBAC
# is denied by the SubjectAccessReview, a token the TokenReview rejects is unauthenticated.
case_direct_token_rbac() {
  local ns=e2e-other reader_token nobody_token code
  kc create serviceaccount e2e-reader -n "$ns" >/dev/null 2>&1 || true
  kc create serviceaccount e2e-nobody -n "$ns" >/dev/null 2>&1 || true
  kc create clusterrolebinding e2e-reader --clusterrole=system:aggregated-metrics-reader \
    --serviceaccount="$ns:e2e-reader" >/dev/null 2>&1 || true
  reader_token=$(create_token "$ns" e2e-reader) || { fail "no token for e2e-reader"; return 1; }
  nobody_token=$(create_token "$ns" e2e-nobody) || { fail "no token for e2e-nobody"; return 1; }

  # The binding reaches the apiserver's RBAC cache within moments; a denial is cached 10 s.
  local deadline=$((SECONDS + 40))
  until code=$(direct /apis/metrics.k8s.io/v1beta1/nodes -H "Authorization: Bearer $reader_token") &&
    [ "$code" = 200 ]; do
    ((SECONDS < deadline)) || { fail "e2e-reader got $code for nodes, want 200: $(body_short)"; return 1; }
    sleep 1
  done
  [ "$(jq -r '.kind + " " + .apiVersion' "$WORK/direct.body")" = "NodeMetricsList metrics.k8s.io/v1beta1" ] &&
    [ "$(jq '[.items[] | select(.usage.cpu != null)] | length' "$WORK/direct.body")" = "$NODES" ] ||
    { fail "e2e-reader: not a NodeMetricsList of $NODES nodes: $(body_short)"; return 1; }
  echo "    e2e-reader nodes -> $code NodeMetricsList ($NODES nodes)"
  code=$(direct /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods -H "Authorization: Bearer $reader_token")
  [ "$code" = 200 ] && [ "$(jq '.items | length' "$WORK/direct.body")" = 3 ] ||
    { fail "e2e-reader got $code for pods in e2e-top, want 200 with 3 pods: $(body_short)"; return 1; }
  echo "    e2e-reader pods -> $code PodMetricsList (3 pods)"

  expect_denied /apis/metrics.k8s.io/v1beta1/nodes 403 "system:serviceaccount:$ns:e2e-nobody" \
    -H "Authorization: Bearer $nobody_token" || return 1
  grep -qF "cannot list resource \\\"nodes\\\" in API group \\\"metrics.k8s.io\\\"" "$WORK/direct.body" ||
    { fail "e2e-nobody: unexpected message: $(body_short)"; return 1; }
  expect_denied /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods 403 "system:serviceaccount:$ns:e2e-nobody" \
    -H "Authorization: Bearer $nobody_token" || return 1
  expect_denied /apis/metrics.k8s.io/v1beta1/nodes 401 "" \
    -H "Authorization: Bearer not-a-token.$RANDOM$RANDOM" || return 1
}
