/**
 * Client allow/deny lists, checked once per accepted connection.
 * Deny wins; a non-empty allow list admits only its networks; no lists
 * admit everyone. IPv4-mapped IPv6 clients are matched as IPv4.
 */
import { BlockList } from 'node:net';
import { foldClientIp, type CidrSpec } from './cidr';

/**
 * One BlockList per family: Node's BlockList matches across families
 * (an IPv4 client hits "::/0", a mapped client hits "10.0.0.0/8"), and an
 * IPv6 rule must never match an IPv4 client nor the reverse.
 */
interface FamilyLists {
  v4: BlockList | undefined;
  v6: BlockList | undefined;
}

export class Acl {
  private readonly allow: FamilyLists;
  private readonly deny: FamilyLists;
  private readonly hasAllow: boolean;
  /** No rules at all: `check` returns before touching the address. */
  readonly allowsAll: boolean;

  constructor(allow: readonly CidrSpec[] | undefined, deny: readonly CidrSpec[] | undefined) {
    this.allow = build(allow);
    this.deny = build(deny);
    this.hasAllow = allow !== undefined && allow.length > 0;
    this.allowsAll = !this.hasAllow && (deny === undefined || deny.length === 0);
  }

  /** True when the client may connect. A string that is not an IP address is refused (fail closed). */
  check(clientIp: string): boolean {
    if (this.allowsAll) return true;
    const ip = foldClientIp(clientIp);
    if (ip === undefined) return false;
    const v6 = ip.includes(':');
    const family = v6 ? 'ipv6' : 'ipv4';
    const deny = v6 ? this.deny.v6 : this.deny.v4;
    if (deny !== undefined && deny.check(ip, family)) return false;
    if (!this.hasAllow) return true;
    // An allow list with no rules of this family admits none of its clients.
    const allow = v6 ? this.allow.v6 : this.allow.v4;
    return allow !== undefined && allow.check(ip, family);
  }
}

function build(specs: readonly CidrSpec[] | undefined): FamilyLists {
  const lists: FamilyLists = { v4: undefined, v6: undefined };
  for (const spec of specs ?? []) {
    if (spec.family === 4) {
      lists.v4 ??= new BlockList();
      lists.v4.addSubnet(spec.address, spec.prefix, 'ipv4');
    } else {
      lists.v6 ??= new BlockList();
      lists.v6.addSubnet(spec.address, spec.prefix, 'ipv6');
    }
  }
  return lists;
}
