# End-to-end cases about the server explaining its APIServices: the aggregator's Available
# condition translated into a log line with the fix and an Event on the APIService, the
# recovery line, and an APIService of metrics.k8s.io that points at another provider or is
# deleted. Sourced by run.sh after cases_certs.sh (fail, wait_for, kc, WORK, LOGS, APISERVICES,
# patch_apiservices, restart_metrics_server, SERVING_TLS).

# log_has TEXT: our server's current log has a line containing TEXT (fixed string).
log_has() { grep -qF -- "$1" "$LOGS/metrics-server.log"; }

# log_count TEXT: how many lines of our server's current log contain TEXT.
log_count() { grep -cF -- "$1" "$LOGS/metrics-server.log" || true; }

# log_count_above TEXT N: more than N lines contain TEXT.
log_count_above() { (($(log_count "$1") > $2)); }

# log_line TEXT: the first line of our log containing TEXT, without the timestamp, cut.
log_line() { grep -m1 -F -- "$1" "$LOGS/metrics-server.log" | cut -d' ' -f2- | cut -c1-400; }

# apiservice_event API REASON TEXT: an Event on APIService API (namespace default) with REASON
# whose message contains TEXT.
apiservice_event() {
  kc get events -n default --field-selector "involvedObject.name=$1,reason=$2" -o json |
    jq -e --arg text "$3" \
      '[.items[] | select(.involvedObject.kind == "APIService" and .type != null and (.message | contains($text)))] | length > 0' \
      >/dev/null
}

# endpoint_ready BOOL: marks the endpoint of our server in the Service's EndpointSlice Ready
# or not, as the endpoints controller does when the pod's readiness probe passes or fails.
endpoint_ready() {
  kc patch endpointslice metrics-server-host -n kube-system --type=json \
    -p "[{\"op\":\"replace\",\"path\":\"/endpoints/0/conditions/ready\",\"value\":$1}]" >/dev/null
}

# Our endpoint turns not Ready (a failing readiness probe): the aggregator reports
# MissingEndpoints; our server logs it in plain words with the fix and records a Warning Event
# on the APIService (visible in `kubectl describe apiservice`); Ready again: the recovery line.
case_apiservice_explained() {
  local api=v1beta1.metrics.k8s.io
  local down="APIService $api is not Available: the Service kube-system/metrics-server has no Ready pod behind its port \"https\""
  local up="APIService $api is Available again" ups describe
  ups=$(log_count "$up")
  endpoint_ready false || { fail "cannot mark the endpoint not Ready"; return 1; }
  if ! wait_for "our server to explain MissingEndpoints" 60 log_has "$down"; then
    endpoint_ready true
    fail "no log line '$down'; APIService: $(kc get apiservice "$api" -o jsonpath='{.status.conditions[0].reason}: {.status.conditions[0].message}'); log: $(grep -F "APIService" "$LOGS/metrics-server.log" | tail -n 3)"
    return 1
  fi
  echo "    log: $(log_line "$down")"
  log_has "reason=MissingEndpoints" && log_has "fix=the server's pods are not Ready" ||
    { endpoint_ready true; fail "the line lacks the aggregator's reason or the fix: $(log_line "$down")"; return 1; }
  # At most one Event per APIService per minute: one sent before this case may delay it.
  if ! wait_for "the Warning Event on $api" 75 \
    apiservice_event "$api" MetricsAPIUnavailable "MissingEndpoints: the Service kube-system/metrics-server has no Ready pod"; then
    endpoint_ready true
    fail "no Event MetricsAPIUnavailable on $api: $(kc get events -n default --field-selector "involvedObject.name=$api" 2>&1 | tail -n 3)"
    return 1
  fi
  describe=$(kc describe apiservice "$api" 2>&1)
  echo "$describe" | grep -q "Warning  MetricsAPIUnavailable" ||
    { endpoint_ready true; fail "kubectl describe apiservice shows no MetricsAPIUnavailable Event: $(echo "$describe" | tail -n 5)"; return 1; }
  echo "    kubectl describe apiservice $api: $(echo "$describe" | grep -m1 "MetricsAPIUnavailable" | tr -s ' ' | cut -c1-300)"
  endpoint_ready true || { fail "cannot mark the endpoint Ready again"; return 1; }
  wait_for "the recovery line" 60 log_count_above "$up" "$ups" ||
    { fail "no '$up' after the endpoint was Ready again; log: $(grep -F "APIService" "$LOGS/metrics-server.log" | tail -n 3)"; return 1; }
  apiservices_available || return 1
  echo "    endpoint Ready again: '$up'"
}

# Called by case_cert_rotation while the APIServices carry the caBundle of another CA: our
# server names the x509 failure and the fix.
apiservice_explains_unknown_authority() {
  local down="APIService v1beta1.metrics.k8s.io is not Available: the serving certificate at 127.0.0.1:$METRICS_SERVER_PORT is not signed by the CA in the APIService's caBundle"
  wait_for "our server to explain the rejected certificate" 30 log_has "$down" ||
    { fail "no log line '$down'; log: $(grep -F "APIService" "$LOGS/metrics-server.log" | tail -n 3)"; return 1; }
  log_has "fix=set the APIService's spec.caBundle to the base64 PEM of the CA that signed" ||
    { fail "the x509 line lacks the caBundle fix: $(log_line "$down")"; return 1; }
  echo "    log: $(log_line "$down" | cut -c1-200)"
}

# v1.metrics.k8s.io taken over by another provider (prometheus-adapter's Service): warned about
# while running and again at start-up, named from the Service; pointed back at ours: said so;
# deleted: warned; created again.
case_apiservice_owner() {
  local api=v1.metrics.k8s.io saved
  local live="APIService $api now points at prometheus-adapter (service monitoring/prometheus-adapter), not at this server's Service kube-system/metrics-server"
  local start="APIService $api points at prometheus-adapter (service monitoring/prometheus-adapter), not at this server's Service kube-system/metrics-server"
  local again="APIService $api points at this server's Service kube-system/metrics-server again"
  local deleted="APIService $api was deleted: clients of metrics.k8s.io/v1"
  saved="$WORK/apiservice-v1.json"
  kc get apiservice "$api" -o json |
    jq 'del(.status, .metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields, .metadata.generation)' \
      >"$saved" || { fail "cannot save $api"; return 1; }
  point_v1_at '{"namespace":"monitoring","name":"prometheus-adapter"}' ||
    { fail "cannot point $api at monitoring/prometheus-adapter"; return 1; }
  wait_for "the warning while running" 30 log_has "$live" ||
    { point_v1_at "$OUR_SERVICE"; fail "no log line '$live'"; return 1; }
  echo "    while running: $(log_line "$live" | cut -c1-200)"
  restart_metrics_server --tls-cert-file "$SERVING_TLS/tls.crt" --tls-private-key-file "$SERVING_TLS/tls.key" ||
    { point_v1_at "$OUR_SERVICE"; fail "our server did not start again"; return 1; }
  wait_for "the start-up warning" 30 log_has "$start" ||
    { point_v1_at "$OUR_SERVICE"; fail "no start-up line '$start'; log: $(grep -F "APIService" "$LOGS/metrics-server.log" | tail -n 3)"; return 1; }
  echo "    at start-up: $(log_line "$start" | cut -c1-200)"
  point_v1_at "$OUR_SERVICE" || { fail "cannot point $api back at kube-system/metrics-server"; return 1; }
  wait_for "the line saying it is ours again" 30 log_has "$again" ||
    { fail "no log line '$again'"; return 1; }
  echo "    pointed back: '$again'"
  kc delete apiservice "$api" >/dev/null || { fail "cannot delete $api"; return 1; }
  wait_for "the deletion warning" 30 log_has "$deleted" ||
    { kc create -f "$saved" >/dev/null 2>&1; fail "no log line '$deleted'"; return 1; }
  echo "    deleted: $(log_line "$deleted" | cut -c1-160)"
  kc create -f "$saved" >/dev/null || { fail "cannot create $api again"; return 1; }
  apiservices_available || return 1
  echo "    created again: Available"
}

OUR_SERVICE='{"namespace":"kube-system","name":"metrics-server"}'

# point_v1_at SERVICE: sets spec.service of v1.metrics.k8s.io to the JSON SERVICE.
point_v1_at() {
  kc patch apiservice v1.metrics.k8s.io --type=merge -p "{\"spec\":{\"service\":$1}}" >/dev/null
}

# Our server restarted without the RBAC to watch the APIServices (the rule removed from
# ClusterRole system:metrics-server) nor to record Events: the missing permission is logged
# once while the watch keeps retrying, and the server serves metrics as before. RBAC restored.
case_apiservice_rbac_missing() {
  local role="$WORK/clusterrole-metrics-server.json" binding="$WORK/rolebinding-events.json"
  local forbidden="Cannot watch the metrics APIServices: grant get, list and watch on apiservices.apiregistration.k8s.io"
  kc get clusterrole system:metrics-server -o json | jq 'del(.metadata.resourceVersion, .metadata.uid, .metadata.managedFields, .metadata.creationTimestamp)' >"$role" &&
    kc get rolebinding metrics-server-events -n default -o json | jq 'del(.metadata.resourceVersion, .metadata.uid, .metadata.managedFields, .metadata.creationTimestamp)' >"$binding" ||
    { fail "cannot save the RBAC"; return 1; }
  jq '.rules |= map(select(.resources != ["apiservices"]))' "$role" | kc apply -f - >/dev/null &&
    kc delete rolebinding metrics-server-events -n default >/dev/null ||
    { kc apply -f "$role" -f "$binding" >/dev/null 2>&1; fail "cannot remove the RBAC"; return 1; }
  restore_rbac() { kc apply -f "$role" -f "$binding" >/dev/null; }
  restart_metrics_server --tls-cert-file "$SERVING_TLS/tls.crt" --tls-private-key-file "$SERVING_TLS/tls.key" ||
    { restore_rbac; fail "our server did not start without the RBAC"; return 1; }
  wait_for "the missing permission to be logged" 30 log_has "$forbidden" ||
    { restore_rbac; fail "no log line '$forbidden'; log: $(tail -n 3 "$LOGS/metrics-server.log")"; return 1; }
  echo "    log: $(log_line "$forbidden" | cut -c1-220)"
  wait_for "metrics through the aggregator without the RBAC" 60 nodes_through_aggregator ||
    { restore_rbac; fail "no metrics without the RBAC: $(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1 | tail -n 1)"; return 1; }
  # The watch retried meanwhile (back-off from 0.8 s), and the permission was told only once
  # (kube's watcher warns of a 403 on every retry: filtered below -v 4).
  [ "$(log_count "$forbidden")" = 1 ] && [ "$(log_count "cannot list resource")" = 1 ] ||
    { restore_rbac; fail "the missing permission was logged $(log_count "cannot list resource") times: $(grep -F "cannot list resource" "$LOGS/metrics-server.log" | cut -c1-160 | tail -n 3)"; return 1; }
  restore_rbac || { fail "cannot restore the RBAC"; return 1; }
  echo "    nodes listed through the aggregator; the missing permission logged once"
}
