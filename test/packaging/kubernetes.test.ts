// The Kubernetes manifests parse, kustomization lists each of them, and
// their ports, probes, addresses and grace periods agree with the flags the
// containers are given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { sidecarSpec } from '../../cli/sidecar-command';
import { balancerSpec } from '../../cli/balancer-command';
import { discoverySpec } from '../../cli/discovery-command';
import { parseRoutingConfig } from '../../routing-config/parse';
import { HEALTH_ROUTES, ROOT } from '../helpers/packaging';

const SPECS: Record<string, { flags: Record<string, { name: string; default: unknown }> }> = {
  sidecar: sidecarSpec,
  balancer: balancerSpec,
  discovery: discoverySpec,
};

interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string };
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: string[];
  readonly env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  readonly ports?: Array<{ name?: string; containerPort: number }>;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly startupProbe?: Probe;
  readonly lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  readonly resources?: { limits?: Record<string, string | number> };
  readonly volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
}
interface PodSpec {
  readonly containers: Container[];
  readonly terminationGracePeriodSeconds?: number;
  readonly volumes?: Array<{ name: string; configMap?: { name: string } }>;
  readonly securityContext?: { runAsNonRoot?: boolean };
}
interface K8sObject {
  readonly file: string;
  readonly kind: string;
  readonly metadata: { name: string };
  readonly data?: Record<string, string>;
  readonly spec?: {
    replicas?: number;
    serviceName?: string;
    selector?: Record<string, unknown>;
    minReplicas?: number;
    maxReplicas?: number;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
    scaleTargetRef?: { kind: string; name: string };
  };
}

const K8S = path.join(ROOT, 'deploy/kubernetes');
const manifestFiles = fs
  .readdirSync(K8S)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const objects: K8sObject[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => {
    assert.deepEqual(d.errors.map(String), [], `${file} parses`);
    return { ...(d.toJS() as Omit<K8sObject, 'file'>), file };
  }),
);
const byKind = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const workloads = objects.filter((o) => o.spec?.template);
const kustomization = objects.find((o) => o.file === 'kustomization.yaml') as unknown as {
  resources: string[];
  images: Array<{ name: string }>;
};

const portOf = (c: Container, p: number | string): number | undefined =>
  typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort;

/** The containers (and their ports) a Service's port sends to. */
function serviceTargets(svc: K8sObject, port: number): Array<{ pod: K8sObject; container: Container; containerPort: number }> {
  const sp = svc.spec!.ports!.find((p) => p.port === port);
  assert.ok(sp, `Service ${svc.metadata.name} has port ${port}`);
  const selector = svc.spec!.selector as Record<string, string>;
  const pods = workloads.filter((w) => Object.entries(selector).every(([k, v]) => w.spec!.template!.metadata.labels[k] === v));
  return pods.flatMap((pod) =>
    pod.spec!.template!.spec.containers.flatMap((container) => {
      const containerPort = portOf(container, sp.targetPort ?? sp.port);
      return containerPort !== undefined && container.ports?.some((x) => x.containerPort === containerPort)
        ? [{ pod, container, containerPort }]
        : [];
    }),
  );
}

/** --name=value and --name value pairs of a container's args after the subcommand. */
function flagsOf(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/s.exec(args[i]);
    assert.ok(m, `'${args[i]}' is a --flag`);
    out.set(m[1], m[2] ?? args[++i]);
  }
  return out;
}

test('the Kubernetes manifests parse and kustomization.yaml lists every one of them', () => {
  assert.deepEqual(
    [...kustomization.resources].sort(),
    manifestFiles.filter((f) => f !== 'kustomization.yaml'),
  );
  const images = new Set(workloads.flatMap((w) => w.spec!.template!.spec.containers.map((c) => c.image.split(':')[0])));
  for (const i of kustomization.images) assert.ok(images.has(i.name), `kustomization's image ${i.name} is used`);
  for (const hpa of byKind('HorizontalPodAutoscaler')) {
    const target = objects.find((o) => o.kind === hpa.spec!.scaleTargetRef!.kind && o.metadata.name === hpa.spec!.scaleTargetRef!.name);
    assert.ok(target, `HPA ${hpa.metadata.name} scales an object defined here`);
    assert.equal(target.spec!.replicas, undefined, `${target.metadata.name} leaves replicas to the HPA`);
    assert.ok(hpa.spec!.minReplicas! <= hpa.spec!.maxReplicas!);
  }
  for (const svc of byKind('Service')) {
    for (const p of svc.spec!.ports!)
      assert.ok(serviceTargets(svc, p.port).length > 0, `Service ${svc.metadata.name}:${p.port} reaches a container port`);
  }
});

test('infergate containers: ports, probes and addresses follow their flags; grace periods exceed the drain', () => {
  const infergate = kustomization.images.map((i) => i.name);
  let seen = 0;
  for (const w of workloads) {
    const pod = w.spec!.template!.spec;
    for (const c of pod.containers.filter((x) => infergate.includes(x.image.split(':')[0]))) {
      const where = `${w.file} ${w.metadata.name}/${c.name}`;
      const [cmd, ...rest] = c.args ?? [];
      const spec = SPECS[cmd];
      assert.ok(spec, `${where}: runs discovery, balancer or sidecar (${cmd})`);
      seen++;
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
      const flags = flagsOf(rest);
      const byName = new Map(Object.values(spec.flags).map((f) => [f.name, f]));
      for (const name of flags.keys()) assert.ok(byName.has(name), `${where}: --${name} is a ${cmd} flag`);
      const value = (name: string): string => flags.get(name) ?? String(byName.get(name)!.default);
      for (const ref of rest.join(' ').matchAll(/\$\((\w+)\)/g))
        assert.ok(
          c.env?.some((e) => e.name === ref[1]),
          `${where}: $(${ref[1]}) is an env var`,
        );

      const listening = new Map([...byName.keys()].filter((n) => n.endsWith('-port')).map((n) => [Number(value(n)), n]));
      for (const p of c.ports ?? [])
        assert.ok(listening.has(p.containerPort), `${where}: containerPort ${p.containerPort} is one of its --*-port flags`);
      for (const p of listening.keys())
        assert.ok(
          c.ports?.some((x) => x.containerPort === p),
          `${where}: port ${p} is declared`,
        );
      assert.ok(c.readinessProbe && c.livenessProbe, `${where}: readiness and liveness probes`);
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe].filter((x) => x !== undefined)) {
        assert.ok(probe.httpGet, `${where}: HTTP probes`);
        const flag = listening.get(portOf(c, probe.httpGet.port) ?? -1);
        assert.ok(flag, `${where}: probe port ${probe.httpGet.port} is a port the flags open`);
        assert.ok(HEALTH_ROUTES[cmd][flag]?.includes(probe.httpGet.path), `${where}: ${probe.httpGet.path} is a health route on --${flag}`);
      }

      if (byName.has('drain-timeout-ms')) {
        const pre = c.lifecycle?.preStop;
        const preStop = pre?.sleep?.seconds ?? (pre?.exec?.command[0] === 'sleep' ? Number(pre.exec.command[1]) : 0);
        const grace = pod.terminationGracePeriodSeconds ?? 30;
        assert.ok(
          grace > preStop + Number(value('drain-timeout-ms')) / 1000,
          `${where}: terminationGracePeriodSeconds ${grace} > preStop ${preStop} s + drain ${value('drain-timeout-ms')} ms`,
        );
      }
      if (byName.has('discovery') && cmd !== 'discovery') {
        for (const addr of value('discovery').split(',')) {
          const [host, port] = addr.split(':');
          const svc = byKind('Service').find((s) => s.metadata.name === host);
          assert.ok(svc, `${where}: --discovery ${addr} names a Service`);
          const targets = serviceTargets(svc, Number(port));
          assert.ok(
            targets.length > 0 &&
              targets.every(
                (t) =>
                  t.container.args?.[0] === 'discovery' &&
                  String(t.containerPort) ===
                    (flagsOf(t.container.args.slice(1)).get('grpc-port') ?? String(discoverySpec.flags.grpcPort.default)),
              ),
            `${where}: --discovery ${addr} reaches discovery's gRPC port`,
          );
        }
      }
      for (const e of c.env ?? []) assert.ok(e.value !== undefined || e.valueFrom?.fieldRef, `${where}: env ${e.name} has a value`);
      if (cmd === 'sidecar') {
        const adv = /^\$\(POD_IP\):(\d+)$/.exec(value('advertise'));
        assert.ok(adv && adv[1] === value('grpc-port'), `${where}: --advertise is $(POD_IP):<grpc-port>`);
        assert.equal(
          c.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath,
          'status.podIP',
          `${where}: POD_IP from the downward API`,
        );
        assert.ok(Number(c.resources?.limits?.['nvidia.com/gpu']) >= 1, `${where}: requests a GPU`);
        assert.ok(
          c.volumeMounts?.some((m) => value('models') === m.mountPath || value('models').startsWith(`${m.mountPath}/`)),
          `${where}: --models is mounted`,
        );
      }
      if (cmd === 'discovery' && flags.has('config')) {
        const file = value('config');
        const mount = c.volumeMounts?.find((m) => m.mountPath === path.posix.dirname(file));
        assert.ok(mount && !mount.subPath, `${where}: --config's directory is a mount (no subPath, so ConfigMap edits arrive)`);
        const cm = byKind('ConfigMap').find((o) => o.metadata.name === pod.volumes?.find((v) => v.name === mount.name)?.configMap?.name);
        const text = cm?.data?.[path.posix.basename(file)];
        assert.ok(text, `${where}: ${file} comes from a ConfigMap here`);
        parseRoutingConfig(text, `${cm!.file}:${file}`);
      }
      if (cmd === 'discovery' && value('store') === 'etcd') {
        for (const url of value('etcd-endpoints').split(',')) {
          const u = new URL(url);
          const [member, svcName] = u.hostname.split('.');
          const svc = byKind('Service').find((s) => s.metadata.name === (svcName ?? member));
          const sts = byKind('StatefulSet').find((s) => s.spec!.serviceName === svc?.metadata.name);
          assert.ok(svc && sts, `${where}: ${url} names an etcd Service and StatefulSet`);
          if (svcName)
            assert.ok(Number(member.slice(sts.metadata.name.length + 1)) < sts.spec!.replicas!, `${where}: ${member} is a member`);
          assert.ok(serviceTargets(svc, Number(u.port)).length > 0, `${where}: ${url}'s port reaches etcd`);
        }
      }
    }
  }
  assert.equal(seen, 3, 'discovery, balancer and sidecar each run once');
});
