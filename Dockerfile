# syntax=docker/dockerfile:1
# test/smoke.test.ts repeats these steps outside docker; keep the two in step.

# Build stage: full dependency tree (typescript and esbuild are devDependencies),
# tsc, then esbuild bundles the entry point and its dependencies into one file.
FROM node:20-bookworm-slim AS build
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
# source map (for `node --enable-source-maps`) and the bundled packages'
# licences sit next to it.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/dist/function-lambda-canary.mjs /app/dist/function-lambda-canary.mjs.map /app/dist/function-lambda-canary.licenses.txt ./dist/
# Files stay root-owned, so the function cannot modify its own code.
USER node
EXPOSE 9443 8080
# Exec form: node is PID 1 and receives SIGTERM directly, which main.ts turns
# into a graceful drain.
ENTRYPOINT ["node", "dist/function-lambda-canary.mjs"]
