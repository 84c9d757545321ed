# syntax=docker/dockerfile:1
# gradloom: build with the dev dependencies, run with the production ones only, as a non-root user.
#   docker build -t gradloom .
#   docker run -p 8080:8080 -v gradloom-data:/data -e API_KEYS='alice:<a long random key>' gradloom
# The image listens on 0.0.0.0, so it refuses to start without API keys (API_KEYS or API_KEYS_FILE).

FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 ships prebuilt binaries for Node 22 on glibc; the toolchain is the fallback when none fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY bench ./bench
COPY examples ./examples
# The optional native accelerator: built here with the toolchain above (a failed build only warns).
COPY native ./native
RUN npm run build \
 && mkdir -p native/build/Release \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release ./native/build/Release
COPY public ./public
RUN mkdir -p /data && chown node:node /data
# The official image's unprivileged user (uid 1000).
USER node
VOLUME ["/data"]
EXPOSE 8080
# No curl in the slim image: Node's fetch asks /healthz (liveness; /readyz is for load balancers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Not `npm start`: no rebuild check in the image, and signals reach Node directly (SIGTERM drains). The V8 flags are
# npm start's (src/service/node-flags.ts says why).
CMD ["node", "--single-threaded-gc", "dist/src/service/main.js"]
