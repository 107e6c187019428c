/**
 * Transactional ids of the transactional kafka worker (kafka-tx-worker.ts).
 *
 * Per input partition (a backend without KIP-447, kafkajs): `<group>/<input topic>/<partition>`.
 * The partition's next owner opens its producer with the same id, which is what fences the
 * previous one.
 *
 * Per member (a backend with KIP-447, where the group's generation fences a member that lost
 * its partitions): `<group>/<input topic>/<random UUID>`, a new one each time the member opens
 * its producer (at start, and after a failed transaction). Fencing does not depend on the id,
 * only uniqueness does: a second replica of the worker's Deployment, or a second member in one
 * process (tests, the bench), gets its own, as Kafka Streams' exactly_once_v2 names its
 * producers after a random process id. What an id stable across restarts would add: a
 * restarted member would abort its crashed predecessor's open transaction at once; with a new
 * id the broker aborts it at the 60 s transaction timeout, and read_committed readers of the
 * partitions it wrote wait until then. Not done: nothing tells a restart from a second member
 * for sure (a pod's hostname is kept across container restarts, but containers sharing the
 * host's network share it too, and two members with one id fence each other for ever).
 */
import { randomUUID } from 'node:crypto';

export function partitionTransactionalId(group: string, inputTopic: string, partition: number): string {
  return `${group}/${inputTopic}/${partition}`;
}

export function memberTransactionalId(group: string, inputTopic: string, uuid: string = randomUUID()): string {
  return `${group}/${inputTopic}/${uuid}`;
}
