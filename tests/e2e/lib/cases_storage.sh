# End-to-end cases on swap and ephemeral storage, which our server serves here because it runs
# with --extra-resources=swap,ephemeral-storage (all cases do: the rest of the run shows the
# flag harms no client). Sourced by run.sh after cases.sh (fail, near, millis, kc, KUBECTL,
# ADMIN, NODES, WORK, E2E, installed_kubectls, hpa_row's style).
#
# The pod e2e-top/multi (workloads.yaml) has two containers, 64Mi of root filesystems and 8Mi
# of swap split evenly, and a 16Mi emptyDir. The kubelet's ephemeral storage of the pod is
# 64Mi + 16Mi + 4Ki (its /etc/hosts) = 83890176 bytes; each container serves its own 32Mi and
# half of the pod's 16Mi + 4Ki: 41945088 bytes (40962Ki). Swap: 4Mi each.

MULTI_STORAGE_TOTAL=83890176
MULTI_STORAGE_EACH=40962Ki

# multi_figures: the containers of e2e-top/multi as "name storage swap" lines (v1 JSON).
multi_figures() {
  kc get --raw /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods/multi |
    jq -r '.containers[] | "\(.name) \(.usage["ephemeral-storage"]) \(.usage.swap) \(.usage.cpu) \(.usage.memory)"'
}

multi_served() {
  [ "$(multi_figures | awk '{print $2, $3}' | sort -u)" = "$MULTI_STORAGE_EACH 4Mi" ]
}

case_storage_raw() {
  local out
  wait_for "multi's storage and swap" 60 multi_served ||
    { fail "e2e-top/multi serves $(multi_figures | tr '\n' ';'), want $MULTI_STORAGE_EACH and 4Mi per container"; return 1; }
  multi_figures | sed 's/^/    multi: /'
  out=$(multi_figures)
  [ "$(awk '$4 != "null" && $5 != "null"' <<<"$out" | wc -l)" = 2 ] ||
    { fail "multi lost cpu or memory: $out"; return 1; }
  out=$(kc get --raw /apis/metrics.k8s.io/v1beta1/nodes) || { fail "nodes: $out"; return 1; }
  [ "$(jq '[.items[] | select(.metadata.name | startswith("sim-node-")) | .usage
        | has("cpu") and has("memory") and has("ephemeral-storage") and has("swap")]
        | length == '"$NODES"' and all' <<<"$out")" = true ] ||
    { fail "nodes lack a figure: $(jq -c '[.items[].usage]' <<<"$out")"; return 1; }
  jq -r '.items[] | "    \(.metadata.name): \(.usage)"' <<<"$out"
}

# kubectl top, with every kubectl: the columns it always printed (NAME, CPU and memory), and
# from the built one (1.37, which knows --show-swap) the swap we serve.
case_storage_kubectl_top() {
  local k version out header
  for k in $(installed_kubectls); do
    [ -x "$k" ] || continue
    version=$("$k" version --client -o json 2>/dev/null | jq -r .clientVersion.gitVersion)
    out=$("$k" --kubeconfig "$ADMIN" top nodes 2>&1) || { fail "kubectl $version top nodes: $out"; return 1; }
    header=$(head -n 1 <<<"$out" | tr -s ' ')
    # 1.27–1.32 print CPU% and MEMORY%, 1.33+ CPU(%) and MEMORY(%).
    [[ $header =~ ^NAME\ CPU\(cores\)\ CPU\(?%\)?\ MEMORY\(bytes\)\ MEMORY\(?%\)? ]] ||
      { fail "kubectl $version top nodes header: $header"; return 1; }
    [ "$(awk '/^sim-node-/ && $2 ~ /^[0-9]+m$/ && $4 ~ /^[0-9]+Mi$/' <<<"$out" | wc -l)" = "$NODES" ] ||
      { fail "kubectl $version top nodes rows: $out"; return 1; }
    out=$("$k" --kubeconfig "$ADMIN" top pod multi -n e2e-top --containers --no-headers 2>&1) &&
      [ "$(awk '$3 ~ /^[0-9]+m$/ && $4 == "100Mi"' <<<"$out" | wc -l)" = 2 ] ||
      { fail "kubectl $version top pod multi --containers: $out"; return 1; }
    echo "    kubectl $version: top nodes and top pod --containers print CPU and memory"
  done
  if "$KUBECTL" top node --help 2>/dev/null | grep -q -- --show-swap; then
    out=$(kc top pod multi -n e2e-top --show-swap 2>&1) || { fail "top pod --show-swap: $out"; return 1; }
    sed 's/^/    /' <<<"$out"
    [ "$(awk '$1 == "multi" {print $NF}' <<<"$out")" = 8Mi ] ||
      { fail "kubectl top pod multi --show-swap: want SWAP 8Mi: $out"; return 1; }
    out=$(kc top nodes --show-swap 2>&1) || { fail "top nodes --show-swap: $out"; return 1; }
    sed 's/^/    /' <<<"$out"
    head -n 1 <<<"$out" | grep -q 'SWAP' || { fail "top nodes --show-swap: no SWAP column: $out"; return 1; }
  fi
}

# client-go's typed clientset (k8s.io/metrics v0.37.2), built from tests/e2e/metricsclient,
# through the aggregator as admin, in JSON and in protobuf only.
case_storage_client_go() {
  local out format flag want
  (cd "$E2E/metricsclient" && go build -o "$WORK/metricsclient" .) >"$LOGS/metricsclient-build.log" 2>&1 ||
    { fail "go build of tests/e2e/metricsclient: $(tail -n 5 "$LOGS/metricsclient-build.log")"; return 1; }
  for format in json protobuf; do
    flag=""
    want=application/json
    [ "$format" = protobuf ] && flag=-protobuf && want=application/vnd.kubernetes.protobuf
    out=$("$WORK/metricsclient" -kubeconfig "$ADMIN" $flag 2>&1) || { fail "metricsclient $format: $out"; return 1; }
    [ "$(tail -n 1 <<<"$out" | jq -c .contentTypes)" = "[\"$want\"]" ] ||
      { fail "metricsclient $format: responses were $(tail -n 1 <<<"$out")"; return 1; }
    local api
    for api in v1beta1 v1; do
      [ "$(jq -s --arg api "$api" '[.[] | select(.api == $api and .kind == "NodeMetrics"
            and (.name | startswith("sim-node-")))
            | .values | has("cpu") and has("memory") and has("ephemeral-storage") and has("swap")]
            | length == '"$NODES"' and all' <<<"$out")" = true ] ||
        { fail "metricsclient $format $api: nodes lack a figure: $(grep NodeMetrics <<<"$out")"; return 1; }
      local sum swap
      sum=$(jq -s --arg api "$api" '[.[] | select(.api == $api and .name == "multi") | .values["ephemeral-storage"]] | add' <<<"$out")
      swap=$(jq -s --arg api "$api" '[.[] | select(.api == $api and .name == "multi") | .values.swap] | add' <<<"$out")
      [ "$sum" = "$MULTI_STORAGE_TOTAL" ] && [ "$swap" = 8388608 ] ||
        { fail "metricsclient $format $api: multi sums to $sum bytes of storage and $swap of swap, want $MULTI_STORAGE_TOTAL and 8388608"; return 1; }
    done
    echo "    client-go $format ($want): NodeMetrics and PodMetrics v1beta1 and v1 decoded with" \
      "ephemeral-storage and swap; multi: $(jq -c 'select(.api == "v1" and .name == "multi") | .usage' <<<"$out" | tr '\n' ' ')"
  done
}

# disk_hpa_row: one line of the ephemeral-storage HPA's timeline.
disk_hpa_row() {
  local s ready
  s=$(kc get hpa disk -n e2e-disk -o json 2>/dev/null) || return 0
  ready=$(kc get deploy disk -n e2e-disk -o jsonpath='{.status.readyReplicas}' 2>/dev/null)
  echo "$s" | jq -r --arg t "$((SECONDS - DISK_T0))" --arg ready "${ready:-0}" \
    '"    t=+\($t)s hpa current=\(.status.currentReplicas // 0) desired=\(.status.desiredReplicas // 0) ephemeral-storage=" +
     ((.status.currentMetrics // [])[0].resource.current.averageValue // "<unknown>") +
     "; deployment ready=\($ready)"'
}

# disk_hpa_until DESCRIPTION TIMEOUT_S JQ_CONDITION: the timeline every 5 s until the
# condition (on the HPA and the Deployment) holds.
disk_hpa_until() {
  local what=$1 timeout=$2 cond=$3 t0=$SECONDS state
  while true; do
    disk_hpa_row
    state=$(jq -n --argjson hpa "$(kc get hpa disk -n e2e-disk -o json)" \
      --argjson deploy "$(kc get deploy disk -n e2e-disk -o json)" "$cond" 2>/dev/null || echo false)
    [ "$state" = true ] && return 0
    if ((SECONDS - t0 >= timeout)); then
      fail "$what within ${timeout}s; last: $(disk_hpa_row | sed 's/^ *//')"
      return 1
    fi
    sleep 5
  done
}

# A real HPA (autoscaling/v2, Resource metric ephemeral-storage, AverageValue 100Mi) scales on
# our figures: 50Mi per pod keeps one replica, 250Mi per pod asks for three.
case_hpa_ephemeral_storage() {
  echo "    HPA disk (ephemeral-storage, AverageValue 100Mi); 50Mi per pod:"
  disk_hpa_until "the HPA never read the pods' ephemeral storage" 120 \
    '($hpa.status.currentMetrics // [])[0].resource.current.averageValue != null' || return 1
  [ "$(kc get deploy disk -n e2e-disk -o jsonpath='{.spec.replicas}')" = 1 ] ||
    { fail "50Mi per pod against 100Mi should keep 1 replica"; return 1; }
  echo "    storage set to 250Mi per pod:"
  kc annotate namespace e2e-disk --overwrite sim.metrics-server-rs.io/ephemeral-storage=250Mi >/dev/null
  disk_hpa_until "the HPA did not scale disk to >= 3 replicas" 180 \
    '$deploy.spec.replicas >= 3 and ($deploy.status.readyReplicas // 0) >= 3'
}
