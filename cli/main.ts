#!/usr/bin/env node
// The `infergate` command: one binary, one subcommand per component.
import { UsageError, parseFlags } from '../common/flags';
import { balancerSpec, runBalancerCommand } from './balancer-command';
import { runSidecarCommand, sidecarSpec } from './sidecar-command';
import { demoSpec, runDemoCommand } from './demo-command';
import { discoverySpec, runDiscoveryCommand } from './discovery-command';
import { openRoutingConfigSource } from '../routing-config/source';
import { benchSpec, runBenchCommand } from './bench-command';

interface Sub {
  readonly summary: string;
  run(argv: string[]): Promise<void>;
}

const commands: Record<string, Sub> = {
  sidecar: {
    summary: sidecarSpec.summary,
    run: async (argv) => {
      const f = parseFlags(sidecarSpec, argv);
      if (f) await runSidecarCommand(f);
    },
  },
  discovery: {
    summary: discoverySpec.summary,
    run: async (argv) => {
      const f = parseFlags(discoverySpec, argv);
      if (f) await runDiscoveryCommand(f, { openConfig: (file, log) => openRoutingConfigSource({ file, log }) });
    },
  },
  balancer: {
    summary: balancerSpec.summary,
    run: async (argv) => {
      const f = parseFlags(balancerSpec, argv);
      if (f) await runBalancerCommand(f);
    },
  },
  demo: {
    summary: demoSpec.summary,
    run: async (argv) => {
      const f = parseFlags(demoSpec, argv);
      if (f) await runDemoCommand(f);
    },
  },
  bench: {
    summary: benchSpec.summary,
    run: async (argv) => {
      const f = parseFlags(benchSpec, argv);
      if (f) await runBenchCommand(f);
    },
  },
};

function usage(): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length)) + 2;
  return `Usage: infergate <command> [flags]\n\nCommands:\n${Object.entries(commands)
    .map(([k, c]) => `  ${k.padEnd(w)}${c.summary}`)
    .join('\n')}\n\nRun 'infergate <command> --help' for a command's flags.\n`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command '${name}'\n\n${usage()}`);
  await cmd.run(rest);
}

main(process.argv.slice(2)).then(
  () => undefined,
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`infergate: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`infergate: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
