/**
 * Every way a topology file can be wrong, each with the exact problems flowyard prints:
 * `line:col: message` (the CLI prefixes the file name). Positions are 1-based; a missing
 * field points at the mapping it is missing from, an unknown field at its key.
 */
import { parseTopology } from '../../../src/topology/load.js';
import { InvalidInputError } from '../../../src/errors.js';

/** A topology file from its lines; line N of the file is element N-1. */
function file(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The valid head most cases start from (lines 1-5); the mode is line 6, destinations follow from line 7. */
const HEAD = ['name: orders', 'source:', '  topic: orders.events', '  key: customerId', '  id: eventId'];

function problemsOf(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    parseTopology(text, 'topology.yaml', env);
  } catch (error) {
    if (error instanceof InvalidInputError) return error.problems.map((problem) => problem.replace(/^topology\.yaml:/, ''));
    throw error;
  }
  return [];
}

interface Case {
  readonly name: string;
  readonly text: string;
  readonly env?: Record<string, string>;
  readonly problems: readonly string[];
}

const cases: Case[] = [
  // --- rollout
  {
    name: 'a rollout into the mode the topology already has',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', 'rollout: { to: fanout, percent: 10 }'),
    problems: ["10:16: rollout.to is 'fanout', the topology's own mode; a rollout runs a share of the keys in another mode"],
  },
  {
    name: 'a rollout percentage above 100',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', 'rollout: { to: cascade, percent: 150 }'),
    problems: ['10:34: rollout.percent must be a number from 0 to 100 (got 150)'],
  },
  // --- YAML syntax
  {
    name: 'an unclosed flow mapping',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger'),
    problems: ['10:1: YAML: Flow map in block collection must be sufficiently indented and end with a }'],
  },
  {
    name: 'a key twice in one mapping',
    text: file(...HEAD, 'mode: fanout', 'mode: dag', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ['7:1: YAML: Map keys must be unique'],
  },
  {
    name: 'a tab used for indentation',
    text: file('name: orders', 'source:', '\ttopic: orders.events'),
    problems: ['3:1: YAML: Tabs are not allowed as indentation'],
  },
  {
    name: 'two documents in one file',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '---', 'name: other'),
    problems: ["10:1: YAML: a topology file holds one document; remove this '---' and what follows, or move it to its own file"],
  },
  // --- the document
  {
    name: 'an empty file',
    text: '',
    problems: ['1:1: a topology must be a mapping with name, source, mode and destinations (got nothing)'],
  },
  {
    name: 'a list instead of a mapping',
    text: file('- name: orders'),
    problems: ['1:1: a topology must be a mapping with name, source, mode and destinations (got a list)'],
  },
  // --- fields
  {
    name: 'missing top-level fields',
    text: file('name: orders', 'mode: fanout'),
    problems: [
      "1:1: missing field 'source' in the topology",
      "1:1: missing field 'destinations' in the topology",
    ],
  },
  {
    name: 'an unknown top-level field, with a suggestion',
    text: file(...HEAD, 'mode: fanout', 'partition: 6', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: [
      "7:1: unknown field 'partition' in the topology; did you mean 'partitions'? allowed fields: name, source, mode, partitions, destinations, dedup, ordering, rollout, shadow, dlq",
    ],
  },
  {
    name: 'an unknown destination field, with a suggestion',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    timeout: 2000', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: [
      "9:5: unknown field 'timeout' in destinations[0]; did you mean 'timeoutMs'? allowed fields: name, sink, after, timeoutMs, retry, concurrency, ordering, circuitBreaker, compensate",
    ],
  },
  {
    name: 'a destination without sink',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    timeoutMs: 2000'),
    problems: ["8:5: missing field 'sink' in destinations[0]"],
  },
  {
    name: 'a topology name with capitals',
    text: file('name: Orders', ...HEAD.slice(1), 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["1:7: name 'Orders' must match ^[a-z][a-z0-9-]*$: lowercase letters, digits and '-', starting with a letter"],
  },
  {
    name: 'a topology name that is too long',
    text: file(`name: o${'x'.repeat(100)}`, ...HEAD.slice(1), 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ['1:7: name must be at most 100 characters (got 101)'],
  },
  {
    name: 'a destination name with an underscore',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger_v2', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["8:11: destinations[0].name 'ledger_v2' must match ^[a-z][a-z0-9-]*$: lowercase letters, digits and '-', starting with a letter"],
  },
  {
    name: 'an unknown mode',
    text: file(...HEAD, 'mode: chain', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["6:7: mode must be one of cascade, fanout, dag (got 'chain')"],
  },
  {
    name: 'partitions out of range',
    text: file(...HEAD, 'mode: fanout', 'partitions: 0', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ['7:13: partitions must be a whole number from 1 to 10000 (got 0)'],
  },
  {
    name: 'a timeout written with a unit',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    timeoutMs: 5s', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["9:16: destinations[0].timeoutMs must be a whole number (got '5s')"],
  },
  {
    name: 'retry numbers out of range, both reported',
    text: file(
      ...HEAD,
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      '    retry:',
      '      maxAttempts: 0',
      '      budgetRatio: 1.5',
    ),
    problems: [
      '11:20: destinations[0].retry.maxAttempts must be a whole number from 1 to 100 (got 0)',
      '12:20: destinations[0].retry.budgetRatio must be a number from 0 to 1 (got 1.5)',
    ],
  },
  {
    name: 'an empty retry mapping',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '    retry:'),
    problems: ['10:11: destinations[0].retry must be a mapping (got nothing)'],
  },
  {
    name: 'maxDelayMs below initialDelayMs',
    text: file(
      ...HEAD,
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      '    retry: { initialDelayMs: 500, maxDelayMs: 200 }',
    ),
    problems: ['10:47: destinations[0].retry.maxDelayMs (200) is below initialDelayMs (500); raise maxDelayMs or lower initialDelayMs'],
  },
  {
    name: 'no destinations',
    text: file(...HEAD, 'mode: fanout', 'destinations: []'),
    problems: ['7:15: destinations needs at least 1 entry'],
  },
  {
    name: 'more than 64 destinations',
    text: file(
      ...HEAD,
      'mode: fanout',
      'destinations:',
      ...Array.from({ length: 65 }, (_, index) => `  - { name: d${index}, sink: { type: kafka, topic: out.d${index} } }`),
    ),
    problems: ['8:3: destinations has 65 entries; at most 64 are allowed'],
  },
  // --- source
  {
    name: 'a source without topic',
    text: file('name: orders', 'source:', '  key: customerId', '  id: eventId', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["3:3: source needs 'topic' (one topic) or 'topics' (a list of topics)"],
  },
  {
    name: 'a source with both topic and topics',
    text: file(...HEAD, '  topics: [orders.events, orders.more]', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["6:3: source has both 'topic' and 'topics'; keep one ('topics' for several)"],
  },
  {
    name: 'avro without a schema',
    text: file(...HEAD, '  format: avro', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["6:11: source format avro needs 'schema': a file under schemas/ (e.g. order-event) or a schema registry subject"],
  },
  {
    name: 'a schema with json',
    text: file(...HEAD, '  schema: order-event', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["6:3: source 'schema' is only used with format: avro; set format: avro or remove schema"],
  },
  {
    name: 'a topic name with a space and a key path with an empty segment',
    text: file('name: orders', 'source:', '  topic: orders events', '  key: customer..id', '  id: eventId', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: [
      "3:10: source.topic 'orders events' is not a valid Kafka topic name: use letters, digits, '.', '_' and '-'",
      "4:8: source.key 'customer..id' must be a dotted field path such as customer.id",
    ],
  },
  {
    name: 'the same source topic twice',
    text: file('name: orders', 'source:', '  topics: [orders.events, orders.events]', '  key: customerId', '  id: eventId', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["3:27: source.topics[1] repeats 'orders.events' from source.topics[0]; list it once"],
  },
  // --- sinks
  {
    name: 'an unknown sink type',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: notify', '    sink: { type: carrier-pigeon, url: "http://notifier:8080/hook" }'),
    problems: ["9:19: unknown sink type 'carrier-pigeon' in destinations[0].sink; known types: kafka, http, redis, postgres"],
  },
  {
    name: 'a sink without type',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { topic: orders.ledger }'),
    problems: ["9:11: destinations[0].sink needs a 'type' naming the sink; known types: kafka, http, redis, postgres"],
  },
  {
    name: 'a kafka sink with a misspelt field',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink:', '      type: kafka', '      topc: orders.ledger'),
    problems: [
      "10:7: missing field 'topic' in destinations[0].sink",
      "11:7: unknown field 'topc' in destinations[0].sink (kafka sink); did you mean 'topic'? allowed fields: type, topic, partitions",
    ],
  },
  {
    name: 'an invalid compensate sink',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '    compensate: { type: kafka, partitions: 0 }'),
    problems: [
      "10:17: missing field 'topic' in destinations[0].compensate",
      '10:44: destinations[0].compensate.partitions must be a whole number from 1 to 10000 (got 0)',
    ],
  },
  {
    name: 'a sink type that is not a name',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: 7, topic: orders.ledger }'),
    problems: ['9:19: unknown sink type 7 in destinations[0].sink; known types: kafka, http, redis, postgres'],
  },
  {
    name: 'a sink given as a string',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: kafka'),
    problems: ["9:11: destinations[0].sink must be a mapping (got 'kafka')"],
  },
  // --- names and dependencies
  {
    name: 'two destinations with one name',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger2 }'),
    problems: ["10:11: destination name 'ledger' is already used by destinations[0]; destination names must be unique"],
  },
  {
    name: 'a reserved destination name',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: tracker', '    sink: { type: kafka, topic: orders.tracking }'),
    problems: ["8:11: destination name 'tracker' is reserved: its consumer group would be the tracker role's; choose another name"],
  },
  {
    name: 'after in cascade mode',
    text: file(...HEAD, 'mode: cascade', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: inventory', '    after: [ledger]', '    sink: { type: kafka, topic: orders.inventory }'),
    problems: ["11:5: 'after' is only allowed in mode dag (in cascade mode the list order is the chain); remove it or set mode: dag"],
  },
  {
    name: 'after in fanout mode',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: inventory', '    after: [ledger]', '    sink: { type: kafka, topic: orders.inventory }'),
    problems: ["11:5: 'after' is only allowed in mode dag (in fanout mode every destination runs in parallel); remove it or set mode: dag"],
  },
  {
    name: 'after naming an unknown destination, with a suggestion',
    text: file(...HEAD, 'mode: dag', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: inventory', '    after: [ledgr]', '    sink: { type: kafka, topic: orders.inventory }'),
    problems: ["11:13: destinations[1].after[0] names unknown destination 'ledgr' (did you mean 'ledger'?); known destinations: ledger, inventory"],
  },
  {
    name: 'after naming the destination itself',
    text: file(...HEAD, 'mode: dag', 'destinations:', '  - name: ledger', '    after: [ledger]', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["9:13: destination 'ledger' cannot come after itself; remove it from its 'after'"],
  },
  {
    name: 'after written as a string',
    text: file(...HEAD, 'mode: dag', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: inventory', '    after: ledger', '    sink: { type: kafka, topic: orders.inventory }'),
    problems: ["11:12: destinations[1].after must be a list (got 'ledger'); write [ledger]"],
  },
  {
    name: 'after naming one destination twice',
    text: file(...HEAD, 'mode: dag', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '  - name: inventory', '    after: [ledger, ledger]', '    sink: { type: kafka, topic: orders.inventory }'),
    problems: ["11:21: destinations[1].after[1] repeats 'ledger' from destinations[1].after[0]; list it once"],
  },
  {
    name: 'a cycle of two',
    text: file(
      ...HEAD,
      'mode: dag',
      'destinations:',
      '  - name: ledger',
      '    after: [inventory]',
      '    sink: { type: kafka, topic: orders.ledger }',
      '  - name: inventory',
      '    after: [ledger]',
      '    sink: { type: kafka, topic: orders.inventory }',
    ),
    problems: ["12:13: dependency cycle: ledger -> inventory -> ledger; remove one of these 'after' entries"],
  },
  {
    name: 'a cycle of three behind a root',
    text: file(
      ...HEAD,
      'mode: dag',
      'destinations:',
      '  - { name: ledger, sink: { type: kafka, topic: orders.ledger } }',
      '  - { name: inventory, after: [ledger, archive], sink: { type: kafka, topic: orders.inventory } }',
      '  - { name: notify, after: [inventory], sink: { type: kafka, topic: orders.notify } }',
      '  - { name: archive, after: [notify], sink: { type: kafka, topic: orders.archive } }',
    ),
    problems: ["10:29: dependency cycle: inventory -> notify -> archive -> inventory; remove one of these 'after' entries"],
  },
  {
    name: 'two separate cycles, each reported',
    text: file(
      ...HEAD,
      'mode: dag',
      'destinations:',
      '  - { name: a, after: [b], sink: { type: kafka, topic: out.a } }',
      '  - { name: b, after: [a], sink: { type: kafka, topic: out.b } }',
      '  - { name: c, after: [d], sink: { type: kafka, topic: out.c } }',
      '  - { name: d, after: [c], sink: { type: kafka, topic: out.d } }',
    ),
    problems: [
      "9:24: dependency cycle: a -> b -> a; remove one of these 'after' entries",
      "11:24: dependency cycle: c -> d -> c; remove one of these 'after' entries",
    ],
  },
  // --- topics
  {
    name: 'a sink writing to the source topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.events }'),
    problems: [
      "9:33: topic 'orders.events' (the sink topic of destination 'ledger') is also the source topic: flowyard would read its own output (a loop); write to another topic",
    ],
  },
  {
    name: 'a source topic that flowyard derives',
    text: file('name: orders', 'source:', '  topic: orders.completions', '  key: customerId', '  id: eventId', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: [
      "3:10: topic 'orders.completions' (the source topic) is also the completions topic flowyard derives: flowyard would read its own output (a loop); rename the source topic or the topology",
    ],
  },
  {
    name: 'two destinations writing one topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.out }', '  - name: inventory', '    sink: { type: kafka, topic: orders.out }'),
    problems: [
      "11:33: topic 'orders.out' (the sink topic of destination 'inventory') is already the sink topic of destination 'ledger'; every output needs its own topic",
    ],
  },
  {
    name: 'a sink writing the default dead-letter topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.dlq }'),
    problems: [
      "9:33: topic 'orders.dlq' (the sink topic of destination 'ledger') is already the dead-letter topic flowyard derives; every output needs its own topic",
    ],
  },
  {
    name: 'a sequencer output that is a sink topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', 'ordering:', '  sequencer: { output: orders.ledger }'),
    problems: [
      "11:24: topic 'orders.ledger' (the sequencer output topic) is already the sink topic of destination 'ledger'; every output needs its own topic",
    ],
  },
  {
    name: 'a sequencer output that is the source topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', 'ordering:', '  sequencer: { output: orders.events }'),
    problems: [
      "11:24: topic 'orders.events' (the sequencer output topic) is also the source topic: flowyard would read its own output (a loop); write to another topic",
    ],
  },
  {
    name: 'a sequencer output that flowyard derives, and a dead-letter topic that is the source',
    text: file(
      ...HEAD,
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      'ordering: { sequencer: { output: orders.completions } }',
      'dlq: { topic: orders.events }',
    ),
    problems: [
      "10:34: topic 'orders.completions' (the sequencer output topic) is already the completions topic flowyard derives; every output needs its own topic",
      "11:15: topic 'orders.events' (the dead-letter topic) is also the source topic: flowyard would read its own output (a loop); write to another topic",
    ],
  },
  {
    name: 'a compensation writing to its own sink topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '    compensate: { type: kafka, topic: orders.ledger }'),
    problems: [
      "10:39: topic 'orders.ledger' (the compensation topic of destination 'ledger') is already the sink topic of destination 'ledger'; every output needs its own topic",
    ],
  },
  {
    name: 'a source topic that is the compensation input flowyard derives',
    text: file(
      'name: orders',
      'source:',
      '  topic: orders.compensate.ledger',
      '  key: customerId',
      '  id: eventId',
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      '    compensate: { type: kafka, topic: orders.reversals }',
    ),
    problems: [
      "3:10: topic 'orders.compensate.ledger' (the source topic) is also the compensation input topic flowyard derives for destination 'ledger': flowyard would read its own output (a loop); rename the source topic or the topology",
    ],
  },
  {
    name: 'a source topic that is an input topic of the rollout plan',
    text: file(
      'name: orders',
      'source:',
      '  topic: orders.cascade.ledger',
      '  key: customerId',
      '  id: eventId',
      'mode: fanout',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      'rollout: { to: cascade, percent: 10 }',
    ),
    problems: [
      "3:10: topic 'orders.cascade.ledger' (the source topic) is also the input topic flowyard derives for destination 'ledger' in the cascade rollout plan: flowyard would read its own output (a loop); rename the source topic or the topology",
    ],
  },
  {
    name: 'a compensation writing to its own compensation input topic',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }', '    compensate: { type: kafka, topic: orders.compensate.ledger }'),
    problems: [
      "10:39: topic 'orders.compensate.ledger' (the compensation topic of destination 'ledger') is already the compensation input topic flowyard derives for destination 'ledger'; every output needs its own topic",
    ],
  },
  {
    name: 'a sink writing an input topic of the rollout plan',
    text: file(
      ...HEAD,
      'mode: cascade',
      'destinations:',
      '  - name: ledger',
      '    sink: { type: kafka, topic: orders.ledger }',
      '  - name: inventory',
      '    sink: { type: kafka, topic: orders.fanout.ledger }',
      'rollout: { to: fanout, percent: 10 }',
    ),
    problems: [
      "11:33: topic 'orders.fanout.ledger' (the sink topic of destination 'inventory') is already the input topic flowyard derives for destination 'ledger' in the fanout rollout plan; every output needs its own topic",
    ],
  },
  // --- environment placeholders
  {
    name: 'an unset environment variable',
    text: file('name: orders', 'source:', '  topic: ${ORDERS_TOPIC}', '  key: customerId', '  id: eventId', 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: [
      '3:10: environment variable ORDERS_TOPIC is not set: set it, give a default with ${ORDERS_TOPIC:-value}, or write $${ORDERS_TOPIC} for the literal text',
    ],
  },
  {
    name: 'an unquoted placeholder in a flow mapping',
    env: { TOPIC: 'orders.ledger' },
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: ${TOPIC} }'),
    problems: ['9:34: YAML: Unexpected flow-map-start at node end (inside { } or [ ], quote a ${VAR} placeholder: "${VAR}")'],
  },
  {
    name: 'an unterminated placeholder',
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: "orders.${ENV" }'),
    problems: ["9:33: unterminated placeholder '${ENV': close it with '}', or write $${ for a literal '${'"],
  },
  {
    name: 'a variable that is not a number where one is needed',
    env: { PARTITIONS: 'many' },
    text: file(...HEAD, 'mode: fanout', 'partitions: ${PARTITIONS}', 'destinations:', '  - name: ledger', '    sink: { type: kafka, topic: orders.ledger }'),
    problems: ["7:13: partitions must be a whole number (got 'many')"],
  },
  {
    name: 'an escaped placeholder stays literal text',
    env: { TOPIC: 'orders.ledger' },
    text: file(...HEAD, 'mode: fanout', 'destinations:', '  - name: ledger', '    sink:', '      type: kafka', '      topic: $${TOPIC}'),
    problems: ["11:14: destinations[0].sink.topic '${TOPIC}' is not a valid Kafka topic name: use letters, digits, '.', '_' and '-'"],
  },
  // --- several layers at once
  {
    name: 'a schema error and a graph error in one file, reported together',
    text: file(
      ...HEAD,
      'mode: dag',
      'destinations:',
      '  - name: ledger',
      '    timeoutMs: 0',
      '    sink: { type: kafka, topic: orders.ledger }',
      '  - name: inventory',
      '    after: [ledgr]',
      '    sink: { type: kafka, topic: orders.inventory }',
    ),
    problems: [
      '9:16: destinations[0].timeoutMs must be a whole number from 1 to 600000 (got 0)',
      "12:13: destinations[1].after[0] names unknown destination 'ledgr' (did you mean 'ledger'?); known destinations: ledger, inventory",
    ],
  },
];

describe('invalid topology files', () => {
  test.each(cases)('$name', ({ text, env, problems }) => {
    expect(problemsOf(text, env)).toEqual(problems);
  });
});
