# The source edits the test bed makes to Debian's kubernetes 1.20.2 tree before building.
# Sourced by .ci/k8s-testbed.sh with $TREE (the unpacked tree) and $REFLECT2 (reflect2 1.0.2 sources).
# The build cache key is a hash of this file: change a line here and the next `build` rebuilds.
set -euo pipefail

# 1. Vendored reflect2 1.0.1 crashes at random under Go >= 1.18 (nil dereference in UnsafeMapType.Key
#    while decoding from etcd). Debian's golang-github-modern-go-reflect2-dev 1.0.2 is the upstream fix.
rm -f "$TREE"/vendor/github.com/modern-go/reflect2/*.go "$TREE"/vendor/github.com/modern-go/reflect2/*.s
cp "$REFLECT2"/*.go "$TREE"/vendor/github.com/modern-go/reflect2/

# 2. root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj makes runc fail every pod sandbox.
sed -i 's/defaultSandboxOOMAdj int = -998/defaultSandboxOOMAdj int = 0/' "$TREE"/pkg/kubelet/dockershim/docker_sandbox.go
sed -i 's/guaranteedOOMScoreAdj int = -997/guaranteedOOMScoreAdj int = 0/' "$TREE"/pkg/kubelet/qos/policy.go

# 3. The machine is shared: the kubelet must only warn about kernel tunables (vm.overcommit_memory,
#    kernel.panic, kernel.panic_on_oops, ...), never write them.
sed -i 's/\tb := KernelTunableModify$/\tb := KernelTunableWarn/' "$TREE"/pkg/kubelet/cm/container_manager_linux.go

# Fail loudly if upstream moved a line: a patch that silently matched nothing would build a kubelet
# that rewrites sysctls or kills every sandbox.
grep -q 'defaultSandboxOOMAdj int = 0' "$TREE"/pkg/kubelet/dockershim/docker_sandbox.go
grep -q 'guaranteedOOMScoreAdj int = 0' "$TREE"/pkg/kubelet/qos/policy.go
grep -q 'b := KernelTunableWarn' "$TREE"/pkg/kubelet/cm/container_manager_linux.go
[ -f "$TREE"/vendor/github.com/modern-go/reflect2/go_above_118.go ]

# 4. dockershim's container manager finds *every* process named dockerd/docker-containerd on the machine
#    every 5 minutes and sets its oom_score_adj to -999: on a shared machine that would reach other
#    people's engines. Our dockerd is the kubelet's alone and needs no protection: never start that loop.
sed -i 's|^\tgo wait.Until(m.doWork, 5\*time.Minute, wait.NeverStop)$|\t_, _, _ = m.doWork, wait.NeverStop, time.Minute // slipway test bed: never touch other dockerd processes|' \
  "$TREE"/pkg/kubelet/dockershim/cm/container_manager_linux.go
grep -q 'slipway test bed: never touch other dockerd' "$TREE"/pkg/kubelet/dockershim/cm/container_manager_linux.go

# 5. The device manager hard-codes its socket dir /var/lib/kubelet/device-plugins/ and empties it at start:
#    two kubelets (clusters a and b) would delete each other's socket, and a host kubelet's. Take the dir
#    from SLIPWAY_KUBELET_DEVICE_PLUGINS_DIR (set per node by the test bed), else the upstream default.
DM="$TREE"/pkg/kubelet/cm/devicemanager/manager.go
sed -i 's|^\treturn newManagerImpl(pluginapi.KubeletSocket, topology, topologyAffinityStore)$|\treturn newManagerImpl(slipwayKubeletSocket(), topology, topologyAffinityStore)|' "$DM"
cat >>"$DM" <<'GO'

// slipwayKubeletSocket: the slipway test bed keeps each kubelet's device-plugin socket under its own dir.
func slipwayKubeletSocket() string {
	if d := os.Getenv("SLIPWAY_KUBELET_DEVICE_PLUGINS_DIR"); d != "" {
		return filepath.Join(d, "kubelet.sock")
	}
	return pluginapi.KubeletSocket
}
GO
grep -q 'newManagerImpl(slipwayKubeletSocket()' "$DM"
