#!/usr/bin/env bash
# Builds Slipway's image without Docker Hub or a package registry:
#
#   .ci/slipway-image.sh base          the Node + git runtime base (slipway/node-git:<node version>-r2)
#   .ci/slipway-image.sh build [TAG]   the base if missing, then Slipway's Dockerfile (default TAG slipway/slipway:dev)
#
# The base is this machine's own Node (binary, npm) and git (git, its helpers such as
# git-remote-https, templates), each with the shared libraries ldd names, the CA bundle and a
# `slipway` user (uid 10001), on top of the services' static busybox image (slipway/busybox:1,
# built by `.ci/services.sh base-image`), so the image has a shell for git's helpers.
# Slipway's Dockerfile then compiles with the checkout's installed node_modules (`npm ci` first):
# the context is streamed as a tar that holds node_modules itself (a symlink in worktrees), so no
# registry is needed during the build.
#
# Environment: DOCKER_HOST (default unix:///run/slipway-docker.sock), SLIPWAY_BASE_IMAGE
# (default slipway/busybox:1), SLIPWAY_NODE_BASE (default slipway/node-git:<host node version>-r2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/slipway-docker.sock}
BUSYBOX_IMAGE=${SLIPWAY_BASE_IMAGE:-slipway/busybox:1}
NODE_VERSION=$(node -p 'process.versions.node')
# -rN: the recipe below; bump it when the base changes, so a machine with the old base builds the new one.
NODE_BASE=${SLIPWAY_NODE_BASE:-slipway/node-git:$NODE_VERSION-r2}

log() { printf '[slipway-image] %s\n' "$*" >&2; }
die() { printf '[slipway-image] error: %s\n' "$*" >&2; exit 1; }

# Every file the dynamic loader needs for these ELF files (ldd's resolved paths and the loader itself).
libs_of() {
  local f
  for f in "$@"; do
    file -L "$f" 2>/dev/null | grep -q 'ELF.*dynamically linked' || continue
    ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'
  done | sort -u
}

base() {
  if docker image inspect "$NODE_BASE" >/dev/null 2>&1; then return; fi
  docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1 || bash "$ROOT/.ci/services.sh" base-image
  local node git_core npm_dir ctx
  node=$(readlink -f "$(command -v node)")
  git_core=$(git --exec-path)
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  local root="$ctx/rootfs"
  mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/share/git-core" "$root/etc/ssl/certs" "$root/home/slipway" "$root/var/lib/slipway" "$root/tmp"
  cp "$node" "$root/usr/bin/node"
  cp "$(command -v git)" "$root/usr/bin/git"
  # -a keeps the builtins' hard links to git: the helpers take 23 MB, not 23 copies of git.
  cp -a "$git_core" "$root/usr/lib/git-core"
  cp -a /usr/share/git-core/templates "$root/usr/share/git-core/templates"
  mkdir -p "$root/usr/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
  # npm's scripts start with #!/usr/bin/env node.
  ln -s /bin/busybox "$root/usr/bin/env"
  local lib
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(libs_of "$node" "$(command -v git)" "$git_core"/*)
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\nslipway:x:10001:10001:slipway:/home/slipway:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nslipway:x:10001:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  cat >"$ctx/Dockerfile" <<DF
FROM $BUSYBOX_IMAGE
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt
LABEL io.slipway.node="$NODE_VERSION" io.slipway.git="$(git --version | awk '{print $3}')"
# COPY makes everything root's: the user's home and data dir are its own.
RUN ["/bin/chown", "-R", "10001:10001", "/home/slipway", "/var/lib/slipway"]
RUN ["/usr/bin/node", "--version"]
RUN ["/usr/bin/git", "--version"]
CMD ["/usr/bin/node"]
DF
  log "building $NODE_BASE from this machine's node $NODE_VERSION and $(git --version)"
  DOCKER_BUILDKIT=0 docker build -t "$NODE_BASE" "$ctx" >"$ctx/build.log" 2>&1 || { tail -40 "$ctx/build.log" >&2; die "building $NODE_BASE failed"; }
}

build() {
  local tag=${1:-slipway/slipway:dev}
  base
  local modules
  modules=$(readlink -f "$ROOT/node_modules")
  [ -d "$modules/typescript" ] || die "node_modules has no typescript: run npm ci first"
  log "building $tag on $NODE_BASE"
  local log
  log=$(mktemp)
  trap 'rm -f "$log"' RETURN
  # node_modules comes from where the link points (-C), so links inside it (.bin/tsc) stay links.
  # Vitest's caches under node_modules change with every test run: left out, they would defeat the layer cache.
  tar -c --exclude="$(basename "$modules")/.vite" --exclude="$(basename "$modules")/.vite-temp" --exclude="$(basename "$modules")/.cache" \
      -C "$ROOT" Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json src workers pipelines ui \
      -C "$(dirname "$modules")" "$(basename "$modules")" \
    | DOCKER_BUILDKIT=0 docker build --build-arg "NODE_BASE=$NODE_BASE" -t "$tag" - >"$log" 2>&1 \
    || { tail -40 "$log" >&2; die "building $tag failed"; }
  log "built $tag"
}

case "${1:-}" in
  base) base ;;
  build) build "${2:-}" ;;
  *) echo "usage: $0 base | build [TAG]" >&2; exit 2 ;;
esac
