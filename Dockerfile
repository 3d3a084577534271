# syntax=docker/dockerfile:1
# test/smoke.test.ts repeats these steps outside docker; keep the two in step.

# Build stage: full dependency tree (typescript is a devDependency) and tsc.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first so the dependency layer is cached across source changes.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY function/ ./function/
RUN npx tsc -p tsconfig.json

# Runtime stage: production dependencies and compiled JS only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script at runtime, and not
# running them keeps third-party code out of the image build.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay root-owned, so the function cannot modify its own code.
USER node
EXPOSE 9443 8080
# Exec form: node is PID 1 and receives SIGTERM directly, which main.ts turns
# into a graceful drain.
ENTRYPOINT ["node", "dist/function/main.js"]
