// Where the bundled model repository is (this directory), for the demo and
// the benchmarks alike: both may import models/, neither may import the
// other's code. This module compiles to dist/models/bundled.js, while the
// repository itself (config.yaml, the generated model.onnx files) stays in
// models/, so from dist/ it points back up.
import * as path from 'node:path';

/** The repository's bundled models, from src or dist. */
export const BUNDLED_MODELS = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../models' : '.');
