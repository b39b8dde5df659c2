# token-ledger service image.
#   docker build -t token-ledger .
#   docker run -p 8080:8080 -v ledger-data:/data token-ledger
# Without LEDGER_EVENTSTORE_URL the service uses its embedded SQLite store under /data.

# ---- build: compile TypeScript and native modules (better-sqlite3, argon2) ----
FROM node:20-slim AS build
# Toolchain for node-gyp, used when no prebuilt binary matches this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Source is copied explicitly (not `COPY . .`) so a host node_modules/ or dist/ never enters the image.
# services/revocations imports the wire contract from clients/; examples/ ships the runnable subscriber
# (node dist/examples/revocation-subscriber.js). tsconfig's other folders (bench, test) are left out on purpose.
COPY tsconfig.json ./
COPY events ./events
COPY projections ./projections
COPY services ./services
COPY clients ./clients
COPY examples ./examples
# The web console's sources (Vite builds them into dist/console).
COPY console ./console
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime ----
FROM node:20-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    LEDGER_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# The Kafka publisher can also run on its own: node dist/services/workers/run-publisher.js
CMD ["node", "dist/services/cli/main.js", "serve"]
