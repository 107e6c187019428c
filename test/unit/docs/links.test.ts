/**
 * The repository explains itself: no file sends the reader to a contract outside the clone
 * (`../shared/DESIGN.md`, `DESIGN §N`), every `docs/` link of the README resolves (file and
 * `#anchor`), and every `docs/<file>.md §N` reference anywhere names a section that exists.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/** What a maintainer reads: code, tests, chart, benchmarks, infra and the top-level files. */
const SCANNED_DIRS = ['src', 'test', 'helm', 'bench', 'infra', 'docs', 'topologies', 'schemas', '.ci'];
const SCANNED_FILES = ['README.md', 'Makefile', 'Dockerfile', 'docker-compose.yml', 'package.json', 'jest.config.js', 'eslint.config.js'];
const TEXT = /\.(ts|mjs|js|json|md|ya?ml|tpl|sh|txt|avsc)$|^(Makefile|Dockerfile|run)$/;
const SKIPPED = new Set(['node_modules', 'results', '.local', 'dist']);

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    if (SKIPPED.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path);
    return TEXT.test(name) ? [path] : [];
  });
}

const scanned = [...SCANNED_DIRS.flatMap((dir) => filesUnder(join(repo, dir))), ...SCANNED_FILES.map((file) => join(repo, file)).filter(existsSync)];
const self = fileURLToPath(import.meta.url);

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function headingsOf(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => match[1]!);
}

describe('docs in the repository', () => {
  test('the scan covers the code, the README and the chart', () => {
    const names = scanned.map((file) => relative(repo, file));
    expect(names).toEqual(expect.arrayContaining(['README.md', 'src/runtime/worker.ts', 'helm/flowyard/values.yaml', 'docs/architecture.md']));
  });

  test('no file points outside the clone for its design (../shared, DESIGN.md, DESIGN §)', () => {
    const offending = scanned
      .filter((file) => file !== self)
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .flatMap((line, index) => (/\.\.\/shared(\/|\b(?!\.js))|\bDESIGN(\.md|\s*§)|\bSTYLE\.md/.test(line) ? [`${relative(repo, file)}:${index + 1}: ${line.trim()}`] : [])),
      );
    expect(offending).toEqual([]);
  });

  test('every docs/ link of the README resolves to a file, and its #anchor to a heading', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\((docs\/[^)#\s]+)(#[^)\s]+)?\)|`(docs\/[^`#\s]+)`/g)].map((match) => ({
      file: (match[1] ?? match[3])!,
      anchor: match[2]?.slice(1),
    }));
    expect(links.length).toBeGreaterThan(0);
    const broken = links.flatMap(({ file, anchor }) => {
      const path = join(repo, file);
      if (!existsSync(path)) return [`${file}: no such file`];
      if (anchor === undefined) return [];
      const anchors = headingsOf(readFileSync(path, 'utf8')).map(anchorOf);
      return anchors.includes(anchor) ? [] : [`${file}#${anchor}: no such heading`];
    });
    expect(broken).toEqual([]);
  });

  test('every `docs/<file>.md §N` reference names a numbered section of that file', () => {
    const references = scanned.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(docs\/[\w.-]+\.md) ((?:§\d+)(?:,? ?§\d+)*)/g)].map((match) => ({
        from: relative(repo, file),
        doc: match[1]!,
        sections: [...match[2]!.matchAll(/§(\d+)/g)].map((section) => section[1]!),
      })),
    );
    expect(references.length).toBeGreaterThan(20);
    const broken = references.flatMap(({ from, doc, sections }) => {
      const path = join(repo, doc);
      if (!existsSync(path)) return [`${from}: ${doc} does not exist`];
      const numbered = new Set(headingsOf(readFileSync(path, 'utf8')).flatMap((heading) => /^(\d+)\./.exec(heading)?.[1] ?? []));
      return sections.filter((section) => !numbered.has(section)).map((section) => `${from}: ${doc} has no section ${section}`);
    });
    expect(broken).toEqual([]);
  });

  test('the architecture page links only to files that exist', () => {
    const page = readFileSync(join(repo, 'docs/architecture.md'), 'utf8');
    const paths = [...page.matchAll(/`((?:src|test|helm|bench|infra|schemas|topologies)\/[\w./-]+\.\w+)`/g)].map((match) => match[1]!);
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.filter((path) => !existsSync(join(repo, path)))).toEqual([]);
  });
});
