# sfmc-bridge: Node 24 runs the TypeScript sources directly (type stripping), so there is no
# build stage. The lock file carries optional packages for other platforms, which `npm ci`
# refuses; `npm install --omit=dev` against the same lock installs the runtime dependencies.
FROM node:24-slim

ENV NODE_ENV=production \
    SFMC_BRIDGE_CONFIG=/app/config/bridge.json
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY subscribers ./subscribers
COPY mappers ./mappers
COPY config ./config

# The store lives on a volume owned by the unprivileged `node` user of the base image.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]

# Admin listener (/healthz, /readyz, /metrics, status page). In a container set
# admin.host to "0.0.0.0" and admin.token (or admin.probesOnly: true, probes and metrics
# only) so Prometheus and probes can reach it; a non-loopback host with neither is exit 2.
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM drains deliveries in flight for up to shutdownTimeoutMs (default 8 s): run
# `docker stop -t 15` or give the orchestrator a grace period above it.
STOPSIGNAL SIGTERM
CMD ["node", "bin/sfmc-bridge.js", "start"]
