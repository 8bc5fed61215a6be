/**
 * The TCP suites that do not choose a data plane themselves run again here on
 * net.Socket (FULCRUM_DATAPLANE=net), so `npm test` covers both data planes
 * (tcp-proxy, admission and conn are parametrised inside). Jest runs each test
 * file in its own process: the variable stays in this one.
 */
process.env.FULCRUM_DATAPLANE = 'net';

describe('FULCRUM_DATAPLANE=net: tcp-forced-close', () => {
  require('./tcp-forced-close.test');
});
describe('FULCRUM_DATAPLANE=net: fd-leak', () => {
  require('./fd-leak.test');
});
describe('FULCRUM_DATAPLANE=net: reload', () => {
  require('./reload.test');
});
describe('FULCRUM_DATAPLANE=net: tcp-settings', () => {
  require('./tcp-settings.test');
});
describe('FULCRUM_DATAPLANE=net: workers', () => {
  require('./workers.test');
});
