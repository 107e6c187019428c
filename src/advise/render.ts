/** The text `flowyard advise` prints: the numbers first, then a recommendation per destination. */
import { ms, pct, type Advice } from './advise.js';

export function renderAdvice(advice: Advice, origin: string): string {
  const { plan, paths } = advice;
  const lines: string[] = [];
  lines.push(`advise ${plan.name} (plan ${plan.id}, mode ${plan.mode}) from ${origin}`);
  lines.push(`rate λ = ${advice.rate.toFixed(1)} events/s (${advice.rateSource})`);
  lines.push('');
  lines.push(
    table(
      ['destination', 'calls/event', 'fail/call', 'DLQ', 'write p50', 'p95', 'p99', 'mean', 'in flight λ·A·W', 'at p99', 'concurrency', 'ordering'],
      advice.destinations.map((f) =>
        f.measured
          ? [f.name, f.amplification.toFixed(2), pct(f.failureShare), String(f.deadLettered), ms(f.p50), ms(f.p95), ms(f.p99), ms(f.meanLatency), f.inFlight.toFixed(2), f.inFlightAtP99.toFixed(2), String(f.concurrency), f.ordering]
          : [f.name, '-', '-', '-', '-', '-', '-', '-', '-', '-', String(f.concurrency), f.ordering],
      ),
    ),
  );
  lines.push('');
  lines.push(`path per event (A x mean write): cascade ${ms(paths.cascade)}, fanout ${ms(paths.fanout)}${paths.dag === undefined ? '' : `, dag ${ms(paths.dag)}`}`);
  lines.push(`critical path (${plan.mode}): ${paths.critical.join(' -> ')} = ${ms(paths.criticalSeconds)}`);
  lines.push(`Amdahl: serial fraction ${paths.serialFraction.toFixed(2)}, going parallel is at most ${paths.amdahlBound.toFixed(2)}x faster than the cascade`);
  if (advice.endToEnd !== undefined) {
    const e = advice.endToEnd;
    lines.push(`measured end to end: p50 ${ms(e.p50)}, p99 ${ms(e.p99)}, mean ${ms(e.mean)} over ${e.count} events (the path plus hops, queueing and retry waits)`);
  }
  if (advice.branchSpread !== undefined) {
    const s = advice.branchSpread;
    const hold = plan.sequencer === undefined ? '' : plan.sequencer.holdMs / 1000 < s.p99 ? `; sequencer holdMs ${plan.sequencer.holdMs} is below it: raise it or gaps get skipped` : `; sequencer holdMs ${plan.sequencer.holdMs} covers it`;
    lines.push(`branch spread (slowest minus fastest destination per event): p50 ${ms(s.p50)}, p99 ${ms(s.p99)}${hold}`);
  }
  lines.push('');
  lines.push(`shape: ${advice.shape.recommended === 'keep' ? `keep ${plan.mode}` : `consider ${advice.shape.recommended}`}: ${advice.shape.because}`);
  for (const r of advice.recommendations) {
    const concurrency = r.concurrency.change === 'keep' ? `concurrency ${r.concurrency.value} (keep)` : `concurrency ${r.concurrency.value} (${r.concurrency.change})`;
    lines.push(`${r.destination}: ${r.shape}; ${concurrency}; ordering ${r.ordering}`);
    for (const reason of r.because) lines.push(`  - ${reason}`);
  }
  if (advice.unmeasured.length > 0) lines.push(`\nno writes measured for ${advice.unmeasured.join(', ')}: they count as 0 ms; run traffic through them first`);
  return lines.join('\n');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
