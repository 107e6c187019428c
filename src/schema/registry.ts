/**
 * A small client of the Confluent Schema Registry REST API (also served by Apicurio
 * Registry under `/apis/ccompat/v7` and by Karapace), with the few calls flowyard needs.
 *
 * Why not @kafkajs/confluent-schema-registry (docs/architecture.md §9): the decoder must tell
 * "the registry answered 404 for this id" (a bad event, dead-lettered) from "the registry is
 * unreachable or failing" (wait and retry, never dead-letter) within a bounded time, and
 * `schemas check` must print the registry's reasons from a verbose compatibility check. That
 * client has no request timeout option (it retries 3 times for up to 5 s on its own) and no
 * verbose compatibility call; plain `fetch` keeps both exact.
 */

/** The registry could not answer: connection refused, timeout, 5xx, or an unreadable answer. Retry later. */
export class RegistryUnavailableError extends Error {
  override readonly name = 'RegistryUnavailableError';
}

/** The registry answered with a 4xx: the request (an id, a subject, a schema) is the problem. */
export class RegistryRequestError extends Error {
  override readonly name = 'RegistryRequestError';
  constructor(
    message: string,
    /** HTTP status, e.g. 404. */
    readonly status: number,
    /** Confluent `error_code`, e.g. 40403 (schema not found), 40401 (subject not found), 409 (incompatible). */
    readonly errorCode: number | undefined,
    /** The registry's own message. */
    readonly registryMessage: string,
  ) {
    super(message);
  }
}

/** A schema as the registry stores it. */
export interface RegisteredSchema {
  /** The registry's schema text (JSON for Avro). */
  readonly schema: string;
  /** AVRO when the registry omits it, as Confluent does for Avro. */
  readonly schemaType: string;
}

export interface SubjectVersion extends RegisteredSchema {
  readonly subject: string;
  readonly id: number;
  readonly version: number;
}

export interface CompatibilityResult {
  readonly compatible: boolean;
  /** The registry's reasons when incompatible; empty when it gave none. */
  readonly messages: readonly string[];
  /** False when the subject has no version yet: nothing to be incompatible with. */
  readonly subjectExists: boolean;
}

export interface RegistryClientOptions {
  /** Per request; a registry that does not answer within it counts as unavailable. */
  readonly requestTimeoutMs?: number;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const DEFAULT_TIMEOUT_MS = 5_000; // a router waiting longer than this learns nothing more

/** Confluent `error_code`s that mean "no such subject" or "no such version", not a failure. */
const SUBJECT_OR_VERSION_NOT_FOUND = new Set([40401, 40402]);

/**
 * True when the registry itself says the subject (or its version) does not exist. A 404
 * without those codes comes from a wrong path (SCHEMA_REGISTRY_URL missing `/apis/ccompat/v7`,
 * say) and must not read as "nothing registered".
 */
export function isSubjectNotFound(error: unknown): error is RegistryRequestError {
  return error instanceof RegistryRequestError && error.status === 404 && error.errorCode !== undefined && SUBJECT_OR_VERSION_NOT_FOUND.has(error.errorCode);
}

/**
 * Confluent Schema Registry REST client. `baseUrl` is what SCHEMA_REGISTRY_URL holds, e.g.
 * `http://127.0.0.1:8081/apis/ccompat/v7` for the local Apicurio Registry.
 */
export class RegistryClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, options: RegistryClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** The schema with this global id. @throws RegistryRequestError (404 when unknown), RegistryUnavailableError. */
  async schemaById(id: number): Promise<RegisteredSchema> {
    const body = await this.request('GET', `/schemas/ids/${id}`);
    return toRegisteredSchema(body, `schema id ${id}`);
  }

  /** The latest version of a subject. @throws RegistryRequestError (404 when the subject does not exist), RegistryUnavailableError. */
  async latest(subject: string): Promise<SubjectVersion> {
    const body = await this.request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`);
    const schema = toRegisteredSchema(body, `subject ${subject}`);
    const record = body as Record<string, unknown>;
    if (typeof record.id !== 'number' || typeof record.version !== 'number') {
      throw new RegistryUnavailableError(`registry ${this.baseUrl}: the latest version of ${subject} has no id or version`);
    }
    return { ...schema, subject, id: record.id, version: record.version };
  }

  /**
   * Registers an Avro schema under a subject; returns its id (the existing one when the
   * same schema is already registered). @throws RegistryRequestError (409 incompatible, 422 invalid).
   */
  async register(subject: string, schema: string): Promise<number> {
    const body = await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema, schemaType: 'AVRO' });
    const id = (body as Record<string, unknown>).id;
    if (typeof id !== 'number') throw new RegistryUnavailableError(`registry ${this.baseUrl}: registering under ${subject} returned no id`);
    return id;
  }

  /**
   * Asks whether `schema` is compatible with the latest version of `subject` under the
   * subject's (or the global) compatibility level, with the registry's reasons.
   */
  async checkCompatibility(subject: string, schema: string): Promise<CompatibilityResult> {
    try {
      const body = await this.request(
        'POST',
        `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
        { schema, schemaType: 'AVRO' },
      );
      const record = body as Record<string, unknown>;
      const messages = Array.isArray(record.messages) ? record.messages.map(String) : [];
      return { compatible: record.is_compatible === true, messages, subjectExists: true };
    } catch (error) {
      if (isSubjectNotFound(error)) return { compatible: true, messages: [], subjectExists: false };
      throw error;
    }
  }

  /**
   * Apicurio Registry's ccompat API answers a verbose compatibility check without reasons.
   * Its native v3 API gives them: a dry-run of adding the version returns the rule
   * violation's causes. Only tried when `baseUrl` is an Apicurio ccompat URL; returns no
   * reasons for any other registry.
   */
  async apicurioReasons(subject: string, schema: string): Promise<readonly string[]> {
    const match = /^(.*)\/apis\/ccompat\/v\d+$/.exec(this.baseUrl);
    if (match === null) return [];
    const url = `${match[1]}/apis/registry/v3/groups/default/artifacts/${encodeURIComponent(subject)}/versions?dryRun=true`;
    const response = await this.fetchOrUnavailable('POST', url, { content: { content: schema, contentType: 'application/json' } }, 'application/json');
    if (response.status !== 409) return [];
    const body = await this.json(response, url);
    const causes = (body as Record<string, unknown>).causes;
    if (!Array.isArray(causes)) return [];
    return causes.map((cause) => {
      const { description, context } = (cause ?? {}) as Record<string, unknown>;
      return context ? `${String(description)} at ${String(context)}` : String(description);
    });
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    const response = await this.fetchOrUnavailable(method, url, body, CONTENT_TYPE);
    if (response.status >= 500) {
      const text = await response.text().catch(() => '');
      throw new RegistryUnavailableError(`registry ${this.baseUrl} answered ${response.status} to ${method} ${path}${text ? `: ${text.slice(0, 300)}` : ''}`);
    }
    const parsed = await this.json(response, url);
    if (response.status >= 400) {
      const record = (parsed ?? {}) as Record<string, unknown>;
      const registryMessage = typeof record.message === 'string' ? record.message : JSON.stringify(parsed);
      const errorCode = typeof record.error_code === 'number' ? record.error_code : undefined;
      throw new RegistryRequestError(`registry ${this.baseUrl} answered ${response.status} to ${method} ${path}: ${registryMessage}`, response.status, errorCode, registryMessage);
    }
    return parsed;
  }

  private async fetchOrUnavailable(method: string, url: string, body: unknown, contentType: string): Promise<Response> {
    try {
      return await fetch(url, {
        method,
        headers: { accept: `${CONTENT_TYPE}, application/json`, ...(body === undefined ? {} : { 'content-type': contentType }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new RegistryUnavailableError(`registry ${this.baseUrl} is unreachable (${method} ${url}): ${describeFetchError(error)}`, { cause: error });
    }
  }

  private async json(response: Response, url: string): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new RegistryUnavailableError(`registry ${this.baseUrl}: the answer to ${url} broke off: ${describeFetchError(error)}`, { cause: error });
    }
    try {
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw new RegistryUnavailableError(`registry ${this.baseUrl}: ${url} answered ${response.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

function toRegisteredSchema(body: unknown, what: string): RegisteredSchema {
  const record = (body ?? {}) as Record<string, unknown>;
  if (typeof record.schema !== 'string') throw new RegistryUnavailableError(`registry answer for ${what} has no schema text`);
  return { schema: record.schema, schemaType: typeof record.schemaType === 'string' ? record.schemaType : 'AVRO' };
}

/**
 * fetch wraps the socket error (ECONNREFUSED, ...) in `cause`; that is the part worth
 * printing. Duck-typed: errors from undici may come from another realm (jest's VM), where
 * `instanceof Error` is false.
 */
function describeFetchError(error: unknown): string {
  const outer = asErrorLike(error);
  if (outer === undefined) return String(error);
  if (outer.name === 'TimeoutError') return 'no answer within the request timeout';
  const cause = asErrorLike(outer.cause);
  if (cause !== undefined) return cause.code ? `${cause.code} ${cause.message}` : cause.message;
  return outer.message;
}

interface ErrorLike {
  readonly name?: string;
  readonly message: string;
  readonly code?: string;
  readonly cause?: unknown;
}

function asErrorLike(value: unknown): ErrorLike | undefined {
  return typeof value === 'object' && value !== null && typeof (value as ErrorLike).message === 'string' ? (value as ErrorLike) : undefined;
}
