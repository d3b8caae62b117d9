# Slipway as an image: compiled JavaScript on a Node runtime with git (the build role keeps git
# mirrors), run as a non-root user. There is no Docker Hub here: `.ci/slipway-image.sh build`
# makes the base from this machine's node and git and streams this context with node_modules
# (installed by `npm ci`), so the build needs no registry. Elsewhere, any image with node >= 20.19,
# npm, git and a `slipway` user (uid 10001) can be the base: --build-arg NODE_BASE=...
ARG NODE_BASE=slipway/node-git:20.20.2-r2

# Every dependency as installed by npm ci; unchanged package files and modules keep this layer cached.
FROM ${NODE_BASE} AS modules
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules/ node_modules/

# tsc → dist/ (src/ and workers/).
FROM modules AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY workers/ workers/
RUN npm run build

# What runs: production dependencies only (npm prune only removes, it fetches nothing).
FROM modules AS runtime-modules
RUN npm prune --omit=dev --no-audit --no-fund --offline

FROM ${NODE_BASE}
WORKDIR /app
COPY package.json ./
COPY pipelines/ pipelines/
COPY ui/ ui/
COPY --from=runtime-modules /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
# Listen on all interfaces inside the container; data (an embedded Redis, the API token file) and
# the workspace under a volume the slipway user owns. NODE_OPTIONS: V8's young generation capped at
# 2 × 4 MB instead of 2 × 16 MB, what `npm start` passes too (docs/decisions.md, "Memory per process").
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    SLIPWAY_HOST=0.0.0.0 \
    SLIPWAY_PORT=8080 \
    SLIPWAY_DATA_DIR=/var/lib/slipway \
    SLIPWAY_WORKSPACE_DIR=/var/lib/slipway/workspace
VOLUME ["/var/lib/slipway"]
USER 10001:10001
EXPOSE 8080 9464
# /healthz on SLIPWAY_METRICS_PORT when set (worker-only processes have no other listener), else SLIPWAY_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const e=process.env,p=e.SLIPWAY_METRICS_PORT||e.SLIPWAY_PORT||'8080',h=!e.SLIPWAY_HOST||e.SLIPWAY_HOST==='0.0.0.0'?'127.0.0.1':e.SLIPWAY_HOST;fetch('http://'+h+':'+p+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
