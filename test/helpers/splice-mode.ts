/**
 * Run the enclosing describe block with FULCRUM_SPLICE set to `mode` ('on':
 * the shared-buffer read path, 'off': 'data' events), restored afterwards.
 * TcpProxy reads it when a service starts, so set it before starting fulcrum.
 */
export function useSpliceMode(mode: string): void {
  const saved = process.env.FULCRUM_SPLICE;
  beforeAll(() => {
    process.env.FULCRUM_SPLICE = mode;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.FULCRUM_SPLICE;
    else process.env.FULCRUM_SPLICE = saved;
  });
}
