# The end-to-end cases. Each case function returns 0 when it held, else calls `fail` with
# the reason and returns 1. Sourced by run.sh (which provides kc, KUBECTL, WORK, NODES).

# fail WHY: records why the current case failed.
fail() {
  echo "$*" >"$WORK/reason"
  return 1
}

# run_case NAME FUNCTION: prints PASS NAME or FAIL NAME: why.
run_case() {
  rm -f "$WORK/reason"
  if "$2"; then
    echo "PASS $1"
  else
    echo "FAIL $1: $(cat "$WORK/reason" 2>/dev/null || echo "no reason recorded")"
    FAILED+=("$1")
  fi
}

# millis VALUE: "150m" → 150, "2" → 2000, "299999998n" → 300 (a CPU column: kubectl top
# prints millicores, the server-side Table of `kubectl get podmetrics` the exact quantity).
millis() {
  case $1 in
    *n) echo $(((${1%n} + 500000) / 1000000)) ;;
    *u) echo $(((${1%u} + 500) / 1000)) ;;
    *m) echo "${1%m}" ;;
    *) echo $(($1 * 1000)) ;;
  esac
}

# near ACTUAL EXPECTED TOLERANCE: |ACTUAL - EXPECTED| <= TOLERANCE.
near() {
  local d=$(($1 - $2))
  ((d < 0)) && d=$((-d))
  ((d <= $3))
}

case_apiservice_available() {
  local api
  for api in v1beta1.metrics.k8s.io v1.metrics.k8s.io; do
    if ! kc wait --for=condition=Available "apiservice/$api" --timeout=90s >/dev/null 2>&1; then
      fail "$api not Available: $(kc get apiservice "$api" -o jsonpath='{.status.conditions[0].reason}: {.status.conditions[0].message}')"
      return 1
    fi
  done
}

# metrics_ready: every simulated node and every test pod has metrics.
metrics_ready() {
  [ "$(kc top nodes --no-headers 2>/dev/null | grep -c '^sim-node-')" = "$NODES" ] &&
    [ "$(kc top pods -n e2e-top --no-headers 2>/dev/null | wc -l)" = 3 ] &&
    [ "$(kc top pods -n e2e-other --no-headers 2>/dev/null | wc -l)" = 1 ]
}

case_top_nodes() {
  local out total=0 line name cpu mem
  out=$(kc top nodes --no-headers 2>&1) || { fail "kubectl top nodes: $out"; return 1; }
  echo "$out" | sed 's/^/    /'
  for i in $(seq 1 "$NODES"); do
    line=$(echo "$out" | awk -v n="sim-node-$i" '$1 == n')
    [ -n "$line" ] || { fail "sim-node-$i missing from kubectl top nodes"; return 1; }
    read -r name cpu _ mem _ <<<"$line"
    [[ $cpu =~ ^[0-9]+m?$ && $mem =~ ^[0-9]+Mi$ ]] || { fail "bad row for $name: $line"; return 1; }
    total=$((total + $(millis "$cpu")))
  done
  # Pods alone use 2×200m + 300m + 30m + the HPA pod; system overhead comes on top.
  ((total >= 730)) || { fail "nodes use ${total}m in total, less than their pods (>= 730m)"; return 1; }
}

case_top_pods() {
  local out
  out=$(kc top pods -A --no-headers 2>&1) || { fail "top pods -A: $out"; return 1; }
  for want in "e2e-top +web-" "e2e-top +multi " "e2e-other +api-"; do
    echo "$out" | grep -Eq "^$want" || { fail "top pods -A lacks $want"; return 1; }
  done
  out=$(kc top pods -n e2e-top -l app=web --no-headers 2>&1) || { fail "top pods -l: $out"; return 1; }
  echo "$out" | sed 's/^/    /'
  [ "$(echo "$out" | wc -l)" = 2 ] || { fail "top pods -l app=web: want 2 pods, got: $out"; return 1; }
  while read -r pod cpu mem; do
    near "$(millis "$cpu")" 200 3 || { fail "$pod uses $cpu, want 200m"; return 1; }
    [ "$mem" = 100Mi ] || { fail "$pod uses $mem, want 100Mi"; return 1; }
  done <<<"$out"
  out=$(kc top pod multi -n e2e-top --containers --no-headers 2>&1) || { fail "top --containers: $out"; return 1; }
  echo "$out" | sed 's/^/    /'
  for container in main sidecar; do
    local row
    row=$(echo "$out" | awk -v c="$container" '$1 == "multi" && $2 == c')
    [ -n "$row" ] || { fail "container $container missing: $out"; return 1; }
    read -r _ _ cpu mem <<<"$row"
    near "$(millis "$cpu")" 150 3 && [ "$mem" = 100Mi ] ||
      { fail "multi/$container uses $cpu $mem, want 150m 100Mi"; return 1; }
  done
}

# installed_kubectls: the built kubectl, then every kubectl 1.x of the kubectl package.
installed_kubectls() {
  echo "$KUBECTL"
  { dpkg -L kubectl 2>/dev/null || true; compgen -G "/usr/lib/google-cloud-sdk/bin/kubectl.1.*" || true; } |
    grep -E '/kubectl\.1\.[0-9]+$' | sort -u -t. -k3,3n
}

case_top_all_kubectl_versions() {
  local k version out tried=0
  for k in $(installed_kubectls); do
    [ -x "$k" ] || continue
    version=$("$k" version --client -o json 2>/dev/null | jq -r .clientVersion.gitVersion)
    out=$("$k" --kubeconfig "$ADMIN" top nodes --no-headers 2>&1) &&
      [ "$(echo "$out" | grep -c '^sim-node-')" = "$NODES" ] ||
      { fail "kubectl $version top nodes: $out"; return 1; }
    out=$("$k" --kubeconfig "$ADMIN" top pods -n e2e-top -l app=web --no-headers 2>&1) &&
      [ "$(echo "$out" | wc -l)" = 2 ] || { fail "kubectl $version top pods -l: $out"; return 1; }
    out=$("$k" --kubeconfig "$ADMIN" top pod multi -n e2e-top --containers --no-headers 2>&1) &&
      [ "$(echo "$out" | wc -l)" = 2 ] || { fail "kubectl $version top --containers: $out"; return 1; }
    out=$("$k" --kubeconfig "$ADMIN" top pods -A --no-headers 2>&1) &&
      echo "$out" | grep -q '^e2e-other ' || { fail "kubectl $version top pods -A: $out"; return 1; }
    echo "    kubectl $version: top nodes, top pods -l, --containers, -A ok"
    tried=$((tried + 1))
  done
  ((tried >= 2)) || { fail "found only $tried kubectl binaries"; return 1; }
}

# raw_version V: the Metrics API version V through the aggregator.
raw_version() {
  local v=$1 out
  out=$(kc get --raw "/apis/metrics.k8s.io/$v" 2>&1) || { fail "discovery: $out"; return 1; }
  [ "$(echo "$out" | jq -r '[.resources[].name] | sort | join(",")')" = "nodes,pods" ] ||
    { fail "discovery of $v: $out"; return 1; }
  out=$(kc get --raw "/apis/metrics.k8s.io/$v/nodes" 2>&1) || { fail "nodes: $out"; return 1; }
  [ "$(echo "$out" | jq -r '.kind + " " + .apiVersion')" = "NodeMetricsList metrics.k8s.io/$v" ] ||
    { fail "nodes list kind/apiVersion: $(echo "$out" | head -c 300)"; return 1; }
  [ "$(echo "$out" | jq '[.items[].metadata.name | select(startswith("sim-node-"))] | length')" = "$NODES" ] ||
    { fail "nodes list items: $(echo "$out" | head -c 300)"; return 1; }
  out=$(kc get --raw "/apis/metrics.k8s.io/$v/namespaces/e2e-top/pods/multi" 2>&1) ||
    { fail "pod multi: $out"; return 1; }
  [ "$(echo "$out" | jq -r '.kind + " " + .apiVersion + " " + .window')" != "" ] || return 1
  local cpus
  cpus=$(echo "$out" | jq -r '.containers[] | .name + "=" + .usage.cpu' | sort | tr '\n' ' ')
  echo "    $v pod multi: $cpus window=$(echo "$out" | jq -r .window)"
  [ "$(echo "$out" | jq -r .kind)" = PodMetrics ] || { fail "pod kind: $out"; return 1; }
  [ "$(echo "$out" | jq '.containers | length')" = 2 ] || { fail "pod containers: $out"; return 1; }
  local nano
  for nano in $(echo "$out" | jq -r '.containers[].usage.cpu'); do
    local m
    case $nano in
      *n) m=$((${nano%n} / 1000000)) ;;
      *u) m=$((${nano%u} / 1000)) ;;
      *m) m=${nano%m} ;;
      *) m=$((nano * 1000)) ;;
    esac
    near "$m" 150 3 || { fail "container cpu $nano, want about 150m"; return 1; }
  done
  out=$(kc get --raw "/apis/metrics.k8s.io/$v/namespaces/e2e-top/pods?labelSelector=app%3Dweb" 2>&1) ||
    { fail "pods by label: $out"; return 1; }
  [ "$(echo "$out" | jq '.items | length')" = 2 ] || { fail "pods by label: $(echo "$out" | head -c 300)"; return 1; }
}

case_raw_v1() { raw_version v1; }
case_raw_v1beta1() { raw_version v1beta1; }

# hpa_row T0: one line of the HPA timeline.
hpa_row() {
  local s ready
  s=$(kc get hpa busy -n e2e-hpa -o json 2>/dev/null) || return 0
  ready=$(kc get deploy busy -n e2e-hpa -o jsonpath='{.status.readyReplicas}' 2>/dev/null)
  echo "$s" | jq -r --arg t "$((SECONDS - $1))" --arg ready "${ready:-0}" \
    '"    t=+\($t)s hpa current=\(.status.currentReplicas // 0) desired=\(.status.desiredReplicas // 0) cpu=" +
     ((.status.currentMetrics // [])[0].resource.current | if . == null then "<unknown>" else "\(.averageUtilization)% (avg \(.averageValue))" end) +
     "; deployment ready=\($ready)"'
}

# hpa_until DESCRIPTION TIMEOUT_S JQ_CONDITION: prints the timeline every 5 s until the
# condition (on the HPA and the Deployment) holds.
hpa_until() {
  local what=$1 timeout=$2 cond=$3 t0=$SECONDS state
  while true; do
    hpa_row "$HPA_T0"
    state=$(jq -n --argjson hpa "$(kc get hpa busy -n e2e-hpa -o json)" \
      --argjson deploy "$(kc get deploy busy -n e2e-hpa -o json)" "$cond" 2>/dev/null || echo false)
    [ "$state" = true ] && return 0
    if ((SECONDS - t0 >= timeout)); then
      fail "$what within ${timeout}s; last: $(hpa_row "$HPA_T0" | sed 's/^ *//')"
      return 1
    fi
    sleep 5
  done
}

case_hpa_scale_up() {
  echo "    HPA busy (target 50% of a 100m request); namespace usage 10m per pod:"
  hpa_until "HPA never observed the 10m usage" 120 \
    '($hpa.status.currentMetrics // [])[0].resource.current.averageUtilization != null' || return 1
  echo "    usage set to 150m per pod:"
  kc annotate namespace e2e-hpa --overwrite sim.metrics-server-rs.io/cpu=150m >/dev/null
  hpa_until "the HPA did not scale busy to >= 3 replicas" 180 \
    '$deploy.spec.replicas >= 3 and ($deploy.status.readyReplicas // 0) >= 3'
}

case_hpa_scale_down() {
  echo "    usage set to 10m per pod:"
  kc annotate namespace e2e-hpa --overwrite sim.metrics-server-rs.io/cpu=10m >/dev/null
  hpa_until "the HPA did not scale busy back to 1 replica" 180 \
    '$deploy.spec.replicas == 1 and ($deploy.status.replicas // 0) == 1' || return 1
  wait_for "the removed pods to be gone" 60 test "$(kc get pods -n e2e-hpa --no-headers | wc -l)" = 1 ||
    { fail "removed pods were not finalized: $(kc get pods -n e2e-hpa --no-headers | tr '\n' ';')"; return 1; }
}

case_rbac_denied() {
  local out
  if out=$(kc --as=nobody top nodes 2>&1); then
    fail "user nobody could run kubectl top nodes: $out"
    return 1
  fi
  echo "$out" | grep -q 'Forbidden\|forbidden' || { fail "want 403 Forbidden, got: $out"; return 1; }
  echo "    kubectl --as=nobody top nodes: $out"
  if out=$(kc --as=nobody get --raw /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods 2>&1); then
    fail "user nobody could list pod metrics: $out"
    return 1
  fi
  echo "$out" | grep -q 'Forbidden\|forbidden' || { fail "want 403 for raw pods, got: $out"; return 1; }
  # Control: the view role includes system:aggregated-metrics-reader through aggregation.
  kc create clusterrolebinding e2e-viewer --clusterrole=view --user=viewer >/dev/null 2>&1 || true
  wait_for "user viewer to be allowed" 30 kc --as=viewer top pods -n e2e-top ||
    { fail "user viewer (ClusterRole view) cannot run kubectl top pods"; return 1; }
}

# The simulated kubelets authorize like real ones (TokenReview + SubjectAccessReview on
# nodes/metrics): the metrics-server ServiceAccount may read, another one may not.
case_kubelet_authz() {
  local endpoint ms_token other_token code
  endpoint=$(kc get node sim-node-1 -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}:{.status.daemonEndpoints.kubeletEndpoint.Port}')
  ms_token=$(kc create token metrics-server -n kube-system --duration=10m)
  other_token=$(kc create token default -n e2e-top --duration=10m)
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/kubelet-ca.crt" \
    -H "Authorization: Bearer $ms_token" "https://$endpoint/metrics/resource")
  [ "$code" = 200 ] || { fail "metrics-server token got $code from the kubelet"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/kubelet-ca.crt" \
    -H "Authorization: Bearer $other_token" "https://$endpoint/metrics/resource")
  [ "$code" = 403 ] || { fail "default ServiceAccount token got $code, want 403"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/kubelet-ca.crt" "https://$endpoint/stats/summary")
  [ "$code" = 401 ] || { fail "no token got $code, want 401"; return 1; }
}
