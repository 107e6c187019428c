// Readiness probe for the local broker: a metadata request succeeds and a consumer
// group can join. An open port alone is not enough: until the group coordinator has
// loaded __consumer_offsets, joins fail or stall.
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const broker = process.argv[2] ?? '127.0.0.1:9092';
const deadline = Date.now() + 90_000;
const kafka = new Kafka({ clientId: 'flowyard-ready', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 2 } });

async function probe() {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [] });
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: 'flowyard-readiness-probe', sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
    await consumer.subscribe({ topics: [/^__flowyard-readiness-none$/] });
    await consumer.run({ eachMessage: async () => {} });
    await Promise.race([joined, new Promise((_, reject) => setTimeout(() => reject(new Error('group join timed out')), 30_000))]);
  } finally {
    await consumer.disconnect();
  }
}

for (;;) {
  try {
    await probe();
    process.exit(0);
  } catch (error) {
    if (Date.now() > deadline) {
      console.error(`[infra] Kafka at ${broker} not ready: ${error.message}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
