/** Subject names as Confluent's serializers derive them, so `schemas push` registers where producers look. */
import { valueSubjects } from '../../../src/schema/subjects.js';

describe('value subjects', () => {
  const topics = ['orders.events', 'orders.replays'];
  const record = 'dev.flowyard.orders.OrderEvent';

  test('topic-name: <topic>-value, one per topic', () => {
    expect(valueSubjects('topic-name', topics, record)).toEqual(['orders.events-value', 'orders.replays-value']);
  });

  test('record-name: the record full name, once for all topics', () => {
    expect(valueSubjects('record-name', topics, record)).toEqual(['dev.flowyard.orders.OrderEvent']);
  });

  test('topic-record-name: <topic>-<record full name>', () => {
    expect(valueSubjects('topic-record-name', topics, record)).toEqual([
      'orders.events-dev.flowyard.orders.OrderEvent',
      'orders.replays-dev.flowyard.orders.OrderEvent',
    ]);
  });
});
