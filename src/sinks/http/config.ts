/**
 * Configuration of the `http` sink: send each event's original bytes to a webhook, with the
 * event id as `Idempotency-Key` so the receiver can drop a repeat.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { SinkSpec } from '../define.js';
import { StringEnum } from '../../topology/names.js';

/** The methods the sink sends with. Both carry a body; PUT suits receivers keyed by URL. */
export const HTTP_METHODS = ['POST', 'PUT'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Default `method`. */
export const DEFAULT_HTTP_METHOD: HttpMethod = 'POST';
/** Sent as `content-type` unless `headers` names one: flowyard's source format is JSON by default. */
export const DEFAULT_CONTENT_TYPE = 'application/json';

/** An HTTP header name: RFC 9110 `token` characters. */
const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/** Schema of an `http` sink config; its descriptions are the reference docs. */
export const HttpSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('http', { description: 'Send each event to an HTTP endpoint.' }),
    url: Type.String({
      pattern: '^https?://[^\\s/?#]+[^\\s]*$',
      description: 'Endpoint to send to, http:// or https://, with path and query (e.g. http://notifier:8080/hook).',
    }),
    method: Type.Optional(
      StringEnum(HTTP_METHODS, { description: 'HTTP method (default: POST). The body is the event value exactly as it came in.' }),
    ),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        propertyNames: { pattern: HEADER_NAME_PATTERN },
        description:
          'Extra request headers, e.g. `Authorization: "Bearer ${NOTIFY_TOKEN}"` (placeholders are resolved when the topology loads). ' +
          '`content-type` defaults to application/json; `Idempotency-Key` (the event id) and `traceparent` are always set by flowyard and override entries here.',
      }),
    ),
  },
  {
    additionalProperties: false,
    title: 'http sink',
    description:
      'Send each event (the original value bytes) to an HTTP endpoint with `Idempotency-Key: <event id>`. ' +
      '2xx is done; any other 4xx except 408/429 (409 included) goes to the dead-letter topic with the status and a body excerpt; ' +
      '5xx, 408, 429, connection errors and timeouts are retried, waiting at least Retry-After (up to retry.maxDelayMs). At most `concurrency` keep-alive connections. ' +
      'Delivery: at least once; a retry after a lost response repeats the request with the same Idempotency-Key, ' +
      'so the receiver must drop repeats of a key for the write to count once.',
  },
);

/** A validated `http` sink config. */
export type HttpSinkConfig = Static<typeof HttpSinkConfigSchema>;

/** The `http` sink's registry entry. */
export const httpSinkSpec: SinkSpec<typeof HttpSinkConfigSchema> = {
  type: 'http',
  summary: 'POST or PUT each event to an HTTP endpoint with the event id as Idempotency-Key; 4xx dead-letters, 5xx/429 retry.',
  configSchema: HttpSinkConfigSchema,
  defaults: { method: DEFAULT_HTTP_METHOD, headers: `content-type: ${DEFAULT_CONTENT_TYPE}` },
  examples: [
    { type: 'http', url: 'http://notifier:8080/hook' },
    { type: 'http', url: 'https://api.example.com/v1/orders?source=flowyard', method: 'PUT', headers: { 'X-Tenant': 'acme' } },
  ],
  idempotent: true,
  delivery:
    'At least once, once per Idempotency-Key. Every attempt and every redelivery of an event sends the same `Idempotency-Key: <event id>`, ' +
    'so a receiver that drops repeats of a key counts the event once, also after a lost response or a worker crash between the request and the done-key. ' +
    '2xx is done; 408, 429, 5xx, connection errors and timeouts are retriable (waiting at least Retry-After); any other status (4xx, 409 included, 1xx, 3xx) and an invalid request are permanent.',
};
