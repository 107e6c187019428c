/**
 * The topology of a shadow plan: the live topology renamed `<name>-shadow` (so every derived
 * topic, consumer group and Redis key is its own), in `shadow.mode`, with `shadow.destinations`
 * settings, and every sink and compensation replaced by a dry-run destination, so the shadow
 * never repeats a live side effect.
 */
import type { Topology } from '../topology/spec.js';
import type { SinkConfig } from '../topology/plan.js';

export const SHADOW_SUFFIX = '-shadow';

export function shadowName(name: string): string {
  return `${name}${SHADOW_SUFFIX}`;
}

/** The default dry-run destination of `destination`: a Kafka topic of the shadow's own. */
export function dryRunTopic(name: string, destination: string): string {
  return `${shadowName(name)}.dryrun.${destination}`;
}

/** Where the shadow's compensations of `destination` go instead of the live compensation sink. */
export function dryRunCompensationTopic(name: string, destination: string): string {
  return `${dryRunTopic(name, destination)}.compensate`;
}

/** The shadow's sequencer output: the live one is the user's, and the shadow's verdicts must not reach it. */
export function shadowSequencerOutput(name: string): string {
  return `${shadowName(name)}.sequenced`;
}

/** The shadow topology of a validated `topology` that declares `shadow:`. */
export function shadowTopology(topology: Topology): Topology {
  const shadow = topology.shadow;
  if (shadow === undefined) throw new Error('shadowTopology: the topology has no shadow');
  const name = shadowName(topology.name);
  const sequencer = topology.ordering?.sequencer;
  const { rollout: _rollout, shadow: _shadow, dlq: _dlq, ordering: _ordering, ...rest } = topology;
  return {
    ...rest,
    name,
    mode: shadow.mode ?? topology.mode,
    // The dead letters and the sequencer output go to the shadow's own topics (<name>-shadow.dlq by default).
    ...(sequencer === undefined ? {} : { ordering: { sequencer: { ...sequencer, output: shadowSequencerOutput(topology.name) } } }),
    destinations: topology.destinations.map((destination) => {
      const { compensate, ...live } = destination;
      const dryRun: SinkConfig = shadow.dryRun?.[destination.name] ?? { type: 'kafka', topic: dryRunTopic(topology.name, destination.name) };
      return {
        ...live,
        ...(shadow.destinations?.[destination.name] ?? {}),
        sink: dryRun as Topology['destinations'][number]['sink'],
        ...(compensate === undefined ? {} : { compensate: { type: 'kafka', topic: dryRunCompensationTopic(topology.name, destination.name) } as Topology['destinations'][number]['sink'] }),
      };
    }),
  };
}
