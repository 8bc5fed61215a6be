/**
 * examples/gslb: every fulcrum config validates (they use documentation
 * addresses, so they are only validated, never run), and the parent-zone
 * delegations (BIND zone file, Route 53 change batch) carry exactly the NS
 * names and glue that gslb.yaml serves.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../src/config';

const dir = path.resolve(__dirname, '../../examples/gslb');
const env = { FULCRUM_PEER_KEY: 'example-peer-key-0123456789' };
const configs = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.yaml')).sort();

test('the GSLB examples are all there', () => {
  expect(configs).toEqual(['dr-failover.yaml', 'gslb.yaml', 'site-a/lb-1.yaml', 'site-a/lb-2.yaml', 'site-b/lb-1.yaml', 'site-b/lb-2.yaml']);
});

test.each(configs)('examples/gslb/%s is valid', (file) => {
  const config = loadConfigFile(path.join(dir, file), env);
  expect(config.services.length + (config.dns?.length ?? 0)).toBeGreaterThan(0);
});

/** "name A address" lines for the delegation of gslb.example.com, as gslb.yaml declares it. */
function expectedDelegation(): string[] {
  const zone = loadConfigFile(path.join(dir, 'gslb.yaml'), env).dns![0]!.zones[0]!;
  return [...zone.ns.map((ns) => `${zone.name} NS ${ns.name}`), ...zone.ns.map((ns) => `${ns.name} A ${ns.address}`)].sort();
}

test('the BIND parent zone, as the PowerDNS BIND backend reads it, delegates with NS and glue matching gslb.yaml', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bind-'));
  fs.writeFileSync(path.join(tmp, 'named.conf'), `zone "example.com" { type master; file "${path.join(dir, 'parent-zone', 'example.com.zone')}"; };\n`);
  fs.writeFileSync(path.join(tmp, 'pdns.conf'), `launch=bind\nbind-config=${path.join(tmp, 'named.conf')}\n`);
  const listing = execFileSync('pdnsutil', [`--config-dir=${tmp}`, 'list-zone', 'example.com'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const records = listing
    .split('\n')
    .map((l) => l.split(/\s+/))
    .filter((f) => f.length >= 5 && /gslb\.example\.com$/.test(f[0]!) && (f[3] === 'NS' || f[3] === 'A'))
    .map((f) => `${f[0]} ${f[3]} ${f[4]!.replace(/\.$/, '')}`);
  expect(records.sort()).toEqual(expectedDelegation());
});

test('the Route 53 change batch delegates with NS and glue matching gslb.yaml', () => {
  const script = fs.readFileSync(path.join(dir, 'parent-zone', 'route53-delegation.sh'), 'utf8');
  const json = /<<'JSON'\n([\s\S]*?)\nJSON/.exec(script)![1]!;
  const batch = JSON.parse(json) as { Changes: Array<{ ResourceRecordSet: { Name: string; Type: string; ResourceRecords: Array<{ Value: string }> } }> };
  const records = batch.Changes.flatMap(({ ResourceRecordSet: r }) => r.ResourceRecords.map((v) => `${r.Name.replace(/\.$/, '')} ${r.Type} ${v.Value.replace(/\.$/, '')}`));
  expect(records.sort()).toEqual(expectedDelegation());
});
