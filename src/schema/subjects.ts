/**
 * Registry subject names for a source's value schema, as Confluent's serializers derive
 * them (`value.subject.name.strategy`), so `schemas push` registers where producers look.
 */

/** The strategies of the topology's `source.subjectNameStrategy`. */
export const SUBJECT_NAME_STRATEGIES = ['topic-name', 'record-name', 'topic-record-name'] as const;
export type SubjectNameStrategy = (typeof SUBJECT_NAME_STRATEGIES)[number];

/** Confluent's default (TopicNameStrategy). */
export const DEFAULT_SUBJECT_NAME_STRATEGY: SubjectNameStrategy = 'topic-name';

/**
 * The subjects a value schema is registered under, one per topic except for
 * `record-name` (one for all topics), without duplicates, in topic order.
 * - topic-name: `<topic>-value`
 * - record-name: `<record full name>`
 * - topic-record-name: `<topic>-<record full name>`
 */
export function valueSubjects(strategy: SubjectNameStrategy, topics: readonly string[], recordFullName: string): string[] {
  const subjects = topics.map((topic) => {
    switch (strategy) {
      case 'topic-name':
        return `${topic}-value`;
      case 'record-name':
        return recordFullName;
      case 'topic-record-name':
        return `${topic}-${recordFullName}`;
    }
  });
  return [...new Set(subjects)];
}
