# sfmc-bridge, installed the way a package user installs it. Stage 1 installs the locked
# dependencies (`npm ci`, devDependencies included: the compiler) and packs the project, which
# builds dist/ on prepack. Stage 2 holds only what the package ships (dist/, bin/, config/,
# force-app/; no sources, since Node does not strip types under node_modules) and installs its
# runtime dependencies from the same lock with `npm ci --omit=dev`, so the image gets exactly the
# versions CI tested.
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp/pack \
 && mkdir /tmp/package && tar -xzf /tmp/pack/sfmc-bridge-*.tgz -C /tmp/package --strip-components=1

FROM node:24-slim
ENV NODE_ENV=production \
    SFMC_BRIDGE_CONFIG=/app/config/bridge.json
WORKDIR /app
COPY --from=build /tmp/package/ ./
COPY --from=build /src/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The project's own mappers (routes' `mapper` names) are looked up in /app/mappers before the
# shipped ones: copy or mount them there, beside the config.

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
