# Starting and stopping the end-to-end control plane: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, the simulated nodes and our server, all on
# 127.0.0.0/8. Sourced by run.sh; every process started here is recorded in PIDS and
# stopped by stop_all (run.sh traps EXIT, INT and TERM).

PIDS=()

# start NAME CMD...: runs CMD in the background, output in $LOGS/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

# stop_all: stops the processes in reverse start order (our server first, etcd last), each
# with TERM, then KILL if it is still there after 5 s.
stop_all() {
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# alive NAME: fails (and shows the log tail) when the named process exited.
alive() {
  local var="PID_${1//-/_}"
  if ! kill -0 "${!var}" 2>/dev/null; then
    echo "error: $1 exited; last log lines:" >&2
    tail -n 30 "$LOGS/$1.log" >&2
    return 1
  fi
}

# wait_for DESCRIPTION TIMEOUT_S CMD...: retries CMD every 0.5 s.
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "error: timed out after ${timeout}s waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start_etcd() {
  start etcd "$BIN/etcd" --name e2e --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  wait_for "etcd" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range 10.0.0.0/24 \
    --authorization-mode Node,RBAC \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --endpoint-reconciler-type none \
    --profiling=false
  wait_for "kube-apiserver /readyz" 90 "$KUBECTL" --kubeconfig "$ADMIN" get --raw /readyz
}

start_controller_manager() {
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$WORK/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$WORK/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$WORK/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" \
    --leader-elect=false \
    --horizontal-pod-autoscaler-sync-period 5s \
    --horizontal-pod-autoscaler-cpu-initialization-period 15s \
    --horizontal-pod-autoscaler-initial-readiness-delay 5s \
    --profiling=false
}

start_scheduler() {
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$WORK/scheduler.kubeconfig" \
    --authentication-kubeconfig "$WORK/scheduler.kubeconfig" \
    --authorization-kubeconfig "$WORK/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false
}

start_sim_nodes() {
  start sim-nodes "$METRICS_SERVER_SIM" nodes --kubeconfig "$ADMIN" --nodes "$NODES" \
    --kubelet-ca-out "$WORK/kubelet-ca.crt" --control-file "$WORK/sim-control"
  wait_for "simulated nodes" 60 grep -q "nodes registered" "$LOGS/sim-nodes.log" || {
    alive sim-nodes
    return 1
  }
  kc wait --for=condition=Ready node -l sim.metrics-server-rs.io/simulated=true --timeout=60s >/dev/null
}

# start_metrics_server ARGS...: our server on the host, with the ServiceAccount's token;
# ARGS choose its serving certificate.
start_metrics_server() {
  local token
  token=$(kc create token metrics-server -n kube-system --duration=2h)
  kubeconfig_token "$WORK/metrics-server.kubeconfig" "$token"
  start metrics-server "$METRICS_SERVER" \
    --kubeconfig "$WORK/metrics-server.kubeconfig" \
    --kubelet-certificate-authority "$WORK/kubelet-ca.crt" \
    --kubelet-use-node-status-port \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-request-timeout 5s \
    --metric-resolution 10s \
    --bind-address 127.0.0.1 --secure-port "$METRICS_SERVER_PORT" \
    "$@"
  wait_for "our server to listen" 30 curl -sk "https://127.0.0.1:$METRICS_SERVER_PORT/healthz" || {
    alive metrics-server
    return 1
  }
}

# stop_process NAME: stops one started process (TERM, then KILL after 10 s) and forgets it.
stop_process() {
  local var="PID_${1//-/_}" i
  local pid=${!var}
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${!PIDS[@]}"; do
    [ "${PIDS[$i]}" = "$pid" ] && unset 'PIDS[i]'
  done
  PIDS=("${PIDS[@]}")
}

# restart_metrics_server ARGS...: our server again with other serving ARGS (the previous
# log is kept as metrics-server.N.log).
restart_metrics_server() {
  stop_process metrics-server
  local n=1
  while [ -e "$LOGS/metrics-server.$n.log" ]; do n=$((n + 1)); done
  mv "$LOGS/metrics-server.log" "$LOGS/metrics-server.$n.log"
  start_metrics_server "$@"
}
