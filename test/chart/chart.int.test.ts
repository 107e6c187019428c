/**
 * Proves the deployment artefacts hold together, offline: the Helm chart lints and renders
 * with default and with full values; every rendered object validates against the Kubernetes
 * API schemas of the oldest and newest supported versions (and the CRD schemas in
 * ./crd-schemas); each destination gets its own worker Deployment and consumer group; the
 * topology ConfigMap is mounted as a directory and its path handed to `flowyard run`;
 * probes, non-root, read-only root filesystem; no credential is inlined. The Grafana
 * dashboard only uses metrics of src/observability/metrics.ts, and docker-compose.yml and
 * the Dockerfile are consistent with the repository and the chart.
 *
 * helm, kubeconform, compose-go's validator and the Kubernetes JSON schemas come from
 * infra/tools.sh, which installs them on first use (Go module proxy and PyPI).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseTopology } from '../../src/topology/load.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const chart = join(repo, 'helm/flowyard');
const fullValues = join(chart, 'ci/full-values.yaml');
const crdSchemas = fileURLToPath(new URL('./crd-schemas/', import.meta.url));

/** ms: the first run on a fresh machine builds helm, kubeconform and compose-go from source. */
const INSTALL_TIMEOUT_MS = 900_000;

// ---------------------------------------------------------------------------------------
// Kubernetes object shapes, only as far as the assertions read them.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
}
interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string };
  emptyDir?: object;
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    [key: string]: unknown;
  };
}
interface Topology {
  name: string;
  mode: string;
  partitions?: number;
  destinations: { name: string }[];
  ordering?: { sequencer?: unknown };
}

// ---------------------------------------------------------------------------------------
// Tools

interface Tools {
  helm: string;
  kubeconform: string;
  compose_spec: string;
  k8s_schemas: string;
  k8s_versions: string;
}
let tools: Tools;
let work: string;

function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? repo,
    env: options.env ?? toolEnv(),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** helm keeps its config and cache in a private folder, so a developer's helm setup neither helps nor hurts. */
function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_DATA_HOME: join(work, 'helm/data') };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'flowyard-chart-'));
  const installed = run('bash', [join(repo, 'infra/tools.sh')]);
  if (installed.status !== 0) throw new Error(`infra/tools.sh failed (${installed.status}):\n${installed.stderr}`);
  tools = Object.fromEntries(installed.stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2))) as unknown as Tools;
  for (const key of ['helm', 'kubeconform', 'compose_spec', 'k8s_schemas', 'k8s_versions'] as const) {
    expect(tools[key]).toBeTruthy();
  }
}, INSTALL_TIMEOUT_MS);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function kubeVersions(): string[] {
  return tools.k8s_versions.split(/\s+/).filter(Boolean);
}

/** `helm template`; throws with helm's message when it fails. */
function helmTemplate(args: readonly string[], kubeVersion = kubeVersions().at(-1)!): string {
  const result = run(tools.helm, ['template', 'fy-test', chart, '--namespace', 'streaming', '--kube-version', kubeVersion, ...args]);
  if (result.status !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

/** `helm template` expected to fail; returns its error output. */
function helmTemplateError(args: readonly string[]): string {
  const result = run(tools.helm, ['template', 'fy-test', chart, ...args]);
  expect(result.status).not.toBe(0);
  return result.stderr;
}

function objectsOf(manifest: string): K8sObject[] {
  return parseAllDocuments(manifest)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

interface KubeconformReport {
  resources?: { filename: string; kind: string; name: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/** Validates a manifest offline against the Kubernetes API schemas of one version, plus our CRD schemas. */
function kubeconform(manifest: string, kubeVersion: string): KubeconformReport {
  const file = join(work, `manifest-${kubeVersion}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, manifest);
  const result = run(tools.kubeconform, [
    '-strict',
    '-summary',
    '-output',
    'json',
    '-kubernetes-version',
    kubeVersion,
    '-schema-location',
    `${tools.k8s_schemas}/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    '-schema-location',
    `${crdSchemas}{{ .ResourceKind }}{{ .KindSuffix }}.json`,
    file,
  ]);
  const report = JSON.parse(result.stdout) as KubeconformReport;
  return report;
}

function expectValid(manifest: string, kubeVersion: string): void {
  const count = objectsOf(manifest).length;
  const report = kubeconform(manifest, kubeVersion);
  const problems = (report.resources ?? []).filter((r) => r.status !== 'statusValid').map((r) => `${r.kind} ${r.name}: ${r.msg}`);
  expect(problems).toEqual([]);
  expect(report.summary).toEqual({ valid: count, invalid: 0, errors: 0, skipped: 0 });
}

// ---------------------------------------------------------------------------------------
// Reading the rendered chart

function byKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

function podSpec(o: K8sObject): PodSpec {
  const spec = o.spec?.template?.spec;
  if (!spec) throw new Error(`${o.kind} ${o.metadata.name} has no pod template`);
  return spec;
}

function container(o: K8sObject): Container {
  const [first, ...rest] = podSpec(o).containers;
  expect(rest).toEqual([]);
  return first!;
}

function env(c: Container, name: string): EnvVar | undefined {
  return c.env?.find((e) => e.name === name);
}

function valuesOf(file: string): Record<string, unknown> {
  return parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function topologyOf(values: Record<string, unknown>): Topology {
  const t = values.topology;
  return (typeof t === 'string' ? parseYaml(t) : t) as Topology;
}

const SECRETISH = /pass|secret|token|credential|api_?key|private_?key|_KEY($|_)/i;

/**
 * The chart-wide assertions, for any values: per-destination workers and groups, the
 * ConfigMap directory mount, probes, security, shutdown, PDBs and no inlined credentials.
 */
function checkRender(objects: readonly K8sObject[], topology: Topology, values: Record<string, unknown>): void {
  const mountPath = (values.topologyMountPath as string | undefined) ?? '/etc/flowyard/topology';
  const fileName = (values.topologyFileName as string | undefined) ?? 'topology.yaml';
  const deployments = byKind(objects, 'Deployment');
  const names = topology.destinations.map((d) => d.name);

  // one worker Deployment per destination, each `--roles worker --destinations <d>`, each its own group
  const workers = deployments.filter((d) => d.metadata.labels?.['flowyard.io/role'] === 'worker');
  const workerDestinations = workers.map((w) => {
    const args = container(w).args ?? [];
    expect(args.slice(2, 4)).toEqual(['--roles', 'worker']);
    expect(args[4]).toBe('--destinations');
    expect(args).toHaveLength(6);
    return args[5]!;
  });
  expect(workerDestinations.sort()).toEqual([...names].sort());
  const groups = workers.map((w) => w.metadata.labels?.['flowyard.io/consumer-group']);
  expect(new Set(groups).size).toBe(names.length);
  for (const w of workers) {
    const destination = container(w).args![5]!;
    expect(w.metadata.labels?.['flowyard.io/consumer-group']).toBe(`${topology.name}.${destination}`);
    expect(w.metadata.labels?.['flowyard.io/destination']).toBe(destination);
  }

  // the roles: router and tracker always, the sequencer when the topology has one
  const roles = deployments.filter((d) => d.metadata.labels?.['flowyard.io/role'] !== 'worker');
  const expectedRoles = ['router', 'tracker', ...(topology.ordering?.sequencer ? ['sequencer'] : [])];
  expect(roles.map((d) => d.metadata.labels?.['flowyard.io/role']).sort()).toEqual(expectedRoles.sort());
  for (const r of roles) {
    const role = r.metadata.labels!['flowyard.io/role']!;
    expect(container(r).args?.slice(2)).toEqual(['--roles', role]);
    expect(r.metadata.labels?.['flowyard.io/consumer-group']).toBe(`${topology.name}.${role}`);
    // Old and new sequencer pods must not share the group (a rebalance can repeat a flush).
    expect((r.spec as { strategy?: { type?: string } } | undefined)?.strategy?.type).toBe(role === 'sequencer' ? 'Recreate' : undefined);
  }
  expect(deployments).toHaveLength(names.length + expectedRoles.length);

  // the topology: a ConfigMap holding the file, mounted as a directory, its path given to `flowyard run`
  const configMaps = byKind(objects, 'ConfigMap');
  for (const d of deployments) {
    const spec = podSpec(d);
    const c = container(d);
    expect(c.args?.slice(0, 2)).toEqual(['run', `${mountPath}/${fileName}`]);
    const volume = spec.volumes?.find((v) => v.name === 'topology');
    expect(volume?.configMap?.name).toBeTruthy();
    const configMap = configMaps.find((m) => m.metadata.name === volume!.configMap!.name);
    expect(configMap).toBeDefined();
    expect((parseYaml(configMap!.data![fileName]!) as Topology).name).toBe(topology.name);
    const mounts = c.volumeMounts?.filter((m) => m.name === 'topology') ?? [];
    expect(mounts).toEqual([{ name: 'topology', mountPath, readOnly: true }]); // a directory: no subPath
    // no checksum of the topology: a change must hot-reload, not roll the pods
    const annotations = d.spec?.template?.metadata?.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => /checksum/i.test(k))).toEqual([]);

    // probes on the HTTP port
    const port = c.ports?.find((p) => p.name === 'http');
    expect(port?.containerPort).toBe(Number(env(c, 'FLOWYARD_HTTP_PORT')?.value));
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });

    // non-root, read-only root filesystem, no capabilities, writable /tmp
    expect(spec.securityContext?.runAsNonRoot).toBe(true);
    expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext?.runAsNonRoot).toBe(true);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext?.capabilities?.drop).toContain('ALL');
    const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();

    // resources, and a grace period above the shutdown timeout
    expect(c.resources?.requests?.memory).toBeTruthy();
    const shutdownMs = Number(env(c, 'FLOWYARD_SHUTDOWN_TIMEOUT_MS')?.value);
    expect(shutdownMs).toBeGreaterThan(0);
    expect(spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(shutdownMs);

    // one PodDisruptionBudget selecting exactly this Deployment's pods
    const pdbs = byKind(objects, 'PodDisruptionBudget').filter((p) => sameLabels(p.spec?.selector?.matchLabels, d.spec?.selector?.matchLabels));
    if ((values.podDisruptionBudget as { enabled?: boolean } | undefined)?.enabled !== false) expect(pdbs).toHaveLength(1);
  }

  checkNoInlinedCredentials(objects);
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
}

/** Credentials only through secretKeyRef or files from Secret volumes; the chart creates no Secret. */
function checkNoInlinedCredentials(objects: readonly K8sObject[]): void {
  expect(byKind(objects, 'Secret')).toEqual([]);
  for (const o of objects.filter((x) => x.spec?.template?.spec)) {
    const spec = podSpec(o);
    for (const c of spec.containers) {
      for (const e of c.env ?? []) {
        if (e.name.endsWith('_FILE')) {
          // a file path, and the file comes from a Secret volume
          const mount = c.volumeMounts?.find((m) => e.value!.startsWith(`${m.mountPath}/`));
          expect({ env: e.name, secretVolume: spec.volumes?.find((v) => v.name === mount?.name)?.secret !== undefined }).toEqual({ env: e.name, secretVolume: true });
        } else if (SECRETISH.test(e.name)) {
          expect({ env: e.name, value: e.value, secretKeyRef: e.valueFrom?.secretKeyRef !== undefined }).toEqual({ env: e.name, value: undefined, secretKeyRef: true });
        }
        // URLs carry no password (redis://:pw@host, postgres://u:pw@host)
        const passwordInUrl = e.value !== undefined && /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(e.value);
        expect({ env: e.name, passwordInUrl }).toEqual({ env: e.name, passwordInUrl: false });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------

describe('helm chart helm/flowyard', () => {
  test.each([
    ['default values', [] as string[]],
    ['full values', ['-f', fullValues]],
  ])('helm lint --strict passes with %s, for every supported Kubernetes version', (_name, args) => {
    for (const version of kubeVersions()) {
      const result = run(tools.helm, ['lint', chart, '--strict', '--kube-version', version, ...args]);
      expect({ status: result.status, out: result.stdout + result.stderr }).toEqual({ status: 0, out: expect.stringContaining('0 chart(s) failed') });
      expect(result.stdout + result.stderr).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  test("the chart's own topologies (default and full values) are valid for flowyard", () => {
    for (const file of [join(chart, 'values.yaml'), fullValues]) {
      const t = valuesOf(file).topology;
      const text = typeof t === 'string' ? t : JSON.stringify(t);
      const loaded = parseTopology(text, relative(repo, file), { PG_URL: 'postgres://flowyard@postgres:5432/flowyard' });
      expect(loaded.topology.destinations.length).toBeGreaterThan(0);
    }
  });

  test('the default values render a valid release: one worker per destination of the default topology', () => {
    const values = valuesOf(join(chart, 'values.yaml'));
    const topology = topologyOf(values);
    for (const version of kubeVersions()) {
      const manifest = helmTemplate([], version);
      expectValid(manifest, version);
      const objects = objectsOf(manifest);
      checkRender(objects, topology, values);
      expect(byKind(objects, 'ScaledObject')).toEqual([]);
      expect(byKind(objects, 'ServiceMonitor')).toEqual([]);
      expect(byKind(objects, 'Job')).toEqual([]);
      for (const w of byKind(objects, 'Deployment')) expect(w.spec?.replicas).toBeGreaterThan(0);
    }
  });

  test('the full values render a valid release with every optional feature', () => {
    const values = valuesOf(fullValues);
    const topology = topologyOf(values);
    for (const version of kubeVersions()) {
      const manifest = helmTemplate(['-f', fullValues], version);
      expectValid(manifest, version);
      const objects = objectsOf(manifest);
      checkRender(objects, topology, values);

      // KEDA: one ScaledObject per autoscaled worker, on its own group's lag over its input topic
      const scaled = byKind(objects, 'ScaledObject');
      const workers = byKind(objects, 'Deployment').filter((d) => d.metadata.labels?.['flowyard.io/role'] === 'worker');
      expect(scaled.map((s) => s.metadata.labels?.['flowyard.io/destination']).sort()).toEqual(['balances', 'ledger']);
      for (const s of scaled) {
        const destination = s.metadata.labels!['flowyard.io/destination']!;
        const target = workers.find((w) => w.metadata.labels?.['flowyard.io/destination'] === destination)!;
        const spec = s.spec as { scaleTargetRef: { name: string }; maxReplicaCount: number; triggers: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[] };
        expect(spec.scaleTargetRef.name).toBe(target.metadata.name);
        expect(target.spec?.replicas).toBeUndefined(); // the autoscaler owns it
        const [trigger] = spec.triggers;
        expect(trigger?.type).toBe('kafka');
        expect(trigger?.metadata.consumerGroup).toBe(target.metadata.labels?.['flowyard.io/consumer-group']);
        expect(trigger?.metadata.topic).toBe(`${topology.name}.${topology.mode}.${destination}`);
        expect(trigger?.metadata.sasl).toBe('scram_sha512');
        expect(byKind(objects, 'TriggerAuthentication').map((t) => t.metadata.name)).toEqual([trigger?.authenticationRef?.name]);
      }
      expect(scaled.find((s) => s.metadata.labels?.['flowyard.io/destination'] === 'ledger')?.spec?.maxReplicaCount).toBe(topology.partitions);
      expect(workers.find((w) => w.metadata.labels?.['flowyard.io/destination'] === 'notify')?.spec?.replicas).toBe(1);

      // ServiceMonitor -> metrics Service -> every flowyard pod's http port
      const [monitor] = byKind(objects, 'ServiceMonitor');
      const [service] = byKind(objects, 'Service');
      expect(monitor?.spec?.selector?.matchLabels).toEqual(service?.metadata.labels && pick(service.metadata.labels, Object.keys(monitor!.spec!.selector!.matchLabels!)));
      expect((monitor?.spec?.endpoints as { port: string; path: string }[])[0]).toMatchObject({ port: 'http', path: '/metrics' });

      // SASL and TLS settings reach the pods from Secrets only
      const router = byKind(objects, 'Deployment').find((d) => d.metadata.labels?.['flowyard.io/role'] === 'router')!;
      const c = container(router);
      expect(env(c, 'KAFKA_SASL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'flowyard-kafka-credentials', key: 'pass' });
      expect(env(c, 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'flowyard-redis', key: 'redis-password' });
      expect(env(c, 'KAFKA_TLS_KEY_FILE')?.value).toMatch(/^\/etc\/flowyard\/tls\/kafka\//);
      expect(env(c, 'PG_URL')?.valueFrom?.secretKeyRef?.name).toBe('flowyard-sinks');

      // the topics Job: a pre-install/pre-upgrade hook with its own copy of the topology
      const [job] = byKind(objects, 'Job');
      expect(job?.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(container(job!).args).toEqual(['topics', 'create', '/etc/flowyard/topology/topology.yaml', '--replication-factor', '3']);
      const jobConfigMap = podSpec(job!).volumes?.find((v) => v.name === 'topology')?.configMap?.name;
      const hookConfigMap = byKind(objects, 'ConfigMap').find((m) => m.metadata.name === jobConfigMap);
      expect(hookConfigMap?.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(Number(hookConfigMap?.metadata.annotations?.['helm.sh/hook-weight'])).toBeLessThan(Number(job?.metadata.annotations?.['helm.sh/hook-weight']));
    }
  });

  test('the dashboard ConfigMap carries the grafana_dashboard label and the dashboard file verbatim', () => {
    const objects = objectsOf(helmTemplate(['-f', fullValues]));
    const dashboard = byKind(objects, 'ConfigMap').find((m) => m.metadata.labels?.grafana_dashboard === '1');
    expect(dashboard?.metadata.namespace).toBe('monitoring');
    expect(JSON.parse(dashboard!.data!['flowyard.json']!)).toEqual(JSON.parse(readFileSync(join(chart, 'dashboards/flowyard.json'), 'utf8')));
  });

  test('every example topology, as a file (--set-file) or as an object, gets one worker and group per destination', () => {
    const examples = readdirSync(join(repo, 'topologies')).filter((f) => f.endsWith('.yaml'));
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const file = join(repo, 'topologies', example);
      const topology = parseYaml(readFileSync(file, 'utf8')) as Topology;
      const asFile = objectsOf(helmTemplate(['--set-file', `topology=${file}`]));
      checkRender(asFile, topology, {});
      // the ConfigMap holds the file verbatim, comments and all
      const configMap = byKind(asFile, 'ConfigMap').find((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'topology');
      expect(configMap?.data?.['topology.yaml']?.trim()).toBe(readFileSync(file, 'utf8').trim());

      const objectValues = join(work, `object-${example}`);
      writeFileSync(objectValues, JSON.stringify({ topology }));
      checkRender(objectsOf(helmTemplate(['-f', objectValues])), topology, {});
    }
  });

  test('mistakes fail the render with a message naming the value', () => {
    expect(helmTemplateError(['--set', 'kafka.sasl.password=hunter2'])).toMatch(/kafka\/sasl.*additional properties 'password'/);
    expect(helmTemplateError(['--set', 'redis.url=redis://:hunter2@redis:6379'])).toMatch(/redis\.url holds a password/);
    expect(helmTemplateError(['--set', 'kafka.sasl.mechanism=scram-sha-256'])).toMatch(/kafka\.sasl\.existingSecret: required/);
    expect(helmTemplateError(['--set', 'extraEnv[0].name=PG_PASSWORD', '--set', 'extraEnv[0].value=hunter2'])).toMatch(/extraEnv PG_PASSWORD.*secretKeyRef/);
    expect(helmTemplateError(['--set', 'workers.perDestination.ledgr.replicas=3'])).toMatch(/workers\.perDestination\.ledgr: the topology has no destination "ledgr"/);
    expect(helmTemplateError(['--set', 'terminationGracePeriodSeconds=30'])).toMatch(/terminationGracePeriodSeconds \(30\) must be above shutdownTimeoutMs/);
    expect(helmTemplateError(['--set-string', 'topology=name: Orders'])).toMatch(/topology\.name "Orders"/);
    expect(helmTemplateError(['--set', 'kafka.tls.enabled=true', '--set', 'kafka.tls.existingSecret=tls', '--set', 'kafka.tls.certKey=tls.crt'])).toMatch(/client certificate needs both/);
  });

  test('the chart README documents every value of values.yaml, and only values that exist', () => {
    const readme = readFileSync(join(chart, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([a-zA-Z][\w.]*)` \|/gm)].map((m) => m[1]!);
    const values = valuesOf(join(chart, 'values.yaml'));
    const leaves: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0 && path !== 'topology') {
        for (const [key, child] of Object.entries(node)) walk(child, path ? `${path}.${key}` : key);
      } else {
        leaves.push(path);
      }
    };
    walk(values, '');
    const lookup = (path: string): boolean => path.split('.').reduce<{ ok: boolean; node: unknown }>(
      (acc, key) => ({ ok: acc.ok && !!acc.node && typeof acc.node === 'object' && key in (acc.node as object), node: (acc.node as Record<string, unknown> | undefined)?.[key] }),
      { ok: true, node: values },
    ).ok;
    expect(documented.filter((key) => !lookup(key))).toEqual([]);
    expect(leaves.filter((leaf) => !documented.some((key) => leaf === key || leaf.startsWith(`${key}.`)))).toEqual([]);
  });

  test('the offline validation is not vacuous: it rejects an unknown field and an unknown kind', () => {
    const manifest = helmTemplate([]);
    const broken = manifest.replace('readOnlyRootFilesystem: true', 'readOnlyRootFilesystem: true\n            readOnlyRootFileSystem: true');
    expect(broken).not.toBe(manifest);
    expect(kubeconform(broken, kubeVersions()[0]!).summary.invalid).toBeGreaterThan(0);
    const unknown = 'apiVersion: example.com/v1\nkind: Gadget\nmetadata: { name: g }\nspec: {}\n';
    expect(kubeconform(unknown, kubeVersions()[0]!).summary.errors).toBe(1);
    const badTrigger = helmTemplate(['-f', fullValues]).replace(/lagThreshold: "500"/g, 'lagThreshold: 500');
    expect(kubeconform(badTrigger, kubeVersions()[0]!).summary.invalid).toBe(2);
  });
});

function pick(labels: Record<string, string>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => k in labels).map((k) => [k, labels[k]!]));
}

// ---------------------------------------------------------------------------------------

describe('Grafana dashboard', () => {
  interface Catalogue {
    labels: Map<string, string[]>;
    histograms: Set<string>;
  }

  /** The metric names and label names declared in src/observability/metrics.ts. */
  function catalogue(): Catalogue {
    const source = readFileSync(join(repo, 'src/observability/metrics.ts'), 'utf8');
    const constants = new Map<string, string[]>();
    for (const m of source.matchAll(/const (\w+) = \[([^\]]*)\] as const/g)) constants.set(m[1]!, [...m[2]!.matchAll(/'([^']+)'/g)].map((x) => x[1]!));
    const resolve = (expr: string): string[] => {
      const list = expr.startsWith('[') ? expr.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean) : [expr];
      return list.flatMap((item) => {
        if (item.startsWith("'")) return [item.slice(1, -1)];
        const constant = constants.get(item.replace(/^\.\.\./, ''));
        if (!constant) throw new Error(`metrics.ts: cannot resolve label list ${item}`);
        return constant;
      });
    };
    const labels = new Map<string, string[]>();
    const histograms = new Set<string>();
    for (const m of source.matchAll(/new (Counter|Gauge|Histogram)\(\{[\s\S]*?name: '([^']+)'[\s\S]*?labelNames: (\[[^\]]*\]|\w+)/g)) {
      labels.set(m[2]!, resolve(m[3]!));
      if (m[1] === 'Histogram') histograms.add(m[2]!);
    }
    return { labels, histograms };
  }

  function expressions(node: unknown): string[] {
    if (Array.isArray(node)) return node.flatMap(expressions);
    if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      const own = ['expr', 'query', 'definition'].map((k) => record[k]).filter((v): v is string => typeof v === 'string');
      return [...own, ...Object.values(record).flatMap(expressions)];
    }
    return [];
  }

  // Labels Prometheus adds to every series from the scrape target (and the ServiceMonitor's role).
  const TARGET_LABELS = ['pod', 'instance', 'job', 'namespace', 'role'];
  const dashboard = JSON.parse(readFileSync(join(chart, 'dashboards/flowyard.json'), 'utf8')) as Record<string, unknown>;
  const exprs = expressions(dashboard);

  test('the catalogue parses: every metric with its labels', () => {
    const { labels } = catalogue();
    expect(labels.size).toBeGreaterThanOrEqual(15);
    expect(labels.get('flowyard_writes_total')).toEqual(['topology', 'plan', 'destination', 'outcome']);
    expect(labels.get('flowyard_consumer_lag')).toEqual(['topology', 'plan', 'group', 'topic', 'partition']);
  });

  test('every metric and label the dashboard queries exists in src/observability/metrics.ts', () => {
    const { labels, histograms } = catalogue();
    expect(exprs.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const expr of exprs) {
      const used = [...expr.matchAll(/\b(flowyard_[a-z0-9_]+)(\{[^}]*\})?/g)];
      const allowed = new Set<string>(TARGET_LABELS);
      for (const [, name, selector] of used) {
        if (name!.startsWith('flowyard_process_')) continue; // prom-client's default metrics, prefixed
        const base = name!.replace(/_(bucket|sum|count)$/, '');
        const known = labels.get(name!) ?? (histograms.has(base) ? labels.get(base) : undefined);
        if (!known) {
          problems.push(`${name}: not in the catalogue`);
          continue;
        }
        const own = new Set([...known, ...TARGET_LABELS, ...(name!.endsWith('_bucket') ? ['le'] : [])]);
        known.forEach((l) => allowed.add(l));
        if (name!.endsWith('_bucket')) allowed.add('le');
        for (const [, label] of (selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
          if (!own.has(label!)) problems.push(`${name}: no label ${label}`);
        }
      }
      for (const [, list] of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const label of list!.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!allowed.has(label)) problems.push(`${expr}: grouping by unknown label ${label}`);
        }
      }
      for (const [, label] of expr.matchAll(/label_values\([^,]+,\s*(\w+)\)/g)) {
        if (!allowed.has(label!)) problems.push(`${expr}: label_values of unknown label ${label}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('it has the panels operators need: throughput and p99 per destination, DLQ, lag, circuits, retries, sequencer, spread, latency, plans', () => {
    const all = exprs.join('\n');
    for (const metric of [
      'flowyard_writes_total',
      'flowyard_write_duration_seconds_bucket',
      'flowyard_dlq_records_total',
      'flowyard_consumer_lag',
      'flowyard_circuit_state',
      'flowyard_retries_total',
      'flowyard_retry_budget_refusals_total',
      'flowyard_sequencer_gaps_skipped_total',
      'flowyard_sequencer_late_events_total',
      'flowyard_sequencer_buffered_events',
      'flowyard_branch_spread_seconds_bucket',
      'flowyard_end_to_end_latency_seconds_bucket',
    ]) {
      expect({ metric, used: all.includes(metric) }).toEqual({ metric, used: true });
    }
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \(destination, le\) \(rate\(flowyard_write_duration_seconds_bucket/);
    expect(all).toMatch(/sum by \(class/);
    expect(all).toMatch(/sum by \(plan\)/); // the mode/plan comparison during a rollout
    const panels = (dashboard.panels as { type: string; title: string; gridPos: object }[]).filter((p) => p.type !== 'row');
    expect(panels.every((p) => p.title && p.gridPos)).toBe(true);
    expect(new Set(panels.map((p) => p.title)).size).toBe(panels.length);
  });
});

// ---------------------------------------------------------------------------------------

describe('container image and docker-compose.yml', () => {
  interface ComposeService {
    image?: string;
    build?: { context: string; dockerfile: string };
    command?: string[];
    environment?: Record<string, string | null>;
    volumes?: { type: string; source: string; target: string }[];
    user?: string;
  }

  function compose(): { services: Record<string, ComposeService> } {
    const result = run(tools.compose_spec, ['-format', 'json', 'docker-compose.yml'], {
      // the file's own defaults, not a developer's overrides
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work },
    });
    if (result.status !== 0) throw new Error(`compose-go rejected docker-compose.yml:\n${result.stderr}`);
    return JSON.parse(result.stdout) as { services: Record<string, ComposeService> };
  }

  test('docker-compose.yml is a valid Compose file with every service, paths that exist and Kafka KRaft with RF 1', () => {
    const { services } = compose();
    for (const name of ['kafka', 'redis', 'postgres', 'schema-registry', 'flowyard', 'prometheus', 'grafana']) expect(Object.keys(services)).toContain(name);

    const kafka = services.kafka!;
    expect(kafka.image).toBe('apache/kafka:3.9.1');
    expect(kafka.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    for (const key of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) {
      expect({ key, value: String(kafka.environment?.[key]) }).toEqual({ key, value: '1' });
    }

    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        if (volume.type !== 'bind') continue;
        expect({ service: name, source: relative(repo, volume.source), exists: existsSync(volume.source) }).toEqual({ service: name, source: relative(repo, volume.source), exists: true });
      }
      if (service.build) expect(existsSync(join(service.build.context, service.build.dockerfile))).toBe(true);
    }

    // flowyard runs a topology file that exists, through the folder mount (hot reload)
    const flowyard = services.flowyard!;
    const [command, path] = flowyard.command ?? [];
    expect(command).toBe('run');
    const mount = flowyard.volumes?.find((v) => path!.startsWith(`${v.target}/`));
    expect(mount).toBeDefined();
    const hostFile = join(mount!.source, path!.slice(mount!.target.length + 1));
    expect(relative(repo, hostFile)).toBe('topologies/orders-fanout.yaml');
    expect(existsSync(hostFile)).toBe(true);

    // the same environment names the chart sets, each one read by src/config/env.ts (PG_URL feeds ${PG_URL} placeholders)
    const envSource = readFileSync(join(repo, 'src/config/env.ts'), 'utf8');
    for (const name of Object.keys(flowyard.environment ?? {})) {
      if (name === 'PG_URL') continue;
      expect({ name, readByFlowyard: envSource.includes(`'${name}'`) }).toEqual({ name, readByFlowyard: true });
    }

    // Grafana loads the dashboard the chart ships
    const grafana = services.grafana!;
    const dashboards = grafana.volumes?.find((v) => v.source === join(chart, 'dashboards'));
    expect(dashboards).toBeDefined();
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(existsSync(join(dashboards!.source, relative(dashboards!.target, home!)))).toBe(true);
  });

  test('the Dockerfile: node 24 (LTS) multi-stage, npm ci, production dependencies only, non-root, flowyard entrypoint', () => {
    const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
    const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    const stages = lines.filter((l) => /^FROM /.test(l));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24[-\w.]*$/m);
    expect(dockerfile).toMatch(/npm ci\b/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(lines.filter((l) => l.startsWith('ENTRYPOINT'))).toEqual(['ENTRYPOINT ["node", "bin/flowyard.js"]']);

    // the runtime user is the chart's non-root uid
    const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
    const values = valuesOf(join(chart, 'values.yaml'));
    const uid = (values.podSecurityContext as { runAsUser: number }).runAsUser;
    expect(user).toBe(`USER ${uid}:${uid}`);
    expect(lines.at(-1)).toMatch(/^(CMD|ENTRYPOINT)/);
    expect(lines.filter((l) => l.startsWith('EXPOSE'))).toEqual([`EXPOSE ${values.httpPort as number}`]);

    // everything copied from the context exists and is not excluded by .dockerignore
    const ignored = readFileSync(join(repo, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const line of lines.filter((l) => /^COPY /.test(l) && !l.includes('--from='))) {
      const sources = line.replace(/^COPY\s+(--\S+\s+)*/, '').split(/\s+/).slice(0, -1);
      for (const source of sources) {
        expect({ source, exists: existsSync(join(repo, source)) }).toEqual({ source, exists: true });
        expect({ source, ignored: ignored.includes(source) || ignored.includes(source.replace(/\/$/, '')) }).toEqual({ source, ignored: false });
      }
    }
    // what bin/flowyard.js needs at run time is in the image: dist, package.json, schemas
    for (const needed of ['/app/dist ./dist', 'package.json', 'bin ./bin', 'schemas ./schemas', 'topologies ./topologies']) expect(dockerfile).toContain(needed);
  });
});
