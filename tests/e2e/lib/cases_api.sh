# End-to-end cases on what the aggregator makes of the rest of our API: the Table kubectl
# asks for (`kubectl get nodemetrics|podmetrics`), the OpenAPI it merges (`kubectl explain`)
# and protobuf passed through to a client that asks for it. Sourced by run.sh after cases.sh
# (fail, near, millis, kc, installed_kubectls, KUBECTL, ADMIN, PKI, APISERVER_URL, NODES, WORK).

# table_header_is OUT WANT...: the first line of OUT has exactly the columns WANT.
table_header_is() {
  local out=$1
  shift
  [ "$(head -n 1 <<<"$out" | tr -s ' ' | sed 's/ $//')" = "$*" ]
}

# window_cell CELL: a Go duration like kubectl prints it (10s, 1m0s, 20.5s).
window_cell() { [[ $1 =~ ^([0-9]+m)?[0-9]+(\.[0-9]+)?s$ ]]; }

# bytes_cell CELL: a quantity in bytes as the Table writes it (1k, 4096, 12Ki, 3Gi).
bytes_cell() { [[ $1 =~ ^[0-9]+(k|M|G|Ki|Mi|Gi|Ti)?$ ]]; }

# get_nodemetrics KUBECTL: every simulated node as a row NAME CPU EPHEMERAL-STORAGE MEMORY
# SWAP WINDOW (our server runs with --extra-resources=swap,ephemeral-storage: their columns
# come among the quantities in name order, as upstream's Table orders a usage map's keys).
get_nodemetrics() {
  local k=$1 version=$2 out line name cpu storage mem swap window
  out=$("$k" --kubeconfig "$ADMIN" get nodemetrics 2>&1) || { fail "kubectl $version get nodemetrics: $out"; return 1; }
  table_header_is "$out" NAME CPU EPHEMERAL-STORAGE MEMORY SWAP WINDOW ||
    { fail "kubectl $version get nodemetrics header: $(head -n 1 <<<"$out")"; return 1; }
  for i in $(seq 1 "$NODES"); do
    line=$(awk -v n="sim-node-$i" '$1 == n' <<<"$out")
    [ -n "$line" ] || { fail "kubectl $version get nodemetrics lacks sim-node-$i: $out"; return 1; }
    read -r name cpu storage mem swap window <<<"$line"
    [[ $cpu =~ ^[0-9]+[num]?$ && $mem =~ ^[0-9]+(Ki|Mi|Gi)?$ ]] && bytes_cell "$storage" &&
      bytes_cell "$swap" && window_cell "$window" ||
      { fail "kubectl $version get nodemetrics: bad row $line"; return 1; }
  done
  [ "$k" = "$KUBECTL" ] && sed 's/^/    /' <<<"$out"
  return 0
}

# get_podmetrics KUBECTL: every test pod as a row NAMESPACE NAME CPU EPHEMERAL-STORAGE MEMORY
# SWAP WINDOW, the pod's CPU the sum of its containers.
get_podmetrics() {
  local k=$1 version=$2 out all want ns prefix count line cpu storage mem swap window
  out=$("$k" --kubeconfig "$ADMIN" get podmetrics -A 2>&1) || { fail "kubectl $version get podmetrics -A: $out"; return 1; }
  table_header_is "$out" NAMESPACE NAME CPU EPHEMERAL-STORAGE MEMORY SWAP WINDOW ||
    { fail "kubectl $version get podmetrics -A header: $(head -n 1 <<<"$out")"; return 1; }
  for want in "e2e-top web- 2" "e2e-top multi 1" "e2e-other api- 1"; do
    read -r ns prefix count <<<"$want"
    [ "$(awk -v ns="$ns" -v p="$prefix" '$1 == ns && index($2, p) == 1' <<<"$out" | wc -l)" = "$count" ] ||
      { fail "kubectl $version get podmetrics -A: want $count pod(s) $ns/$prefix*: $out"; return 1; }
  done
  all=$out
  line=$(awk '$1 == "e2e-top" && $2 == "multi"' <<<"$out")
  read -r _ _ cpu storage mem swap window <<<"$line"
  near "$(millis "$cpu")" 300 6 && [ "$mem" = 200Mi ] && window_cell "$window" ||
    { fail "kubectl $version: multi row $line, want about 300m 200Mi (two containers summed)"; return 1; }
  [ "$storage" = 81924Ki ] && [ "$swap" = 8Mi ] ||
    { fail "kubectl $version: multi row $line, want 81924Ki (64Mi + 16Mi emptyDir + 4Ki) and 8Mi"; return 1; }
  out=$("$k" --kubeconfig "$ADMIN" get podmetrics -n e2e-top multi 2>&1) &&
    table_header_is "$out" NAME CPU EPHEMERAL-STORAGE MEMORY SWAP WINDOW && grep -q '^multi ' <<<"$out" ||
    { fail "kubectl $version get podmetrics multi: $out"; return 1; }
  [ "$k" = "$KUBECTL" ] && grep -E '^(NAMESPACE|e2e-)' <<<"$all" | sed 's/^/    /'
  return 0
}

# for_each_kubectl FUNCTION: FUNCTION KUBECTL VERSION for the built and every installed kubectl.
for_each_kubectl() {
  local k version tried=()
  for k in $(installed_kubectls); do
    [ -x "$k" ] || continue
    version=$("$k" version --client -o json 2>/dev/null | jq -r .clientVersion.gitVersion)
    "$1" "$k" "$version" || return 1
    tried+=("$version")
  done
  echo "    ok with kubectl ${tried[*]}"
  ((${#tried[@]} >= 2)) || { fail "found only ${#tried[@]} kubectl binaries"; return 1; }
}

case_get_nodemetrics() { for_each_kubectl get_nodemetrics; }
case_get_podmetrics() { for_each_kubectl get_podmetrics; }

# explain_has OUT FIELD...: OUT (kubectl explain) documents every FIELD.
explain_has() {
  local out=$1 field
  shift
  for field in "$@"; do
    grep -Eq "^ +$field[[:space:]]" <<<"$out" || return 1
  done
}

# explain_until WHAT CMD...: runs CMD (a kubectl explain) until it succeeds, its output in
# EXPLAIN_OUT, for at most 60 s: the aggregator pulls our OpenAPI some seconds after the
# APIService turns Available.
explain_until() {
  local what=$1 deadline=$((SECONDS + 60))
  shift
  while true; do
    EXPLAIN_OUT=$("$@" 2>&1) && return 0
    ((SECONDS < deadline)) || { fail "$what: $EXPLAIN_OUT"; return 1; }
    sleep 2
  done
}

# `kubectl explain podmetrics.metrics.k8s.io` itself cannot work, against upstream's
# metrics-server as against ours (same discovery): kubectl resolves `podmetrics` (the singular
# it guesses from the Kind, discovery's singularName being "" as `kubectl get` needs) to the
# resource `pods`, looks for the prefix `pods.metrics.k8s.io` in its argument, finds none and
# reads `metrics.k8s.io` as a field path. `pods.metrics.k8s.io` fails too: the core resource
# `pods` is a prefix of it and comes first. What works: `podmetrics`, and `--api-version`.
case_explain_podmetrics() {
  local args
  for args in "podmetrics" "podmetrics --api-version=metrics.k8s.io/v1" "pods --api-version=metrics.k8s.io/v1beta1"; do
    # shellcheck disable=SC2086 # args are words
    explain_until "kubectl explain $args" kc explain $args || return 1
    grep -q '^GROUP: *metrics.k8s.io' <<<"$EXPLAIN_OUT" && grep -q '^KIND: *PodMetrics' <<<"$EXPLAIN_OUT" &&
      explain_has "$EXPLAIN_OUT" containers timestamp window metadata ||
      { fail "kubectl explain $args lacks our fields: $EXPLAIN_OUT"; return 1; }
    echo "    kubectl explain $args: $(grep -E '^(KIND|VERSION):' <<<"$EXPLAIN_OUT" | tr -s ' ' | tr '\n' ' ')containers, timestamp, window"
  done
  explain_until "kubectl explain podmetrics.containers" kc explain podmetrics.containers || return 1
  explain_has "$EXPLAIN_OUT" name usage ||
    { fail "kubectl explain podmetrics.containers lacks name/usage: $EXPLAIN_OUT"; return 1; }
  local v
  for v in v1beta1 v1; do
    explain_until "kubectl explain nodemetrics --api-version=metrics.k8s.io/$v" \
      kc explain nodemetrics --api-version="metrics.k8s.io/$v" || return 1
    grep -q "^VERSION: *$v" <<<"$EXPLAIN_OUT" && explain_has "$EXPLAIN_OUT" timestamp usage window ||
      { fail "kubectl explain nodemetrics ($v) lacks our fields: $EXPLAIN_OUT"; return 1; }
  done
  echo "    nodemetrics v1beta1 and v1: timestamp, usage, window documented"
  local form
  for form in podmetrics.metrics.k8s.io pods.metrics.k8s.io; do
    EXPLAIN_OUT=$(kc explain "$form" 2>&1) ||
      echo "    note: kubectl explain $form: $(grep '^error' <<<"$EXPLAIN_OUT") (kubectl's resolution, as upstream)"
  done
  # OpenAPI v2 (the aggregator's merged /openapi/v2), as older kubectl explain used it.
  local old
  old=$(installed_kubectls | grep -E 'kubectl\.1\.27$' | head -n 1)
  if [ -n "$old" ]; then
    explain_until "kubectl 1.27 explain podmetrics (OpenAPI v2)" \
      env KUBECTL_EXPLAIN_OPENAPIV3=false "$old" --kubeconfig "$ADMIN" explain podmetrics || return 1
    explain_has "$EXPLAIN_OUT" containers timestamp window ||
      { fail "kubectl 1.27 explain (OpenAPI v2) lacks our fields: $EXPLAIN_OUT"; return 1; }
    echo "    kubectl 1.27 explain from OpenAPI v2: containers, timestamp, window documented"
  fi
}

# protobuf_get PATH: GET PATH through kube-apiserver as admin asking for protobuf only;
# headers in $WORK/pb.headers, body in $WORK/pb.body.
protobuf_get() {
  curl -sS -o "$WORK/pb.body" -D "$WORK/pb.headers" -w '%{http_code}' --max-time 10 \
    --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    -H 'Accept: application/vnd.kubernetes.protobuf' "$APISERVER_URL$1" 2>&1 || true
}

case_protobuf_through_aggregator() {
  local path code ctype magic
  for path in /apis/metrics.k8s.io/v1beta1/nodes /apis/metrics.k8s.io/v1/nodes/sim-node-1 \
    /apis/metrics.k8s.io/v1beta1/namespaces/e2e-top/pods /apis/metrics.k8s.io/v1/namespaces/e2e-top/pods/multi; do
    code=$(protobuf_get "$path")
    [ "$code" = 200 ] || { fail "$path with Accept protobuf: HTTP $code $(head -c 300 "$WORK/pb.body")"; return 1; }
    ctype=$(grep -i '^content-type:' "$WORK/pb.headers" | tail -n 1 | tr -d '\r' | sed 's/^[^:]*: *//')
    [ "$ctype" = application/vnd.kubernetes.protobuf ] ||
      { fail "$path: Content-Type $ctype, want application/vnd.kubernetes.protobuf"; return 1; }
    magic=$(head -c 4 "$WORK/pb.body" | od -An -tx1 | tr -d ' \n')
    [ "$magic" = 6b387300 ] || { fail "$path: body starts with $magic, want 6b387300 (k8s\\0)"; return 1; }
    local kind=NodeMetrics
    case $path in */pods*) kind=PodMetrics ;; esac
    case $path in */nodes | */pods) kind="${kind}List" ;; esac
    grep -aq "$kind" "$WORK/pb.body" && grep -aq "metrics.k8s.io/v1" "$WORK/pb.body" ||
      { fail "$path: the envelope does not name $kind"; return 1; }
    echo "    $path -> $ctype, $(stat -c %s "$WORK/pb.body") bytes, magic k8s\\0, $kind"
  done
}
