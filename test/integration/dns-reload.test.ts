/** Reload: a changed config file swaps the zones at once; the sockets (and port) stay. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile, start, type FulcrumHandle } from '../../src/index';
import { addresses, dig } from '../helpers/dns';

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-dns-reload-')), 'fulcrum.yaml');
const write = (port: number, records: string) =>
  fs.writeFileSync(
    file,
    `
log: { level: silent }
admin: { enabled: false }
services:
  - name: gslb
    protocol: dns
    listen: 127.0.0.1:${port}
    zones:
      - name: gslb.test
        ns: [ { name: ns1.gslb.test, address: 127.0.0.53 } ]
        records:
${records}
`,
  );

let handle: FulcrumHandle;
afterAll(() => handle.stop(1000));

test('reload swaps records, adds and removes names, keeps the listening port', async () => {
  expect.assertions(7);
  write(0, `          - { name: www, health: { enabled: false }, members: [ { address: 127.0.0.10 } ] }
          - { name: old, health: { enabled: false }, members: [ { address: 127.0.0.30 } ] }`);
  handle = await start(loadConfigFile(file), { configFile: file });
  const port = handle.addresses.get('gslb')!.port;
  expect(addresses(await dig(port, ['www.gslb.test', 'A']))).toEqual(['127.0.0.10']);
  write(port, `          - { name: www, health: { enabled: false }, members: [ { address: 127.0.0.11 }, { address: 127.0.0.12 } ] }
          - { name: new, health: { enabled: false }, members: [ { address: 127.0.0.40 } ] }`);
  const report = await handle.reload();
  expect(report.servicesChanged).toEqual(['gslb']);
  expect(handle.addresses.get('gslb')!.port).toBe(port);
  expect(addresses(await dig(port, ['www.gslb.test', 'A'])).sort()).toEqual(['127.0.0.11', '127.0.0.12']);
  expect(addresses(await dig(port, ['new.gslb.test', 'A']))).toEqual(['127.0.0.40']);
  expect((await dig(port, ['old.gslb.test', 'A'])).status).toBe('NXDOMAIN');
  // An invalid file changes nothing.
  fs.writeFileSync(file, 'services: [ { name: gslb, protocol: dns, listen: 127.0.0.1:0, zones: [] } ]');
  await expect(handle.reload()).rejects.toMatchObject({ code: 'ERR_FULCRUM_CONFIG' });
});
