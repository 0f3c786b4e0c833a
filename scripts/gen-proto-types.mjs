// Generates TypeScript types from proto/*.proto with @grpc/proto-loader's own
// generator, so protocol types are never written twice by hand. The options
// must match PROTO_LOADER_OPTIONS in common/proto.ts.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
rmSync('proto/gen', { recursive: true, force: true });
execFileSync(process.execPath, [
  bin,
  // Positional file names first: yargs reads every word after an array
  // option such as --includeDirs as part of that array.
  'inference.proto', 'orca_load_report.proto', 'discovery.proto',
  '--keepCase', '--longs=Number', '--enums=String', '--defaults', '--oneofs',
  '--grpcLib=@grpc/grpc-js', '--outDir=proto/gen', '--includeDirs=proto',
  'inference.proto', 'orca_load_report.proto', 'discovery.proto',
], { stdio: 'inherit' });
