/**
 * Rules across the records of a dns service that a per-field schema cannot
 * see. Each problem is reported with its path inside the service.
 */
import { isIP } from 'node:net';
import type { DnsServiceConfig } from './dns-types';

export type AddProblem = (path: Array<string | number>, message: string) => void;

export function checkDnsService(s: DnsServiceConfig, problem: AddProblem): void {
  const locations = new Set(s.locations.map((l) => l.location));
  const zoneNames = new Map<string, number>();
  const memberAddress = new Map<string, string>();
  s.zones.forEach((zone, zi) => {
    const first = zoneNames.get(zone.name);
    if (first !== undefined) problem(['zones', zi, 'name'], `duplicate zone ${zone.name} (also zones[${first}])`);
    else zoneNames.set(zone.name, zi);
    zone.ns.forEach((ns, ni) => {
      const inside = ns.name === zone.name || ns.name.endsWith(`.${zone.name}`);
      if (inside && ns.address === null) problem(['zones', zi, 'ns', ni, 'address'], `is required: ${ns.name} is inside the zone, so the parent needs its address as glue`);
    });
    const byName = new Map<string, Set<string>>();
    zone.records.forEach((r, ri) => {
      const at = (...rest: Array<string | number>) => ['zones', zi, 'records', ri, ...rest];
      const types = byName.get(r.name) ?? new Set<string>();
      byName.set(r.name, types);
      if (types.has(r.type)) problem(at('name'), `${r.name} already has a ${r.type} record in this zone`);
      else if (r.type === 'CNAME' && types.size > 0) problem(at('type'), `${r.name} already has other records: a CNAME must be alone at its name`);
      else if (types.has('CNAME')) problem(at('name'), `${r.name} has a CNAME: no other record may share its name`);
      types.add(r.type);
      if (r.type === 'CNAME') {
        if (r.name === zone.name) problem(at('name'), 'a CNAME cannot be at the zone apex (it has SOA and NS)');
        if (r.target === null) problem(at('target'), 'is required for a CNAME record');
        if (r.members.length > 0) problem(at('members'), 'a CNAME record has a target, not members');
        return;
      }
      if (r.target !== null) problem(at('target'), 'only for CNAME records');
      if (r.members.length === 0) problem(at('members'), 'must list at least one member');
      const family = r.type === 'A' ? 4 : 6;
      const seen = new Set<string>();
      r.members.forEach((m, mi) => {
        if (isIP(m.address) !== family) problem(at('members', mi, 'address'), `${m.address} is not an IPv${family} address (record type ${r.type})`);
        // The same address may serve several locations of a geolocation record, but only once each.
        const key = `${m.address}/${m.location}`;
        if (seen.has(key)) problem(at('members', mi, 'address'), `duplicate member ${m.address}${m.location === '*' ? '' : ` for location ${m.location}`} in this record`);
        seen.add(key);
        if (m.location !== '*' && !locations.has(m.location)) problem(at('members', mi, 'location'), `unknown location "${m.location}" (define it under "locations", or use "*")`);
        const known = memberAddress.get(m.name);
        if (known !== undefined && known !== m.address) problem(at('members', mi, 'name'), `member name "${m.name}" already names ${known} in this service`);
        memberAddress.set(m.name, m.address);
      });
    });
  });
}
