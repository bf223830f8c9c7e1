# syntax=docker/dockerfile:1
# Two stages: compile the TypeScript and the native SQLite binding in a builder, then ship
# only production dependencies and dist/ (no tsx, esbuild or TypeScript) in a slim image
# that runs as a non-root user.
#
#   docker build -t mcp-session-probe .
#   docker run --rm -p 127.0.0.1:8787:8787 -v mcp-probe-data:/data \
#     -e MCP_PROBE_ADMIN_TOKEN="$(openssl rand -hex 16)" mcp-session-probe
#
# Node 22 is an LTS line; better-sqlite3 12.x ships prebuilt binaries for it and compiles
# from source (python3, make, g++ below) where none matches the platform.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY drizzle ./drizzle
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MCP_PROBE_LOG_FORMAT=json
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/drizzle ./drizzle
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node scripts/healthcheck.mjs ./scripts/healthcheck.mjs
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8787
# All interfaces inside the container, so the published port reaches it. That is not
# loopback: the admin API and the dashboard then need the admin token (MCP_PROBE_ADMIN_TOKEN
# or admin.token in the config); serve warns at start-up when there is none.
# With a config (MCP_PROBE_CONFIG=/config.yaml), --db still keeps the SQLite store in /data;
# for PostgreSQL pass your own command: serve --host 0.0.0.0 --config /config.yaml
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--host", "0.0.0.0", "--db", "/data/mcp-session-probe.db"]
# Finds the port serve listens on (its --port, the config, or 8787) and asks /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
