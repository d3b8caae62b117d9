#!/usr/bin/env bash
# Installs (when missing), starts, checks and stops the real services Slipway runs on:
# Redis, a Docker engine of its own, two local registries (the distribution v2 server inside Harbor):
# the second one stands for the production registry that images are promoted to, and nginx, the
# docker host's front proxy (an instance of its own: config, pid and logs under $DIR/nginx, never
# the system's /etc/nginx; Slipway writes one site file per service and environment into sites/ and
# reloads it).
# Shared by the demo, the tests and .ci/run. Idempotent: `start` twice starts nothing new, and
# `stop` stops only what this script started (tracked by pid files under the state dir).
#
#   .ci/services.sh install|start|status|stop|env|base-image
#
# Environment (all optional):
#   SLIPWAY_SERVICES_DIR   state dir (default /var/tmp/slipway-services)
#   SLIPWAY_REDIS_PORT     default 6390      SLIPWAY_REGISTRY_PORT  default 5050
#   SLIPWAY_REGISTRY2_PORT default 5051
#   SLIPWAY_DOCKER_SOCK    default /run/slipway-docker.sock
#   SLIPWAY_FRONT_PROXY_DIR default $SLIPWAY_SERVICES_DIR/nginx (the front proxy's own config dir)
set -euo pipefail

DIR=${SLIPWAY_SERVICES_DIR:-/var/tmp/slipway-services}
REDIS_PORT=${SLIPWAY_REDIS_PORT:-6390}
REGISTRY_PORT=${SLIPWAY_REGISTRY_PORT:-5050}
REGISTRY2_PORT=${SLIPWAY_REGISTRY2_PORT:-5051}
DOCKER_SOCK=${SLIPWAY_DOCKER_SOCK:-/run/slipway-docker.sock}
# exec-root holds containerd shim sockets, whose paths must stay short (108 bytes).
DOCKER_EXEC_ROOT=${SLIPWAY_DOCKER_EXEC_ROOT:-/run/slipway-docker-exec}
BASE_IMAGE=${SLIPWAY_BASE_IMAGE:-slipway/busybox:1}
NGINX_DIR=${SLIPWAY_FRONT_PROXY_DIR:-$DIR/nginx}

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# command -> Debian package that provides it
declare -A PKG=([redis-server]=redis-server [redis-cli]=redis-tools [dockerd]=docker.io [docker]=docker.io
  [docker-registry]=docker-registry [busybox]=busybox-static [git]=git [curl]=curl [nginx]=nginx [prometheus]=prometheus
  [chromium]=chromium) # chromium: the web UI's browser tests (playwright-core drives it)

install() {
  local missing=()
  for cmd in "${!PKG[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG[$cmd]}"); done
  # busybox must be the static build: it is copied into a FROM-scratch image.
  if command -v busybox >/dev/null && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked'; then
    missing+=(busybox-static)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$DIR/apt.log" 2>&1 || {
    apt-get update -q >>"$DIR/apt.log" 2>&1
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$DIR/apt.log" 2>&1 || die "apt-get install failed: see $DIR/apt.log"
  }
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  log "$what ready"
}

redis_ok() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
docker_ok() { docker -H "unix://$DOCKER_SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
registry_ok() { curl -fsS "http://127.0.0.1:${1:-$REGISTRY_PORT}/v2/" >/dev/null 2>&1; }
nginx_ok() { alive "$NGINX_DIR/nginx.pid"; }

start_redis() {
  if redis_ok; then log "redis already answering on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$DIR/redis"
  # appendfsync always: a webhook is acknowledged only after its event is on disk (Redis 7.0 has no WAITAOF).
  # noeviction: BullMQ must never lose keys to memory pressure.
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --daemonize yes \
    --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --appendonly yes --appendfsync always \
    --maxmemory-policy noeviction --save "" --protected-mode yes
  wait_for 10 "redis on 127.0.0.1:$REDIS_PORT" redis_ok || die "redis did not start: see $DIR/redis.log"
}

start_docker() {
  if docker_ok; then log "docker engine already answering on $DOCKER_SOCK"; return; fi
  # overlay2 where the kernel and filesystem allow it (ext4 here): layers are shared, so a warm
  # rebuild copies only what changed (docs/benchmarks.md). vfs, which copies every layer whole,
  # works anywhere and is the fallback. Each driver keeps its own data root.
  local driver
  for driver in ${SLIPWAY_DOCKER_STORAGE_DRIVER:-overlay2 vfs}; do
    mkdir -p "$DIR/docker-data-$driver" "$DOCKER_EXEC_ROOT"
    # No iptables and no bridge: containers use host networking or none.
    setsid dockerd --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none \
      -H "unix://$DOCKER_SOCK" --data-root "$DIR/docker-data-$driver" --exec-root "$DOCKER_EXEC_ROOT" \
      --pidfile "$DIR/dockerd.pid" --insecure-registry "127.0.0.1:$REGISTRY_PORT" --insecure-registry "127.0.0.1:$REGISTRY2_PORT" \
      >"$DIR/dockerd.log" 2>&1 < /dev/null &
    if wait_for 60 "docker engine on $DOCKER_SOCK ($driver)" docker_ok; then return; fi
    log "dockerd with $driver did not start; see $DIR/dockerd.log"
    stop_pid dockerd "$DIR/dockerd.pid"
  done
  die "dockerd did not start: see $DIR/dockerd.log"
}

start_registry() { # start_registry NAME PORT: NAME names its storage, config, log and pid file
  local name=$1 port=$2
  if registry_ok "$port"; then log "$name already answering on 127.0.0.1:$port"; return; fi
  mkdir -p "$DIR/$name"
  cat >"$DIR/$name.yml" <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $DIR/$name }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$port
YML
  setsid docker-registry serve "$DIR/$name.yml" >"$DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$DIR/$name.pid"
  wait_for 20 "$name on 127.0.0.1:$port" registry_ok "$port" || die "$name did not start: see $DIR/$name.log"
}

start_nginx() {
  # Debian's package would start the system nginx on :80; policy-rc.d (or its absence of an init) keeps
  # it down here, and this instance never reads /etc/nginx: its config is $NGINX_DIR/nginx.conf.
  if nginx_ok; then log "nginx (front proxy) already running from $NGINX_DIR"; return; fi
  mkdir -p "$NGINX_DIR/sites" "$NGINX_DIR/temp" "$NGINX_DIR/logs"
  # worker_processes 1: nginx's weighted round robin is per worker, so one worker makes a canary's
  # split exact to one request (docs/decisions.md). worker_shutdown_timeout bounds how long a reload's
  # old workers may keep serving open connections before they are closed.
  cat >"$NGINX_DIR/nginx.conf" <<CONF
# The front proxy of Slipway's docker host (written by .ci/services.sh; Slipway writes sites/*.conf).
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
worker_shutdown_timeout 30s;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/temp/body;
  proxy_temp_path $NGINX_DIR/temp/proxy;
  fastcgi_temp_path $NGINX_DIR/temp/fastcgi;
  uwsgi_temp_path $NGINX_DIR/temp/uwsgi;
  scgi_temp_path $NGINX_DIR/temp/scgi;
  include $NGINX_DIR/sites/*.conf;
}
CONF
  nginx -t -q -e "$NGINX_DIR/logs/error.log" -c "$NGINX_DIR/nginx.conf" >"$DIR/nginx.log" 2>&1 \
    || die "the front proxy's config does not pass nginx -t: see $DIR/nginx.log"
  # nginx daemonizes itself and writes its pid file; the master runs as root, its worker as www-data.
  nginx -e "$NGINX_DIR/logs/error.log" -c "$NGINX_DIR/nginx.conf" >>"$DIR/nginx.log" 2>&1 < /dev/null \
    || die "nginx did not start: see $DIR/nginx.log and $NGINX_DIR/logs/error.log"
  wait_for 10 "nginx (front proxy, $NGINX_DIR)" nginx_ok || die "nginx did not start: see $NGINX_DIR/logs/error.log"
}

base_image() {
  # There is no Docker Hub here: the base image is a static busybox in a FROM-scratch image.
  if docker -H "unix://$DOCKER_SOCK" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  local ctx; ctx=$(mktemp -d)
  mkdir -p "$ctx/bin"; cp "$(command -v busybox)" "$ctx/bin/busybox"
  cat >"$ctx/Dockerfile" <<'DF'
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
CMD ["/bin/sh"]
DF
  DOCKER_BUILDKIT=0 docker -H "unix://$DOCKER_SOCK" build -q -t "$BASE_IMAGE" "$ctx" >/dev/null 2>"$DIR/base-image.log" \
    || die "base image build failed: see $DIR/base-image.log"
  rm -rf "$ctx"
  log "base image $BASE_IMAGE built"
}

stop_pid() { # stop_pid NAME PIDFILE
  if alive "$2"; then
    log "stopping $1"; kill "$(cat "$2")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$2" || break; sleep 0.2; done
    alive "$2" && kill -9 "$(cat "$2")" 2>/dev/null || true
  fi
  rm -f "$2"
}

status() {
  local rc=0
  redis_ok && log "redis: up (127.0.0.1:$REDIS_PORT)" || { log "redis: down"; rc=1; }
  docker_ok && log "docker: up ($DOCKER_SOCK)" || { log "docker: down"; rc=1; }
  registry_ok && log "registry: up (127.0.0.1:$REGISTRY_PORT)" || { log "registry: down"; rc=1; }
  registry_ok "$REGISTRY2_PORT" && log "registry2: up (127.0.0.1:$REGISTRY2_PORT)" || { log "registry2: down"; rc=1; }
  nginx_ok && log "nginx: up ($NGINX_DIR)" || { log "nginx: down"; rc=1; }
  return $rc
}

print_env() {
  echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  echo "DOCKER_HOST=unix://$DOCKER_SOCK"
  echo "SLIPWAY_REGISTRY=127.0.0.1:$REGISTRY_PORT"
  echo "SLIPWAY_REGISTRY2=127.0.0.1:$REGISTRY2_PORT"
  echo "SLIPWAY_BASE_IMAGE=$BASE_IMAGE"
  echo "SLIPWAY_FRONT_PROXY_DIR=$NGINX_DIR"
}

mkdir -p "$DIR"
case "${1:-}" in
  install) install ;;
  start)
    # `start` alone starts everything; `start docker registry` only those (the demo brings its own Redis).
    # `registry` starts both registries (promotion needs two); `registry2` only the second.
    shift; parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(redis docker registry nginx)
    install
    for p in "${parts[@]}"; do
      case "$p" in
        redis) start_redis ;; docker) start_docker; base_image ;; registry) start_registry registry "$REGISTRY_PORT"; start_registry registry2 "$REGISTRY2_PORT" ;;
        registry2) start_registry registry2 "$REGISTRY2_PORT" ;;
        nginx) start_nginx ;;
        *) die "unknown service '$p' (redis, docker, registry, registry2, nginx)" ;;
      esac
    done ;;
  status) status ;;
  stop)
    # Containers of ours first, so the engine stops cleanly.
    if docker_ok >/dev/null 2>&1 && alive "$DIR/dockerd.pid"; then
      ids=$(docker -H "unix://$DOCKER_SOCK" ps -aq --filter label=io.slipway.managed=true)
      [ -z "$ids" ] || docker -H "unix://$DOCKER_SOCK" rm -f $ids >/dev/null
    fi
    stop_pid nginx "$NGINX_DIR/nginx.pid"; stop_pid registry2 "$DIR/registry2.pid"; stop_pid registry "$DIR/registry.pid"; stop_pid dockerd "$DIR/dockerd.pid"; stop_pid redis "$DIR/redis.pid" ;;
  env) print_env ;;
  base-image) base_image ;;
  *) echo "usage: $0 install|start|status|stop|env|base-image" >&2; exit 2 ;;
esac
