#!/usr/bin/env bash
# A real Kubernetes test bed for Slipway's deploy tests, built offline from Debian's source.
# See docs/testing.md ("Kubernetes test bed") for what is real, what each patch is for, and how to debug.
#
#   .ci/k8s-testbed.sh build              fetch Debian source + toolchain, patch, build (cached; 2nd run no-op)
#   .ci/k8s-testbed.sh fetch              only the downloads of build (source package, .debs, unpacked)
#   .ci/k8s-testbed.sh up [1|2]           start etcd, registry and 1 or 2 clusters inside netns $NETNS
#   .ci/k8s-testbed.sh down               stop everything `up` started, remove netns/bridges/mounts/containers
#   .ci/k8s-testbed.sh status             what is running
#   .ci/k8s-testbed.sh kubeconfig [a|b]   print a cluster's kubeconfig
#   .ci/k8s-testbed.sh env                variables a test needs (KEY=VALUE lines)
#   .ci/k8s-testbed.sh exec CMD...        run CMD inside the test bed's network namespace
#   .ci/k8s-testbed.sh test               build, up 2, smoke suite inside the netns, down (even on failure)
#
# Environment (all optional):
#   SLIPWAY_K8S_CACHE   build cache (default /var/cache/slipway-k8s)   SLIPWAY_K8S_STATE  state (default /var/tmp/slipway-k8s)
#   SLIPWAY_K8S_RUN     sockets (default /run/slipway-k8s)               SLIPWAY_K8S_NETNS  namespace (default slipway-k8s)
#   SLIPWAY_K8S_KUBELET auto (default: real kubelets; if one cannot start, the simulator, announced loudly)
#                       | real (never fall back) | sim (no kubelet; tests drive pods with test/helpers/kubelet-sim.ts)
#   SLIPWAY_K8S_KUBELET_ARGS  extra kubelet flags, for debugging (e.g. --v=4)
#   SLIPWAY_K8S_PROXY   auto (default: kube-proxy in iptables mode if this namespace's netfilter takes its rules,
#                       else userspace) | iptables | userspace. No kube-proxy on the simulator (no pods to route to).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${SLIPWAY_K8S_CACHE:-/var/cache/slipway-k8s}
STATE=${SLIPWAY_K8S_STATE:-/var/tmp/slipway-k8s}
# Socket paths must stay short (108 bytes): containerd shims live under the exec-root.
RUN=${SLIPWAY_K8S_RUN:-/run/slipway-k8s}
NETNS=${SLIPWAY_K8S_NETNS:-slipway-k8s}
KUBELET_MODE=${SLIPWAY_K8S_KUBELET:-auto}
PROXY_MODE=${SLIPWAY_K8S_PROXY:-auto}

K8S_VERSION=1.20.2
SRC_PKG=kubernetes
# Toolchain and runtime pieces, unpacked with dpkg -x into the cache (nothing installed system-wide).
TOOL_DEBS=(golang-1.19-go golang-1.19-src rsync libpopt0 golang-github-modern-go-reflect2-dev etcd-server kubernetes-client)
KEY="$K8S_VERSION-$(sha256sum "$HERE/k8s-testbed/patch.sh" | cut -c1-12)"
BIN="$CACHE/bin/$KEY"
# kube-proxy is cached apart, under a key of its own (patch.sh + patch-kube-proxy.sh): a machine that has
# the other binaries builds kube-proxy alone, and a change to its patch rebuilds only kube-proxy.
PROXY_KEY="$KEY-kube-proxy-$(sha256sum "$HERE/k8s-testbed/patch-kube-proxy.sh" | cut -c1-12)"
PROXY_BIN="$CACHE/bin/$PROXY_KEY"

# Ports: all off the defaults (6443, 2379/2380, 10250-10259, 8080, 5000) and only inside the netns.
ETCD_PORT=23790 ETCD_PEER_PORT=23800 REGISTRY_PORT=5052
REGISTRY="127.0.0.1:$REGISTRY_PORT"
PAUSE_IMAGE="$REGISTRY/slipway/pause:$K8S_VERSION"
# Per cluster: apiserver port, kubelet port, kubelet healthz, controller-manager, scheduler, bridge, subnet, services.
declare -A API_PORT=([a]=16443 [b]=16444) KUBELET_PORT=([a]=17250 [b]=17350) KUBELET_HEALTHZ=([a]=17248 [b]=17348)
declare -A KCM_PORT=([a]=17257 [b]=17357) SCHED_PORT=([a]=17259 [b]=17359)
declare -A PROXY_HEALTHZ=([a]=17256 [b]=17356) PROXY_METRICS=([a]=17249 [b]=17349)
declare -A BRIDGE=([a]=sk8s-br-a [b]=sk8s-br-b) NODE_IP=([a]=10.213.0.1 [b]=10.214.0.1)
declare -A SVC_RANGE=([a]=10.96.0.0/24 [b]=10.97.0.0/24)

log() { printf '[k8s-testbed] %s\n' "$*" >&2; }
die() { printf '[k8s-testbed] error: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, mounts, dockerd)"; }

# ---------------------------------------------------------------------------------------------- install
# command -> Debian package, for what must be on the machine itself.
declare -A HOST_PKG=([ip]=iproute2 [gcc]=gcc [dockerd]=docker.io [docker]=docker.io [docker-registry]=docker-registry
  [busybox]=busybox-static [iptables]=iptables [iptables-restore]=iptables [openssl]=openssl [curl]=curl [dpkg-source]=dpkg-dev [file]=file [nsenter]=util-linux)

install_host() {
  local missing=() cmd
  for cmd in "${!HOST_PKG[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${HOST_PKG[$cmd]}"); done
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev) # gcc -static for the pause binary
  if command -v busybox >/dev/null && ! file -L "$(command -v busybox)" | grep -q 'statically linked'; then
    missing+=(busybox-static)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing Debian packages: ${missing[*]}"
  mkdir -p "$CACHE"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$CACHE/apt-install.log" 2>&1 || {
    apt-get update -q >>"$CACHE/apt-install.log" 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$CACHE/apt-install.log" 2>&1 \
      || die "apt-get install failed: see $CACHE/apt-install.log"
  }
}

# ---------------------------------------------------------------------------------------------- build
# A private sources list with deb-src lines and private lists: the system's apt configuration is untouched.
apt_src() {
  local d="$CACHE/apt"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  local kr=/usr/share/keyrings/debian-archive-keyring.gpg
  cat >"$d/sources.list" <<EOF
deb-src [signed-by=$kr] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$kr] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=$kr] http://deb.debian.org/debian-security bookworm-security main
EOF
  apt-get -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache" -o Debug::NoLocking=1 "$@"
}

fetch() {
  mkdir -p "$CACHE/src" "$CACHE/debs"
  if ! ls "$CACHE"/src/${SRC_PKG}_*.dsc >/dev/null 2>&1; then
    log "fetching Debian source package $SRC_PKG"
    apt_src update -q >"$CACHE/apt-src.log" 2>&1 || die "apt-get update (deb-src) failed: see $CACHE/apt-src.log"
    (cd "$CACHE/src" && apt_src source --download-only "$SRC_PKG" >>"$CACHE/apt-src.log" 2>&1) \
      || die "apt-get source failed: see $CACHE/apt-src.log"
  fi
  local p missing=()
  for p in "${TOOL_DEBS[@]}"; do ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "downloading .debs: ${missing[*]}"
    (cd "$CACHE/debs" && { apt-get download "${missing[@]}" || { apt-get update -q && apt-get download "${missing[@]}"; }; } \
      >"$CACHE/apt-debs.log" 2>&1) || die "apt-get download failed: see $CACHE/apt-debs.log"
  fi
}

unpack_debs() { # toolchain + runtime debs into $CACHE/root (dpkg -x: no system install)
  local root="$CACHE/root" p
  [ -f "$root/.done" ] && return 0
  rm -rf "$root"; mkdir -p "$root"
  for p in "${TOOL_DEBS[@]}"; do dpkg -x "$(ls "$CACHE/debs/${p}_"*.deb | head -1)" "$root"; done
  touch "$root/.done"
}

go_make() { # go_make WORK TARGETS...: make WHAT=... in GOPATH mode as debian/rules does, logged to WORK/make.log
  local work=$1 root="$CACHE/root"; shift
  (cd "$work/gopath/src/k8s.io/kubernetes" && env HOME="$work/home" GOPATH="$work/gopath" GOROOT="$root/usr/lib/go-1.19" \
    PATH="$root/usr/lib/go-1.19/bin:$root/usr/bin:$PATH" LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" \
    CGO_ENABLED=0 GOPROXY=off GOFLAGS= GO111MODULE=off \
    make WHAT="$*" >>"$work/make.log" 2>&1) \
    || { tail -30 "$work/make.log" >&2; die "kubernetes build failed: see $work/make.log"; }
}

build() {
  install_host
  local need_core=1 need_proxy=1
  [ -f "$BIN/.complete" ] && need_core=0
  [ -f "$PROXY_BIN/.complete" ] && need_proxy=0
  if [ $need_core = 0 ] && [ $need_proxy = 0 ]; then log "binaries for $KEY already built in $BIN and $PROXY_BIN"; return 0; fi
  need_root
  local t0=$SECONDS
  fetch; unpack_debs
  local root="$CACHE/root" work="$CACHE/work"
  rm -rf "$work"; mkdir -p "$work"
  log "unpacking source into $work"
  dpkg-source -x --no-check "$(ls "$CACHE"/src/${SRC_PKG}_*.dsc | head -1)" "$work/tree" >"$work/dpkg-source.log" 2>&1 \
    || die "dpkg-source failed: see $work/dpkg-source.log"
  TREE="$work/tree" REFLECT2="$root/usr/share/gocode/src/github.com/modern-go/reflect2" bash "$HERE/k8s-testbed/patch.sh" \
    || die "a source patch did not apply (see .ci/k8s-testbed/patch.sh)"
  # GOPATH mode as debian/rules does it (go build -mod=vendor does not work on this tree).
  mkdir -p "$work/gopath/src/k8s.io"; ln -s "$work/tree" "$work/gopath/src/k8s.io/kubernetes"
  local out
  if [ $need_core = 1 ]; then
    local tc=$SECONDS
    log "building kube-apiserver kube-controller-manager kube-scheduler kubelet (about 5 minutes on 2 cores)"
    go_make "$work" cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet
    out=$(cd "$work/tree/_output" && pwd -P)
    mkdir -p "$BIN.tmp"
    cp "$out"/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet} "$BIN.tmp/"
    # The pause binary from the same tree, static: it goes into a FROM scratch image.
    gcc -Os -static -o "$BIN.tmp/pause" "$work/tree/build/pause/linux/pause.c" -DVERSION="$K8S_VERSION" \
      || die "gcc -static pause.c failed"
    cp "$root/usr/bin/etcd" "$BIN.tmp/etcd"
    cp "$root/usr/bin/kubectl" "$BIN.tmp/kubectl" # Debian's kubernetes-client 1.20: an independent real client
    touch "$BIN.tmp/.complete"; rm -rf "$BIN"; mv "$BIN.tmp" "$BIN"
    log "built the control plane and kubelet in $((SECONDS - tc)) s"
  fi
  if [ $need_proxy = 1 ]; then
    # After the others (its patch touches a package the kubelet links too), in the same tree: with the Go
    # build cache of the build above, only what kube-proxy alone needs is compiled.
    local tp=$SECONDS
    TREE="$work/tree" bash "$HERE/k8s-testbed/patch-kube-proxy.sh" \
      || die "a kube-proxy source patch did not apply (see .ci/k8s-testbed/patch-kube-proxy.sh)"
    log "building kube-proxy"
    go_make "$work" cmd/kube-proxy
    out=$(cd "$work/tree/_output" && pwd -P)
    mkdir -p "$PROXY_BIN.tmp"
    cp "$out/bin/kube-proxy" "$PROXY_BIN.tmp/"
    touch "$PROXY_BIN.tmp/.complete"; rm -rf "$PROXY_BIN"; mv "$PROXY_BIN.tmp" "$PROXY_BIN"
    log "built kube-proxy in $((SECONDS - tp)) s"
  fi
  # Binaries of older patch sets (~400 MB each) are never used again.
  find "$CACHE/bin" -mindepth 1 -maxdepth 1 ! -name "$KEY" ! -name "$PROXY_KEY" -exec rm -rf {} +
  # The tree and its Go build cache are ~2.3 GB: keep only the binaries.
  rm -rf "$work"
  log "built in $((SECONDS - t0)) s: $(ls "$BIN" | tr '\n' ' ')kube-proxy"
}

# ---------------------------------------------------------------------------------------------- up
# Clients (tests, curl, kubectl) need only the namespace's network.
in_ns() { nsenter --net="/run/netns/$NETNS" "$@"; }
# The daemons get a mount namespace of their own as well (root's mounts propagate in, theirs never out):
# the kubelet's tmpfs volumes are visible to its dockerd, and every mount they make dies with the last
# of them. Not `ip netns exec`: it remounts /sys, which hides the cgroup hierarchies dockerd needs.
in_ns_private_mounts() { nsenter --net="/run/netns/$NETNS" unshare --mount --propagation slave "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
clusters() { cat "$STATE/clusters" 2>/dev/null || true; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $what"; return 1; }
    sleep 0.1
  done
}

spawn() { # spawn NAME CMD... : a daemon in its own session, logged and tracked by pid (inside the netns)
  local name=$1; shift
  setsid "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/$name.pid"
}

certs() { # certs CLUSTER: its own CA, serving cert, service-account key and admin token
  local c=$1 d="$STATE/$1/pki"
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=slipway-testbed-$c-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
    "${NODE_IP[$c]}" "${SVC_RANGE[$c]%0/24}1" >"$d/ext.cnf"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
    -extfile "$d/ext.cnf" -out "$d/apiserver.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/sa.key" 2>/dev/null
  openssl ec -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  local token; token=$(openssl rand -hex 24)
  echo "$token" >"$d/token"
  echo "$token,slipway-admin-$c,slipway-admin-$c,system:masters" >"$d/tokens.csv"
  cat >"$STATE/$c/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: testbed-$c
  cluster:
    server: https://127.0.0.1:${API_PORT[$c]}
    certificate-authority-data: $(base64 -w0 <"$d/ca.crt")
users:
- name: admin-$c
  user:
    token: $token
contexts:
- name: testbed-$c
  context: {cluster: testbed-$c, user: admin-$c, namespace: default}
current-context: testbed-$c
KC
}

api_ready() { curl -fsS --cacert "$STATE/$1/pki/ca.crt" -H "Authorization: Bearer $(cat "$STATE/$1/pki/token")" \
  "https://127.0.0.1:${API_PORT[$1]}/readyz" | grep -q ok; }
node_ready() { "$BIN/kubectl" --kubeconfig "$STATE/$1/kubeconfig" get node "node-$1" \
  -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True; }
# True once the node is Ready, or at once if its kubelet died (the caller checks which).
node_ready_or_dead() { ! alive "$RUN/pids/kubelet-$1.pid" || node_ready "$1"; }
sa_ready() { "$BIN/kubectl" --kubeconfig "$STATE/$1/kubeconfig" -n default get serviceaccount default; }
docker_ok() { docker -H "unix://$RUN/$1/docker.sock" version --format '{{.Server.Version}}'; }
registry_ok() { curl -fsS "http://$REGISTRY/v2/"; }

start_node_engine() { # the kubelet's own dockerd, on the node's bridge, no iptables
  local c=$1
  mkdir -p "$STATE/$c/docker" "$RUN/$c"
  echo '{}' >"$STATE/daemon.json" # never read /etc/docker/daemon.json
  spawn "dockerd-$c" dockerd --config-file "$STATE/daemon.json" -H "unix://$RUN/$c/docker.sock" \
    --data-root "$STATE/$c/docker" --exec-root "$RUN/$c/x" --pidfile "$RUN/$c/dockerd.pid" \
    --storage-driver=overlay2 --bridge="${BRIDGE[$c]}" --iptables=false --ip-masq=false \
    --log-driver=json-file --insecure-registry "$REGISTRY"
}

start_control_plane() { # apiserver + controller-manager + scheduler for one cluster, on the shared etcd
  local c=$1 d="$STATE/$1/pki"
  mkdir -p "$STATE/$c/apiserver" "$STATE/$c/kcm" "$STATE/$c/sched"
  spawn "apiserver-$c" "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --etcd-prefix="/registry-$c" \
    --bind-address=0.0.0.0 --secure-port="${API_PORT[$c]}" --insecure-port=0 --advertise-address="${NODE_IP[$c]}" \
    --cert-dir="$STATE/$c/apiserver" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --client-ca-file="$d/ca.crt" --token-auth-file="$d/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-account-issuer="https://kubernetes.default.svc" --api-audiences="https://kubernetes.default.svc" \
    --service-cluster-ip-range="${SVC_RANGE[$c]}" --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false --event-ttl=10m
}

start_controllers() {
  local c=$1 d="$STATE/$1/pki"
  spawn "controller-manager-$c" "$BIN/kube-controller-manager" --kubeconfig="$STATE/$c/kubeconfig" \
    --port=0 --secure-port="${KCM_PORT[$c]}" --bind-address=127.0.0.1 --cert-dir="$STATE/$c/kcm" --leader-elect=false \
    --flex-volume-plugin-dir="$STATE/$c/kcm/volume-plugins" \
    --service-account-private-key-file="$d/sa.key" --root-ca-file="$d/ca.crt" --use-service-account-credentials=false \
    --profiling=false --node-monitor-period=2s --concurrent-deployment-syncs=5
  spawn "scheduler-$c" "$BIN/kube-scheduler" --kubeconfig="$STATE/$c/kubeconfig" --port=0 \
    --secure-port="${SCHED_PORT[$c]}" --bind-address=127.0.0.1 --cert-dir="$STATE/$c/sched" --leader-elect=false \
    --profiling=false
}

start_kubelet() { # a real kubelet (dockershim) on its own engine; every path under $STATE/$RUN
  local c=$1 k="$STATE/$c/kubelet"
  mkdir -p "$k/root" "$k/pki" "$k/dockershim" "$k/volume-plugins" "$k/seccomp" "$k/device-plugins"
  # SLIPWAY_KUBELET_DEVICE_PLUGINS_DIR: patch 5 (upstream hard-codes /var/lib/kubelet/device-plugins).
  spawn "kubelet-$c" env SLIPWAY_KUBELET_DEVICE_PLUGINS_DIR="$k/device-plugins" "$BIN/kubelet" --kubeconfig="$STATE/$c/kubeconfig" --hostname-override="node-$c" \
    --node-ip="${NODE_IP[$c]}" --address="${NODE_IP[$c]}" --port="${KUBELET_PORT[$c]}" --read-only-port=0 \
    --healthz-bind-address=127.0.0.1 --healthz-port="${KUBELET_HEALTHZ[$c]}" \
    --node-labels="slipway.dev/testbed-cluster=$c" \
    --container-runtime=docker --docker-endpoint="unix://$RUN/$c/docker.sock" \
    --docker="unix://$RUN/$c/docker.sock" --docker-root="$STATE/$c/docker" \
    --container-runtime-endpoint="unix://$RUN/$c/dockershim.sock" --image-service-endpoint="unix://$RUN/$c/dockershim.sock" \
    --experimental-dockershim-root-directory="$k/dockershim" --root-dir="$k/root" --cert-dir="$k/pki" \
    --volume-plugin-dir="$k/volume-plugins" --seccomp-profile-root="$k/seccomp" \
    --pod-infra-container-image="$PAUSE_IMAGE" --network-plugin="" --hairpin-mode=none \
    --fail-swap-on=false --cgroups-per-qos=false --enforce-node-allocatable="" --cgroup-driver=cgroupfs \
    --oom-score-adj=0 --make-iptables-util-chains=false --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    --eviction-hard="" --node-status-update-frequency=1s --sync-frequency=3s --serialize-image-pulls=false \
    --register-node=true --protect-kernel-defaults=false --max-pods=50 ${SLIPWAY_K8S_KUBELET_ARGS:-}
}

proxy_mode() { # iptables if this namespace's netfilter takes what the iptables proxier writes, else userspace
  [ "$PROXY_MODE" = auto ] || { echo "$PROXY_MODE"; return; }
  local probe=SLIPWAY-PROBE
  if iptables-restore --noflush >/dev/null 2>&1 <<RULES
*nat
:$probe - [0:0]
-A $probe -p tcp -m comment --comment probe -m statistic --mode random --probability 0.5 -j DNAT --to-destination 127.0.0.1:1
-A $probe -m recent --name probe --rcheck --seconds 10 --reap -j MARK --or-mark 0x4000
-A $probe -m mark --mark 0x4000/0x4000 -m addrtype --dst-type LOCAL -j MASQUERADE
COMMIT
RULES
  then
    echo iptables
  else
    echo userspace
  fi
  iptables -w -t nat -F "$probe" 2>/dev/null || true
  iptables -w -t nat -X "$probe" 2>/dev/null || true
}

start_kube_proxy() { # kube-proxy for one cluster; chains prefixed KUBE-A-/KUBE-B- (patch-kube-proxy.sh, 1)
  local c=$1 mode=$2 extra=()
  # 1.20's userspace proxier ignores EndpointSlices (a no-op handler): it must watch Endpoints instead.
  [ "$mode" = userspace ] && extra=(--feature-gates=EndpointSliceProxying=false)
  # A route to the Service range, so that connections from the namespace reach the nat table's DNAT
  # (without one, connect() to a ClusterIP fails with "network unreachable" before any rule is seen).
  ip route add "${SVC_RANGE[$c]}" dev "${BRIDGE[$c]}" src "${NODE_IP[$c]}"
  # The conntrack and OOM settings left alone: they are kernel-wide (nf_conntrack hashsize) or need
  # CAP_SYS_RESOURCE. --iptables-min-sync-period: rules rewritten at most every 0.2 s (upstream: 1 s), so tests see endpoint changes sooner.
  spawn "kube-proxy-$c" env SLIPWAY_KUBE_PROXY_CHAIN_PREFIX="KUBE-${c^^}-" "$PROXY_BIN/kube-proxy" \
    --kubeconfig="$STATE/$c/kubeconfig" --hostname-override="node-$c" --bind-address="${NODE_IP[$c]}" \
    --proxy-mode="$mode" --healthz-bind-address="127.0.0.1:${PROXY_HEALTHZ[$c]}" \
    --metrics-bind-address="127.0.0.1:${PROXY_METRICS[$c]}" --oom-score-adj=0 \
    --conntrack-max-per-core=0 --conntrack-min=0 --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0 --iptables-min-sync-period=200ms --profiling=false "${extra[@]}"
}
# The apiserver's own Service (default/kubernetes, the range's first address) answers through the proxy.
service_routes() { curl -sk --max-time 1 -o /dev/null "https://${SVC_RANGE[$1]%0/24}1/readyz"; }
service_routes_or_dead() { ! alive "$RUN/pids/kube-proxy-$1.pid" || service_routes "$1"; }

pause_image() { # pause from the same tree, static, FROM scratch, pushed to the test bed's registry
  local ctx="$STATE/pause-ctx" dk=(docker -H "unix://$RUN/a/docker.sock")
  mkdir -p "$ctx"; cp "$BIN/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  { DOCKER_BUILDKIT=0 "${dk[@]}" build -q -t "$PAUSE_IMAGE" "$ctx" && "${dk[@]}" push "$PAUSE_IMAGE"; } >"$STATE/log/pause-image.log" 2>&1
}

# Runs inside the namespace, in the daemons' own mount namespace (see in_ns_private_mounts).
ns_start() {
  local n=$1 cs=(a) c t0=$SECONDS
  [ "$n" = 2 ] && cs=(a b)
  # /sys/class/net as this network namespace sees it (the kubelet's cAdvisor reads it), on a private mount.
  mkdir -p "$RUN/sys"
  mount -t sysfs sysfs "$RUN/sys" && mount --bind "$RUN/sys/class/net" /sys/class/net && umount -l "$RUN/sys"
  ip link set lo up
  for c in "${cs[@]}"; do
    ip link add "${BRIDGE[$c]}" type bridge
    ip addr add "${NODE_IP[$c]}/24" dev "${BRIDGE[$c]}"
    ip link set "${BRIDGE[$c]}" up
    certs "$c"
  done
  mkdir -p "$STATE/etcd" "$STATE/registry"
  spawn etcd "$BIN/etcd" --name slipway-testbed --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "slipway-testbed=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes=$((512 * 1024 * 1024))
  cat >"$STATE/registry.yml" <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $STATE/registry }
  delete: { enabled: true }
http:
  addr: $REGISTRY
YML
  spawn registry docker-registry serve "$STATE/registry.yml"
  for c in "${cs[@]}"; do
    [ "$KUBELET_MODE" = sim ] && [ "$c" != a ] && continue # engine a still builds the test images
    start_node_engine "$c"
  done
  wait_for 20 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health" || return 1
  for c in "${cs[@]}"; do start_control_plane "$c"; done
  wait_for 30 "docker engine a" docker_ok a || return 1
  wait_for 20 registry registry_ok || return 1
  pause_image &
  local pause_pid=$!
  for c in "${cs[@]}"; do wait_for 30 "apiserver $c" api_ready "$c" || return 1; start_controllers "$c"; done
  wait "$pause_pid" || { log "pause image build/push failed"; return 1; }
  if [ "$KUBELET_MODE" != sim ]; then
    for c in "${cs[@]}"; do
      wait_for 30 "docker engine $c" docker_ok "$c" || return 1
      start_kubelet "$c"
    done
    # kube-proxy only with real pods: nothing runs behind a simulated pod.
    local pmode; pmode=$(proxy_mode)
    echo "$pmode" >"$STATE/proxy-mode"
    for c in "${cs[@]}"; do start_kube_proxy "$c" "$pmode"; done
    # Exit 3: the control plane is fine but a real kubelet is not (up may fall back to the simulator).
    for c in "${cs[@]}"; do wait_for 30 "node-$c Ready" node_ready_or_dead "$c" && alive "$RUN/pids/kubelet-$c.pid" || return 3; done
    for c in "${cs[@]}"; do
      wait_for 20 "kube-proxy $c ($pmode mode) routing Services" service_routes_or_dead "$c" \
        && alive "$RUN/pids/kube-proxy-$c.pid" || { log "kube-proxy $c is not routing Services (log: $STATE/log/kube-proxy-$c.log)"; return 1; }
    done
    log "kube-proxy: $pmode mode"
  else
    log "SIMULATED KUBELET: no real kubelet started; tests must drive pods with test/helpers/kubelet-sim.ts"
  fi
  for c in "${cs[@]}"; do wait_for 20 "default service account in $c" sa_ready "$c" || return 1; done
  log "up: ${#cs[@]} cluster(s) ready in $((SECONDS - t0)) s (inside netns $NETNS)"
}

record_host_state() { # what `down` must put back as it was
  local f="$STATE/host-before"
  : >"$f"
  [ -d /run/netns ] && echo run-netns >>"$f"
  [ -e /etc/docker/key.json ] && echo docker-key >>"$f"
  [ -d /etc/docker ] && echo etc-docker >>"$f"
  [ -d /var/log/pods ] && echo var-log-pods >>"$f"
  [ -d /var/log/containers ] && echo var-log-containers >>"$f"
  ls -A /var/log/pods 2>/dev/null | sed 's|^|pods/|' >>"$f" || true
  ls -A /var/log/containers 2>/dev/null | sed 's|^|containers/|' >>"$f" || true
}

up() {
  local n=${1:-1}
  [[ $n = 1 || $n = 2 ]] || die "up takes 1 or 2 clusters"
  need_root
  [ -f "$BIN/.complete" ] || die "binaries for $KEY not built: run $0 build"
  [ "$KUBELET_MODE" = sim ] || [ -f "$PROXY_BIN/.complete" ] || die "kube-proxy for $PROXY_KEY not built: run $0 build"
  [[ $PROXY_MODE = auto || $PROXY_MODE = iptables || $PROXY_MODE = userspace ]] \
    || die "SLIPWAY_K8S_PROXY must be auto, iptables or userspace (got '$PROXY_MODE')"
  if ip netns list | grep -qw "$NETNS"; then
    [ "$(clusters | wc -w)" -ge "$n" ] && status >/dev/null 2>&1 && { log "already up: $(clusters)"; return 0; }
    log "a previous test bed is still there: taking it down first"; down
  fi
  local t0=$SECONDS
  mkdir -p "$STATE/log" "$RUN/pids"
  record_host_state
  echo "$([ "$n" = 2 ] && echo a b || echo a)" >"$STATE/clusters"
  echo "$([ "$KUBELET_MODE" = sim ] && echo sim || echo real)" >"$STATE/kubelet-mode"
  echo none >"$STATE/proxy-mode"
  ip netns add "$NETNS"
  local rc=0
  in_ns_private_mounts bash "$0" _ns-start "$n" || rc=$?
  if [ $rc = 3 ] && [ "$KUBELET_MODE" = auto ]; then
    log "the real kubelet did not become Ready (last lines of its log below)"
    tail -n 15 "$STATE"/log/kubelet-*.log >&2 || true
    log "**************************************************************************************"
    log "*** FALLING BACK TO THE KUBELET SIMULATOR: no real pods will run in this test bed ***"
    log "**************************************************************************************"
    down
    SLIPWAY_K8S_KUBELET=sim KUBELET_MODE=sim up "$n"
    return
  fi
  if [ $rc != 0 ]; then
    log "up failed: logs in $STATE/log (last lines below)"
    tail -n 5 "$STATE"/log/*.log >&2 || true
    return 1
  fi
  log "up in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- down
stop_pids() { # stop_pids NAME...: TERM all at once, then KILL what is left after 10 s
  local n f live=()
  for n in "$@"; do f="$RUN/pids/$n.pid"; alive "$f" && { kill "$(cat "$f")" 2>/dev/null || true; live+=("$n"); }; done
  for _ in $(seq 100); do
    local still=()
    for n in "${live[@]}"; do alive "$RUN/pids/$n.pid" && still+=("$n"); done
    live=("${still[@]}")
    [ ${#live[@]} -eq 0 ] && break
    sleep 0.1
  done
  for n in "${live[@]}"; do log "$n did not stop: killing"; kill -9 "$(cat "$RUN/pids/$n.pid")" 2>/dev/null || true; done
  for n in "$@"; do rm -f "$RUN/pids/$n.pid"; done
}

down() {
  need_root
  local c
  stop_pids kubelet-a kubelet-b kube-proxy-a kube-proxy-b # first, so nothing restarts pods
  for c in a b; do
    if [ -S "$RUN/$c/docker.sock" ] && alive "$RUN/pids/dockerd-$c.pid"; then
      local ids; ids=$(docker -H "unix://$RUN/$c/docker.sock" ps -aq 2>/dev/null || true)
      [ -z "$ids" ] || docker -H "unix://$RUN/$c/docker.sock" rm -f $ids >/dev/null 2>&1 || true
    fi
  done
  stop_pids controller-manager-a scheduler-a controller-manager-b scheduler-b apiserver-a apiserver-b \
    dockerd-a dockerd-b registry
  stop_pids etcd
  # Anything else still in our namespace (containerd shims, a test left running) is ours: stop it by pid.
  if ip netns list | grep -qw "$NETNS"; then
    local pids; pids=$(ip netns pids "$NETNS" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      log "stopping leftover processes in $NETNS: $pids"
      kill $pids 2>/dev/null || true; sleep 1
      pids=$(ip netns pids "$NETNS" 2>/dev/null || true); [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$NETNS" # its bridges go with it
  fi
  # Mounts under our dirs (none should survive the namespace's mount table, but never leave one behind).
  local m
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE|$RUN)(/|$)" | sort -r); do umount -l "$m" || true; done
  restore_host_state
  rm -rf "$STATE" "$RUN"
  log "down: nothing of ours left"
}

restore_host_state() {
  local f="$STATE/host-before"
  [ -f "$f" ] || return 0
  local e
  # The kubelet hard-codes /var/log/pods and /var/log/containers: remove what it added there.
  for e in $(ls -A /var/log/pods 2>/dev/null); do grep -qxF "pods/$e" "$f" || rm -rf "/var/log/pods/$e"; done
  for e in $(ls -A /var/log/containers 2>/dev/null); do grep -qxF "containers/$e" "$f" || rm -f "/var/log/containers/$e"; done
  grep -qx var-log-pods "$f" || rmdir /var/log/pods 2>/dev/null || true
  grep -qx var-log-containers "$f" || rmdir /var/log/containers 2>/dev/null || true
  grep -qx docker-key "$f" || rm -f /etc/docker/key.json
  grep -qx etc-docker "$f" || rmdir /etc/docker 2>/dev/null || true
  if ! grep -qx run-netns "$f" && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------------------------------------- status, env
status() {
  local rc=0 c name
  ip netns list | grep -qw "$NETNS" && log "netns $NETNS: present" || { log "netns $NETNS: absent"; rc=1; }
  for f in "$RUN"/pids/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    alive "$f" && log "$name: running (pid $(cat "$f"))" || { log "$name: DEAD (log: $STATE/log/$name.log)"; rc=1; }
  done
  for c in $(clusters); do
    in_ns bash "$0" _api-ready "$c" && log "cluster $c: apiserver ready on https://127.0.0.1:${API_PORT[$c]} (in netns)" \
      || { log "cluster $c: apiserver NOT ready"; rc=1; }
  done
  return $rc
}

print_env() {
  local c
  [ -f "$STATE/clusters" ] || die "not up"
  echo "SLIPWAY_K8S_NETNS=$NETNS"
  echo "SLIPWAY_K8S_CLUSTERS=$(clusters | tr ' ' ',')"
  echo "SLIPWAY_K8S_KUBELET=$(cat "$STATE/kubelet-mode")"
  echo "SLIPWAY_K8S_PROXY=$(cat "$STATE/proxy-mode" 2>/dev/null || echo none)"
  echo "SLIPWAY_K8S_REGISTRY=$REGISTRY"
  echo "SLIPWAY_K8S_DOCKER_HOST=unix://$RUN/a/docker.sock"
  echo "SLIPWAY_K8S_KUBECTL=$BIN/kubectl"
  echo "SLIPWAY_K8S_BUSYBOX=$(command -v busybox)"
  for c in $(clusters); do
    local C=${c^^}
    echo "SLIPWAY_K8S_KUBECONFIG_$C=$STATE/$c/kubeconfig"
    echo "SLIPWAY_K8S_SERVER_$C=https://127.0.0.1:${API_PORT[$c]}"
    echo "SLIPWAY_K8S_CA_$C=$STATE/$c/pki/ca.crt"
    echo "SLIPWAY_K8S_TLS_CERT_$C=$STATE/$c/pki/apiserver.crt"
    echo "SLIPWAY_K8S_TLS_KEY_$C=$STATE/$c/pki/apiserver.key"
    echo "SLIPWAY_K8S_NODE_$C=node-$c"
  done
}

# ---------------------------------------------------------------------------------------------- test
run_tests() {
  local t0=$SECONDS rc=0 mode=real before
  before=$(host_paths)
  build
  local tb=$SECONDS
  # Down at the end whatever happens (and a leftover test bed from an earlier run first).
  trap 'down' EXIT
  up 2
  local tu=$SECONDS
  set -a; eval "$(print_env)"; set +a
  mode=$SLIPWAY_K8S_KUBELET
  # SLIPWAY_K8S_REPORT=<file>: also write vitest's JSON report there (npm test counts the tests from it).
  local report=()
  [ -z "${SLIPWAY_K8S_REPORT:-}" ] || report=(--reporter=default --reporter=json "--outputFile.json=$SLIPWAY_K8S_REPORT")
  in_ns env -C "$REPO" npx vitest run --config test/k8s/vitest.config.ts "${report[@]}" || rc=$?
  log "timings: build $((tb - t0)) s, up $((tu - tb)) s, suite $((SECONDS - tu)) s"
  trap - EXIT
  down
  verify_clean "$before" || rc=1
  log "total $((SECONDS - t0)) s, exit $rc"
  [ "$mode" = real ] || log "*** THIS RUN USED THE KUBELET SIMULATOR, NOT A REAL KUBELET: no pod really ran ***"
  return $rc
}

# Paths Kubernetes components write by default; none may appear because of the test bed.
HOST_PATHS=(/var/lib/kubelet /var/lib/dockershim /usr/libexec/kubernetes /var/run/kubernetes /etc/kubernetes
  /var/log/pods /var/log/containers /var/lib/etcd /var/run/dockershim.sock /run/netns)
host_paths() { local p; for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] && echo "$p"; done; true; }

verify_clean() { # verify_clean [HOST_PATHS_BEFORE]: `down` left nothing behind
  local bad=0 p before=${1-$(host_paths)}
  for p in $(host_paths); do grep -qxF "$p" <<<"$before" || { log "LEFT BEHIND: $p"; bad=1; }; done
  ip netns list | grep -qw "$NETNS" && { log "LEFT BEHIND: netns $NETNS"; bad=1; }
  ip link show 2>/dev/null | grep -q 'sk8s-br' && { log "LEFT BEHIND: bridge"; bad=1; }
  grep -qE " ($STATE|$RUN)" /proc/self/mountinfo && { log "LEFT BEHIND: mounts"; bad=1; }
  pgrep -f "$BIN/|$PROXY_BIN/|$RUN/|$STATE/" >/dev/null && { log "LEFT BEHIND: processes $(pgrep -f "$BIN/|$PROXY_BIN/|$RUN/|$STATE/" | tr '\n' ' ')"; bad=1; }
  [ -e "$STATE" ] || [ -e "$RUN" ] && { log "LEFT BEHIND: $STATE or $RUN"; bad=1; }
  [ $bad = 0 ] && log "verified: no processes, mounts, namespace, bridge or containers of ours left"
  return $bad
}

case "${1:-}" in
  build) build ;;
  fetch) install_host; fetch; unpack_debs ;; # the downloads of `build` alone
  up) up "${2:-1}" ;;
  down) down ;;
  status) status ;;
  kubeconfig) cat "$STATE/${2:-a}/kubeconfig" ;;
  env) print_env ;;
  exec) shift; set -a; eval "$(print_env)"; set +a; in_ns "$@" ;;
  test) run_tests ;;
  verify-clean) verify_clean ;;
  _ns-start) ns_start "$2" ;;
  _api-ready) api_ready "$2" ;;
  *) echo "usage: $0 build|fetch|up [1|2]|down|status|kubeconfig [a|b]|env|exec CMD...|test|verify-clean" >&2; exit 2 ;;
esac
