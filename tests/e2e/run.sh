#!/usr/bin/env bash
# End-to-end test on a real Kubernetes control plane, all on 127.0.0.0/8:
#   etcd, kube-apiserver (RBAC, service-account keys, front-proxy CA and --requestheader-*
#   flags, aggregator routing), kube-controller-manager (HPA sync every 5 s) and
#   kube-scheduler, built from Go modules by build-controlplane.sh (cached under target/);
#   simulated nodes (`metrics-server-sim nodes`) that act as the kubelets of the pods the
#   scheduler binds to them (stopped or clock-skewed through its control file); the rendered manifests/components.yaml (minus its Deployment)
#   applied with kubectl; and our server on
#   the host with the metrics-server ServiceAccount's token, serving swap and ephemeral storage
#   too (--extra-resources).
# Prints PASS <case> or FAIL <case>: <why> per case; exits 0 only if every case passed.
# Every process it starts is stopped on exit, failure or interrupt.
# Environment: E2E_KEEP=1 keeps the work directory (logs, certificates, kubeconfigs).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
E2E="$REPO/tests/e2e"
source "$E2E/lib/pki.sh"
source "$E2E/lib/cluster.sh"
source "$E2E/lib/cases.sh"
source "$E2E/lib/cases_direct.sh"
source "$E2E/lib/cases_certs.sh"
source "$E2E/lib/cases_api.sh"
source "$E2E/lib/cases_storage.sh"
source "$E2E/lib/cases_apiservice.sh"
source "$E2E/lib/cases_nodes.sh"
source "$E2E/lib/cases_diagnose.sh"

NODES=2
export NO_COLOR=1 # plain logs from our processes
WORK="$(mktemp -d "${TMPDIR:-/tmp}/metrics-server-e2e.XXXXXX")"
PKI="$WORK/pki"
SERVING_CA="$WORK/serving-ca"   # what `metrics-server certs` wrote
SERVING_TLS="$WORK/serving-tls" # the serving pair, laid out like a mounted Secret
LOGS="$WORK/logs"
mkdir -p "$LOGS"
FAILED=()

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ "$code" != 0 ] && [ "${CASES_DONE:-0}" != 1 ]; then
    echo "FAIL setup: the e2e stopped before its cases finished (exit $code); last log lines:"
    for log in "$LOGS"/*.log; do
      [ -f "$log" ] && { echo "--- $(basename "$log")"; tail -n 5 "$log"; }
    done
  fi
  stop_all
  if [ "${E2E_KEEP:-0}" = 1 ] || [ "$code" != 0 ]; then
    echo "e2e: logs and certificates kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kc ARGS...: the built kubectl as cluster admin.
kc() { "$KUBECTL" --kubeconfig "$ADMIN" "$@"; }

for tool in curl jq openssl python3 go; do
  command -v "$tool" >/dev/null || { echo "error: the e2e test needs $tool" >&2; exit 1; }
done

# 1. Binaries: the control plane (cached by version) and our server.
BIN="$("$E2E/build-controlplane.sh")"
KUBECTL="$BIN/kubectl"
(cd "$REPO" && cargo build --locked --quiet --bin metrics-server --bin metrics-server-sim)
TARGET_DIR="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
METRICS_SERVER="$TARGET_DIR/debug/metrics-server"
METRICS_SERVER_SIM="$TARGET_DIR/debug/metrics-server-sim"
echo "e2e: Kubernetes $("$KUBECTL" version --client -o json | jq -r .clientVersion.gitVersion), work dir $WORK"

# 2. Control plane.
read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT CM_PORT SCHEDULER_PORT METRICS_SERVER_PORT \
  <<<"$(free_ports 6)"
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
ADMIN="$WORK/admin.kubeconfig"
make_pki
kubeconfig_cert "$ADMIN" admin
kubeconfig_cert "$WORK/controller-manager.kubeconfig" controller-manager
kubeconfig_cert "$WORK/scheduler.kubeconfig" scheduler
started=$SECONDS
start_etcd
start_apiserver
start_controller_manager
start_scheduler
echo "e2e: control plane up in $((SECONDS - started))s"

# 3. Simulated nodes, then the rendered release manifest users apply
#    (manifests/components.yaml) without its Deployment, an EndpointSlice to our server on the
#    host, and our server with a serving certificate for the Service's names made by
#    `metrics-server certs`.
start_sim_nodes
kc kustomize --load-restrictor LoadRestrictionsNone "$E2E/manifests" >"$WORK/install.yaml"
kc apply -f "$WORK/install.yaml" >/dev/null
# (kubectl warns that FQDN slices are deprecated: see endpointslice.yaml for why it is one.)
sed "s/\${METRICS_SERVER_PORT}/$METRICS_SERVER_PORT/" "$E2E/manifests/endpointslice.yaml" |
  kc apply -f - >"$LOGS/endpointslice.log" 2>&1 || { cat "$LOGS/endpointslice.log" >&2; exit 1; }
make_serving_certs
start_metrics_server --tls-cert-file "$SERVING_TLS/tls.crt" --tls-private-key-file "$SERVING_TLS/tls.key"

# 4. Test workloads (wait for the namespaces' default ServiceAccounts first).
WORKLOADS=(-f "$E2E/manifests/workloads.yaml" -f "$E2E/manifests/hpa.yaml" -f "$E2E/manifests/hpa-storage.yaml")
kc apply "${WORKLOADS[@]}" >/dev/null 2>&1 || true
for ns in e2e-top e2e-other e2e-hpa e2e-disk; do
  wait_for "ServiceAccount default in $ns" 60 kc get serviceaccount default -n "$ns"
done
kc apply "${WORKLOADS[@]}" >/dev/null
HPA_T0=$SECONDS
DISK_T0=$SECONDS

# 5. Cases.
run_case apiservice-available case_apiservice_available
wait_for "metrics of every node and test pod" 120 metrics_ready || true
run_case top-nodes case_top_nodes
run_case top-pods case_top_pods
run_case top-all-kubectl-versions case_top_all_kubectl_versions
run_case raw-v1 case_raw_v1
run_case raw-v1beta1 case_raw_v1beta1
run_case get-nodemetrics case_get_nodemetrics
run_case get-podmetrics case_get_podmetrics
run_case explain-podmetrics case_explain_podmetrics
run_case protobuf-through-aggregator case_protobuf_through_aggregator
run_case rbac-denied case_rbac_denied
run_case direct-anonymous-denied case_direct_anonymous_denied
run_case direct-forged-headers case_direct_forged_headers
run_case direct-token-rbac case_direct_token_rbac
run_case kubelet-authz case_kubelet_authz
run_case hpa-scale-up case_hpa_scale_up
run_case hpa-scale-down case_hpa_scale_down
run_case storage-raw case_storage_raw
run_case storage-kubectl-top case_storage_kubectl_top
run_case storage-client-go case_storage_client_go
run_case hpa-ephemeral-storage case_hpa_ephemeral_storage
run_case apiservice-explained case_apiservice_explained
run_case node-backoff case_node_backoff
run_case virtual-node-skipped case_virtual_node_skipped
run_case clock-offset case_clock_offset
run_case cert-rotation case_cert_rotation
run_case diagnose-healthy case_diagnose_healthy
run_case diagnose-wrong-ca-bundle case_diagnose_wrong_ca_bundle
run_case diagnose-missing-rbac case_diagnose_missing_rbac
run_case diagnose-kubelet-no-ip-san case_diagnose_kubelet_no_ip_san
run_case diagnose-second-owner case_diagnose_second_owner
run_case diagnose-stopped-server case_diagnose_stopped_server # restarts our server
run_case apiservice-owner case_apiservice_owner # restarts our server
run_case apiservice-rbac-missing case_apiservice_rbac_missing # restarts our server
run_case self-managed-ca case_self_managed_ca # restarts our server: last

CASES_DONE=1
for name in etcd kube-apiserver kube-controller-manager kube-scheduler sim-nodes metrics-server; do
  alive "$name" || FAILED+=("process-$name")
done
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "e2e: FAILED: ${FAILED[*]} (total $((SECONDS))s)"
  exit 1
fi
echo "e2e: all cases passed (total $((SECONDS))s)"
