# infergate: one image for every component; the first argument picks which
# (discovery | balancer | sidecar | demo, each with --help).
#
#   docker build -t infergate .                                    # CPU (default)
#   docker build -t infergate:cuda --build-arg FLAVOR=cuda .       # CUDA 12 + cuDNN 9 + TensorRT 10
#   docker run --rm -p 8000-8002:8000-8002 infergate sidecar       # the bundled models in /app/models
#   docker run --rm -v $PWD/my-models:/models infergate sidecar --models /models
#
# README.md "Operating infergate" has ports, the CUDA image and Kubernetes.
# test/packaging/dockerfile.test.ts checks this file without a Docker engine: keep
# instructions on their own lines and JSON (exec) forms where they are now.

ARG NODE_IMAGE=node:20-bookworm-slim
# ONNX Runtime 1.2x-1.3x GPU builds need CUDA 12.x and cuDNN 9.x (any 12.x minor works).
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
# cpu | cuda: which runtime base (stage base-${FLAVOR}) the final image starts from.
ARG FLAVOR=cpu

# ---- build: every dependency, protocol types, TypeScript, generated models.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so editing sources reuses the dependency layer. .npmrc
# (onnxruntime-node-install=skip) keeps onnxruntime-node from fetching GPU
# binaries: the build only runs the CPU provider (gen-models checks nothing on GPU).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
# Sources; .dockerignore drops node_modules, dist and generated files, so the
# build below regenerates proto/gen, dist/ and models/*/N/model.onnx here.
COPY . .
RUN npm run build

# ---- runtime bases: Node's slim image, or NVIDIA's CUDA runtime with Node added.
FROM ${NODE_IMAGE} AS base-cpu

FROM ${CUDA_IMAGE} AS base-cuda
# Node and npm from the official image (same version as the build stage).
COPY --from=base-cpu /usr/local/bin/node /usr/local/bin/node
COPY --from=base-cpu /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
# TensorRT's runtime libraries come from the CUDA apt repository the base image
# already lists. Pin them (libnvinfer10=10.x.y-1+cuda12.z, same for the others)
# when that repository's newest TensorRT targets a newer CUDA than CUDA_IMAGE.
ARG TENSORRT_PACKAGES="libnvinfer10 libnvinfer-plugin10 libnvonnxparsers10"
# uid 1000 as in the node image (Ubuntu 24.04 bases already have it as `ubuntu`: drop the useradd there).
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update \
 && apt-get install -y --no-install-recommends ${TENSORRT_PACKAGES} \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin node

# ---- runtime: production dependencies, the built output, the bundled models.
FROM base-${FLAVOR} AS runtime
ARG FLAVOR
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Production dependencies only; .npmrc skips onnxruntime-node's GPU download.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# CUDA flavor: fetch ONNX Runtime's CUDA and TensorRT provider libraries
# (not on the npm registry; README "GPU execution providers"). Run directly
# rather than as npm's postinstall, which newer npm only runs once approved.
RUN if [ "$FLAVOR" = cuda ]; then ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js; fi
COPY --from=build /app/dist ./dist
# The .proto files are read at run time (protocol/proto.ts PROTO_DIR).
COPY --from=build /app/proto/*.proto ./proto/
# The bundled repository, inside the package so the recommend workflow finds
# its compiled module under dist/models/. Mount your own at /models and pass
# --models /models (workflow models there need a .js module beside config.yaml).
COPY --from=build /app/models ./models
# The node user of the base image; numeric so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# REST, gRPC and metrics (sidecar, balancer); discovery's gRPC and admin HTTP.
EXPOSE 8000 8001 8002 50050 50051
# One probe for every subcommand: find the infergate process in /proc (the
# first one, or HEALTHCHECK_PID), read its subcommand and port flags, and GET
# that component's health route: sidecar /v2/health/ready on --http-port
# (8000), balancer /readyz on --metrics-port (8002), discovery /healthz on
# --http-port (50051). Anything else (--help, a benchmark) has nothing to probe.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const fs = require('fs'), http = require('http'); \
const routes = { sidecar: ['http-port', 8000, '/v2/health/ready'], balancer: ['metrics-port', 8002, '/readyz'], discovery: ['http-port', 50051, '/healthz'] }; \
const pids = process.env.HEALTHCHECK_PID ? [process.env.HEALTHCHECK_PID] : fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).sort((a, b) => a - b); \
let argv = []; \
for (const p of pids) { try { const a = fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split(String.fromCharCode(0)); const i = a.findIndex((s) => s.endsWith('dist/cli/main.js')); if (i >= 0) { argv = a.slice(i + 1); break; } } catch {} } \
const route = routes[argv[0]]; \
if (!route) process.exit(0); \
const flag = (name, dflt) => { for (let i = 1; i < argv.length; i++) { if (argv[i] === '--' + name) return argv[i + 1]; if (argv[i].startsWith('--' + name + '=')) return argv[i].slice(name.length + 3); } return dflt; }; \
const bound = flag('host', ''); \
const host = !bound || bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound; \
http.get({ host, port: Number(flag(route[0], route[1])), path: route[2], timeout: 4000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)) \
  .on('timeout', () => process.exit(1)).on('error', () => process.exit(1));"]
# Exec form: node is PID 1 and gets SIGTERM itself (drain, then exit 0).
# This is the package's "bin" (infergate); the CMD below is its default argument.
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
