import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const ASK = 'tollgate:metrics?';
const ANSWER = 'tollgate:metrics';
/** How long a worker waits for the primary's sum before it answers with its own figures. */
const WAIT_MS = 2000;

interface Answer {
  type: typeof ANSWER;
  id: number;
  text?: string;
}

/**
 * With several workers (TOLLGATE_WORKERS), a scrape reaches one of them; it answers with the sum
 * over every worker, which the primary collects (prom-client's AggregatorRegistry over IPC). This
 * registers the worker's registry for that and returns how the worker renders a scrape.
 */
export function clusterWorkerMetrics(registry: Registry): () => Promise<string> {
  // Constructing one is what makes prom-client answer the primary's requests in this worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const waiting = new Map<number, (text: string | undefined) => void>();
  let next = 0;
  process.on('message', (message: Answer) => {
    if (message?.type !== ANSWER) return;
    waiting.get(message.id)?.(message.text);
    waiting.delete(message.id);
  });
  return async () => {
    const id = next++;
    const text = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(undefined);
      }, WAIT_MS);
      waiting.set(id, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
      process.send?.({ type: ASK, id });
    });
    return text ?? registry.metrics();
  };
}

/** The primary's side: answers a worker's question with the metrics of all workers, summed. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== ASK || typeof message.id !== 'number') return;
    const id = message.id;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: ANSWER, id, text } satisfies Answer),
      () => worker.send({ type: ANSWER, id } satisfies Answer),
    );
  });
}
