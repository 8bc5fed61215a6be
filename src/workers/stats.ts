import type { LatencySnapshot } from '../stats/latency-histogram';
import type { DataPlaneStats } from '../proxy/data-plane';

/** What one worker reports for one service: its proxy's stats and each backend's connect times (histograms; counters are in shared memory). */
export type WorkerStats = DataPlaneStats & {
  connectTimes: Array<[backendId: number, snapshot: LatencySnapshot]>;
};
