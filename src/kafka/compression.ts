/** What `KAFKA_COMPRESSION` accepts; the names Kafka's own `compression.type` uses. */
export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Chosen by bench/compression.mjs on the project's box; bench/README.md has the figures. */
export const DEFAULT_COMPRESSION: Compression = 'lz4';
