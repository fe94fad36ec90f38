# End-to-end cases about nodes that cannot be scraped: a kubelet that stops enters back-off
# and leaves it when it comes back, a virtual-kubelet node is not scraped at all, and a
# kubelet whose clock is an hour ahead is measured and warned about once. The simulated
# kubelets are driven through `metrics-server-sim nodes --control-file` ($WORK/sim-control).
# Sourced by run.sh after cases.sh (fail, wait_for, kc, WORK, PKI, LOGS, SERVING_CA,
# SERVICE_HOST, METRICS_SERVER_PORT).

ENTERED_BACKOFF="Node keeps failing; retrying it less often until it answers."
LEFT_BACKOFF="Node answered again; scraping it every cycle."
CLOCK_WARNING="Kubelet clock is off by more than 30 s"
NOT_SCRAPED_WHY="its node is a virtual node (virtual-kubelet or EKS Fargate)"

# sim_control LINES...: the whole state of the simulated kubelets, one line per node that is
# not healthy (`NODE fault=down`, `NODE clock-skew=1h`); no LINES: every kubelet healthy.
sim_control() {
  printf '%s\n' "$@" >"$WORK/sim-control.tmp"
  mv "$WORK/sim-control.tmp" "$WORK/sim-control"
}

# our_metrics: our /metrics, read on our port as the cluster admin (system:masters).
our_metrics() {
  curl -sS --max-time 10 --cacert "$SERVING_CA/ca.crt" \
    --resolve "$SERVICE_HOST:$METRICS_SERVER_PORT:127.0.0.1" \
    --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$SERVICE_HOST:$METRICS_SERVER_PORT/metrics"
}

# metric SERIES: the value of SERIES (name and labels exactly) in our /metrics; empty if absent.
metric() {
  our_metrics | awk -v s="$1" '$1 == s { print $2; exit }'
}

# metric_is SERIES VALUE: SERIES reads VALUE (compared as numbers).
metric_is() {
  local v
  v=$(metric "$1")
  [ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'
}

# metric_near SERIES VALUE TOLERANCE: |SERIES - VALUE| <= TOLERANCE.
metric_near() {
  local v
  v=$(metric "$1")
  [ -n "$v" ] && awk -v a="$v" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# our_lines TEXT NODE: how many lines of our server's log have TEXT and name NODE (as
# node=NAME or node="NAME").
our_lines() {
  grep -F "$1" "$LOGS/metrics-server.log" | grep -cE "node=\"?$2\"?( |$)" || true
}

# our_line TEXT NODE: the last such line.
our_line() {
  grep -F "$1" "$LOGS/metrics-server.log" | grep -E "node=\"?$2\"?( |$)" | tail -n 1
}

# has_lines N TEXT NODE: our log has N lines with TEXT naming NODE.
has_lines() { [ "$(our_lines "$2" "$3")" = "$1" ]; }

# top_node_lists NODE: `kubectl top nodes` through the aggregator shows usage for NODE (it
# prints `<unknown>` for a node without metrics).
top_node_lists() {
  kc top nodes --no-headers 2>/dev/null |
    awk -v n="$1" '$1 == n && $2 ~ /^[0-9]/ { found = 1 } END { exit !found }'
}

# top_node_row NODE: NODE's row of `kubectl top nodes`, if it has one.
top_node_row() {
  kc top nodes --no-headers 2>/dev/null | awk -v n="$1" '$1 == n'
}

# node_metrics_list_has NODE: the NodeMetricsList through the aggregator has an item NODE.
node_metrics_list_has() {
  kc get --raw /apis/metrics.k8s.io/v1beta1/nodes |
    jq -e --arg n "$1" '[.items[].metadata.name] | index($n) != null' >/dev/null
}

case_node_backoff() {
  local node=sim-node-2 failed_before out
  failed_before=$(our_lines "Failed to scrape node." "$node")
  has_lines 0 "$ENTERED_BACKOFF" "$node" || { fail "$node was in back-off before its kubelet stopped"; return 1; }
  sim_control "$node fault=down"
  wait_for "the simulated kubelet of $node to stop" 10 \
    bash -c "grep 'control: kubelet changed' '$LOGS/sim-nodes.log' | grep -q 'node=$node fault=Down'" ||
    { fail "metrics-server-sim did not stop the kubelet of $node"; return 1; }
  wait_for "$node to enter back-off" 60 has_lines 1 "$ENTERED_BACKOFF" "$node" ||
    { fail "no back-off line for $node within 60s: $(tail -n 3 "$LOGS/metrics-server.log" | tr '\n' ' ')"; return 1; }
  echo "    $(our_line "$ENTERED_BACKOFF" "$node" | sed 's/^.*Node keeps/Node keeps/')"
  wait_for "the back-off of $node in /metrics" 5 metric_is "metrics_rs_node_scrape_backoff_seconds{node=\"$node\"}" 20 ||
    { fail "back-off wait of $node is $(metric "metrics_rs_node_scrape_backoff_seconds{node=\"$node\"}"), want 20"; return 1; }
  metric_is "metrics_rs_node_scrape_result{node=\"$node\",result=\"connect\"}" 1 ||
    { fail "the latest scrape of $node is not a connect failure"; return 1; }
  echo "    /metrics: backoff_seconds=$(metric "metrics_rs_node_scrape_backoff_seconds{node=\"$node\"}")" \
    "consecutive_failures=$(metric "metrics_rs_node_consecutive_scrape_failures{node=\"$node\"}")"
  if out=$(kc get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$node" 2>&1); then
    fail "$node has metrics while its kubelet is stopped: $out"
    return 1
  fi
  echo "$out" | grep -q "the latest scrape of its node failed" || { fail "404 of $node: $out"; return 1; }
  echo "    kubectl get --raw …/nodes/$node: $out"

  sim_control
  wait_for "$node to leave back-off" 60 has_lines 1 "$LEFT_BACKOFF" "$node" ||
    { fail "no line for $node answering again within 60s"; return 1; }
  echo "    $(our_line "$LEFT_BACKOFF" "$node" | sed 's/^.*Node answered/Node answered/')"
  wait_for "kubectl top nodes to list $node again" 30 top_node_lists "$node" ||
    { fail "kubectl top nodes does not list $node again"; return 1; }
  wait_for "no back-off of $node in /metrics" 5 metric_is "metrics_rs_node_scrape_backoff_seconds{node=\"$node\"}" 0 ||
    { fail "$node still has a back-off wait after it answered"; return 1; }
  has_lines 1 "$ENTERED_BACKOFF" "$node" && has_lines 1 "$LEFT_BACKOFF" "$node" ||
    { fail "want one line in and one out, got $(our_lines "$ENTERED_BACKOFF" "$node") and $(our_lines "$LEFT_BACKOFF" "$node")"; return 1; }
  local failed=$(($(our_lines "Failed to scrape node." "$node") - failed_before))
  ((failed == 2)) || { fail "$failed 'Failed to scrape node.' lines for $node, want 2 (the third is the back-off line)"; return 1; }
  echo "    kubectl top nodes: $(kc top nodes --no-headers | awk -v n="$node" '$1 == n')"
}

VIRTUAL_NODE=e2e-virtual-node
VIRTUAL_POD=on-virtual-node

# virtual_objects: a Node as virtual-kubelet registers one (no kubelet behind it) and a
# Running pod bound to it.
virtual_objects() {
  kc apply -f - >/dev/null <<YAML || return 1
apiVersion: v1
kind: Node
metadata:
  name: $VIRTUAL_NODE
  labels: {type: virtual-kubelet, kubernetes.io/role: agent}
spec:
  taints:
    - {key: virtual-kubelet.io/provider, value: e2e, effect: NoSchedule}
---
apiVersion: v1
kind: Pod
metadata:
  name: $VIRTUAL_POD
  namespace: e2e-other
spec:
  nodeName: $VIRTUAL_NODE
  tolerations:
    - {key: virtual-kubelet.io/provider, operator: Exists}
  containers:
    - {name: app, image: registry.k8s.io/pause:3.10}
YAML
  kc patch pod "$VIRTUAL_POD" -n e2e-other --subresource=status --type=merge \
    -p '{"status":{"phase":"Running"}}' >/dev/null
}

remove_virtual_objects() {
  kc delete pod "$VIRTUAL_POD" -n e2e-other --grace-period=0 --force --ignore-not-found >/dev/null 2>&1
  kc delete node "$VIRTUAL_NODE" --ignore-not-found >/dev/null 2>&1
}

case_virtual_node_skipped() {
  local out
  virtual_objects || { fail "cannot create the virtual node and its pod"; remove_virtual_objects; return 1; }
  echo "    node $VIRTUAL_NODE (type=virtual-kubelet, taint virtual-kubelet.io/provider) and pod e2e-other/$VIRTUAL_POD: $(kc get pod "$VIRTUAL_POD" -n e2e-other -o jsonpath='{.status.phase}')"
  wait_for "the virtual node's pod to read node_not_scraped" 40 \
    metric_is 'metrics_rs_items_without_metrics{kind="pod",reason="node_not_scraped"}' 1 ||
    { fail "pod on the virtual node not counted as node_not_scraped: $(our_metrics | grep -E 'not_scraped' | tr '\n' ' ')"; remove_virtual_objects; return 1; }
  metric_is 'metrics_rs_nodes_not_scraped{kind="virtual-kubelet"}' 1 &&
    metric_is 'metrics_rs_items_without_metrics{kind="node",reason="node_not_scraped"}' 1 ||
    { fail "the virtual node is not counted: $(our_metrics | grep -E 'not_scraped' | tr '\n' ' ')"; remove_virtual_objects; return 1; }
  echo "    /metrics: $(our_metrics | grep -E '^metrics_rs_nodes_not_scraped|reason="node_not_scraped"' | tr '\n' ' ')"
  if top_node_lists "$VIRTUAL_NODE" || node_metrics_list_has "$VIRTUAL_NODE"; then
    fail "$VIRTUAL_NODE has metrics: $(top_node_row "$VIRTUAL_NODE")"
    remove_virtual_objects
    return 1
  fi
  echo "    kubectl top nodes: $(top_node_row "$VIRTUAL_NODE") (not in the NodeMetricsList)"
  out=$(kc top pod "$VIRTUAL_POD" -n e2e-other 2>&1) && { fail "kubectl top pod $VIRTUAL_POD: $out"; remove_virtual_objects; return 1; }
  out=$(kc get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/e2e-other/pods/$VIRTUAL_POD" 2>&1)
  echo "$out" | grep -qF "$NOT_SCRAPED_WHY" || { fail "404 of the pod does not say why: $out"; remove_virtual_objects; return 1; }
  echo "    kubectl get --raw …/pods/$VIRTUAL_POD: $out"
  out=$(kc get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$VIRTUAL_NODE" 2>&1)
  echo "$out" | grep -qF "$NOT_SCRAPED_WHY" || { fail "404 of the node does not say why: $out"; remove_virtual_objects; return 1; }
  if grep -F "$VIRTUAL_NODE" "$LOGS/metrics-server.log" | grep -q 'WARN\|ERROR'; then
    fail "our server logged the virtual node: $(grep -F "$VIRTUAL_NODE" "$LOGS/metrics-server.log" | head -n 2 | tr '\n' ' ')"
    remove_virtual_objects
    return 1
  fi
  remove_virtual_objects
  wait_for "the virtual node to be forgotten" 30 metric_is 'metrics_rs_nodes_not_scraped{kind="virtual-kubelet"}' 0 ||
    { fail "the deleted virtual node is still counted"; return 1; }
}

case_clock_offset() {
  local skewed=sim-node-1 other=sim-node-2 offset
  local series="metrics_rs_node_clock_offset_seconds{node=\"$skewed\"}"
  has_lines 0 "$CLOCK_WARNING" "$skewed" || { fail "$skewed was warned about before its clock moved"; return 1; }
  sim_control "$skewed clock-skew=1h"
  wait_for "the clock offset of $skewed to read about 3600 s" 40 metric_near "$series" 3600 5 ||
    { fail "offset of $skewed is $(metric "$series"), want about 3600"; sim_control; return 1; }
  metric_near "metrics_rs_node_clock_offset_seconds{node=\"$other\"}" 0 5 ||
    { fail "offset of $other is $(metric "metrics_rs_node_clock_offset_seconds{node=\"$other\"}"), want about 0"; sim_control; return 1; }
  sleep 11 # one more scrape of the skewed node: the warning is not repeated
  offset=$(metric "$series")
  echo "    offsets: $skewed $offset s, $other $(metric "metrics_rs_node_clock_offset_seconds{node=\"$other\"}") s"
  has_lines 1 "$CLOCK_WARNING" "$skewed" && has_lines 0 "$CLOCK_WARNING" "$other" ||
    { fail "want one clock warning naming $skewed and none for $other, got $(our_lines "$CLOCK_WARNING" "$skewed") and $(our_lines "$CLOCK_WARNING" "$other")"; sim_control; return 1; }
  echo "    $(our_line "$CLOCK_WARNING" "$skewed" | sed 's/^.*Kubelet clock/Kubelet clock/')"
  sim_control
  wait_for "the clock of $skewed to be back in step" 40 metric_near "$series" 0 5 ||
    { fail "offset of $skewed is $(metric "$series") after its clock was reset"; return 1; }
  wait_for "metrics of $skewed again" 30 top_node_lists "$skewed" ||
    { fail "kubectl top nodes does not list $skewed after its clock was reset"; return 1; }
}
