/**
 * Run the enclosing describe block with FULCRUM_DATAPLANE set to `mode`
 * ('net': net.Socket, 'handle': libuv handles where the probe passes),
 * restored afterwards. Read when the data plane is chosen, so set it before
 * starting fulcrum (chooseDataPlane reads it per service start; the probe of
 * the handle path itself runs once per process).
 */
export const DATAPLANE_MODES = ['handle', 'net'] as const;

export function useDataPlaneMode(mode: string): void {
  const saved = process.env.FULCRUM_DATAPLANE;
  beforeAll(() => {
    process.env.FULCRUM_DATAPLANE = mode;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.FULCRUM_DATAPLANE;
    else process.env.FULCRUM_DATAPLANE = saved;
  });
}
