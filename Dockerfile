# syntax=docker/dockerfile:1
# test/smoke.test.ts repeats these steps outside docker; keep the two in step.

# Build stage: full dependency tree (typescript and esbuild are devDependencies),
# tsc, then esbuild bundles the entry point and its dependencies into one file
# (and a directory of chunks it loads lazily).
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
# Manifests first so the dependency layer is cached across source changes.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY function/ ./function/
COPY scripts/bundle.ts ./scripts/
# tsc -p tsconfig.json && node dist/scripts/bundle.js
RUN npm run build

# Runtime stage: the bundle alone. It holds every dependency (the build fails
# if anything but a Node built-in is left out), so there is no node_modules and
# no npm install here: one file to load at startup, and a smaller image. Its
# source map (for `node --enable-source-maps`), the bundled packages' licences
# and the chunks it imports only when needed sit next to it.
FROM node:24.22.3-bookworm-slim
ENV NODE_ENV=production
# V8 heap sizes. With its defaults on a large node V8 lets the heap grow to
# ~150 MB RSS under 64 concurrent calls; a 1 MB young-generation semi-space
# and a 512 MB old-generation cap keep it near 85 MB, for about a third more
# CPU per call at 64 in flight and none at 1 (docs/performance.md, "Memory").
# 512 MB is far above what the largest request the default
# --max-recv-msg-size admits needs; raise it with the limit. npm run bench
# and npm run load read this line and run the function with it.
ENV NODE_OPTIONS="--max-old-space-size=512 --max-semi-space-size=1"
WORKDIR /app
COPY --from=build /app/dist/function-lambda-canary.mjs /app/dist/function-lambda-canary.mjs.map /app/dist/function-lambda-canary.licenses.txt ./dist/
# What the bundle loads only when a rollout first measures (the AWS SDK's CloudWatch client).
COPY --from=build /app/dist/function-lambda-canary-chunks/ ./dist/function-lambda-canary-chunks/
# Files stay root-owned, so the function cannot modify its own code.
USER node
EXPOSE 9443 8080
# Exec form: node is PID 1 and receives SIGTERM directly, which main.ts turns
# into a graceful drain.
ENTRYPOINT ["node", "dist/function-lambda-canary.mjs"]
