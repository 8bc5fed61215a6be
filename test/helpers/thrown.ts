import { FulcrumError } from '../../src/errors';

/** The FulcrumError thrown by fn (fails the test when nothing is thrown). */
export function thrown(fn: () => unknown): FulcrumError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FulcrumError) return err;
    throw err;
  }
  throw new Error('expected a FulcrumError, nothing was thrown');
}
