/**
 * Config problems a hostile or careless file used to slip past `validate`
 * (issue 11, items 4, 14, 15, 16): each must be a config error naming the
 * field, reported together with every other problem.
 */
import { parseConfigText, validateConfig } from '../../src/config';
import { thrown } from '../helpers/thrown';

function problems(yaml: string): readonly string[] {
  const err = thrown(() => parseConfigText(yaml, { env: {} }));
  if (err.code !== 'ERR_FULCRUM_CONFIG') throw err;
  return err.details;
}

const svc = (name: string, listen: string, extra = '') => `  - { name: ${name}, listen: "${listen}", backends: [{ address: 10.0.0.1:80 }]${extra} }\n`;

describe('YAML alias bombs (item 14)', () => {
  test('a "billion laughs" document is a read error, not a crash', () => {
    expect.assertions(3);
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const err = thrown(() => parseConfigText(`${levels.join('\n')}\nservices: *h\n`, { env: {} }));
    expect(err.code).toBe('ERR_FULCRUM_CONFIG_READ');
    expect(err.message).toContain('cannot parse config as YAML');
    expect(err.message).toContain('alias');
  });

  test('a few aliases are still fine', () => {
    expect.assertions(1);
    const yaml = `x-health: &h { enabled: false }\nservices:\n  - { name: a, listen: 127.0.0.1:0, health: *h, backends: [{ address: 10.0.0.1:80 }] }\n`;
    // x-health is an unknown key: the alias itself parsed.
    expect(problems(yaml)).toEqual(['x-health: unknown key']);
  });
});

describe('listen addresses the kernel would refuse (item 15)', () => {
  test('a wildcard and a specific address on one port and protocol clash', () => {
    expect.assertions(3);
    expect(problems(`services:\n${svc('a', '127.0.0.1:7000')}${svc('b', '0.0.0.0:7000')}`)).toEqual([
      'services[1].listen: tcp 0.0.0.0:7000 overlaps (wildcard) with services[0] (127.0.0.1:7000): the second bind would fail with EADDRINUSE',
    ]);
    // Other protocol, other family (IPv6 listeners are IPv6-only) or port 0: no clash.
    expect(parseConfigText(`services:\n${svc('a', '127.0.0.1:7000')}${svc('b', '0.0.0.0:7000', ', protocol: udp')}${svc('c', '[::]:7000')}`, { env: {} }).services).toHaveLength(3);
    expect(parseConfigText(`services:\n${svc('a', '127.0.0.1:0')}${svc('b', '0.0.0.0:0')}`, { env: {} }).services).toHaveLength(2);
  });

  test('the admin API may not take a TCP service port, nor the peer socket a UDP one', () => {
    expect.assertions(2);
    expect(problems(`admin: { listen: 127.0.0.1:7000 }\nservices:\n${svc('a', '0.0.0.0:7000')}`)).toEqual([
      'admin.listen: tcp 127.0.0.1:7000 overlaps (wildcard) with services[0] (0.0.0.0:7000): the second bind would fail with EADDRINUSE',
    ]);
    const peer = 'peer: { id: a, listen: 127.0.0.1:7001, peers: [127.0.0.2:7001], key: "0123456789abcdef0123456789abcdef" }\n';
    expect(problems(`${peer}services:\n${svc('a', '127.0.0.1:7001', ', protocol: udp')}`)).toEqual([
      'peer.listen: udp 127.0.0.1:7001 is the same address as services[0] (127.0.0.1:7001): the second bind would fail with EADDRINUSE',
    ]);
  });

  test('an IPv4-mapped IPv6 listen address is refused with the address to write instead', () => {
    expect.assertions(1);
    expect(problems(`admin: { listen: "[::ffff:127.0.0.1]:9090" }\nservices:\n${svc('a', '[::ffff:127.0.0.1]:7000')}`)).toEqual([
      'admin.listen: [::ffff:127.0.0.1]:9090 is an IPv4-mapped IPv6 address, which an IPv6-only socket cannot bind: write "127.0.0.1:9090"',
      'services[0].listen: [::ffff:127.0.0.1]:7000 is an IPv4-mapped IPv6 address, which an IPv6-only socket cannot bind: write "127.0.0.1:7000"',
    ]);
  });
});

describe('tokens, weights and admin exposure (item 16)', () => {
  test('a token that cannot be sent as a bearer token is refused without showing it', () => {
    expect.assertions(4);
    const details = problems(`admin: { token: "open sesame" }\nservices:\n${svc('a', '127.0.0.1:0')}`);
    expect(details).toEqual([
      'admin.token: is not a valid bearer token: whitespace at character 5; use letters, digits and - . _ ~ + / (= only at the end), e.g. the output of "openssl rand -hex 32"',
    ]);
    expect(details.join('\n')).not.toContain('sesame');
    expect(problems(`admin: { token: "a=b" }\nservices:\n${svc('a', '127.0.0.1:0')}`)[0]).toContain('"=" at character 2 is only allowed as trailing padding');
    expect(parseConfigText(`admin: { token: "Zm9v-bar_baz.~+/==" }\nservices:\n${svc('a', '127.0.0.1:0')}`, { env: {} }).admin?.token).toBe('Zm9v-bar_baz.~+/==');
  });

  test('every used backend at weight 0 is an error naming the backends list', () => {
    expect.assertions(3);
    const zero = `services:\n  - name: a\n    listen: 127.0.0.1:0\n    backends:\n      - { address: 10.0.0.1:80, weight: 0 }\n      - { address: 10.0.0.2:80, weight: 0 }\n      - { address: 10.0.0.3:80, backup: true }\n`;
    expect(problems(zero)).toEqual([
      'services[0].backends: every regular (non-backup) backend has weight 0, so every client would be refused: give at least one a weight above 0',
    ]);
    const allBackups = `services:\n  - { name: a, listen: 127.0.0.1:0, backends: [{ address: 10.0.0.1:80, weight: 0, backup: true }] }\n`;
    expect(problems(allBackups)).toEqual(['services[0].backends: every backend has weight 0, so every client would be refused: give at least one a weight above 0']);
    // One backend with weight left out (1) is enough.
    expect(parseConfigText(zero.replace('{ address: 10.0.0.2:80, weight: 0 }', '{ address: 10.0.0.2:80 }'), { env: {} }).services[0]?.backends).toHaveLength(3);
  });

  test('a public admin API without a token is reported together with every other problem', () => {
    expect.assertions(1);
    expect(problems(`admin: { listen: 0.0.0.0:9090 }\nservices:\n  - { name: a, listen: 127.0.0.1:0, balance: fastest, backends: [{ address: 10.0.0.1:80 }] }\n`)).toEqual([
      'admin.listen: 0.0.0.0:9090 is not a loopback address; set admin.token to expose the admin API',
      'services[0].balance: must be one of round-robin, least-conn, source-hash, random-two (got "fastest")',
    ]);
  });
});

describe('validation is linear in backends (item 4)', () => {
  test('20,000 backends validate, each address and name checked for uniqueness', () => {
    expect.assertions(2);
    const backends = Array.from({ length: 20_000 }, (_, i) => ({ address: `127.${(i >> 8) & 255}.${i & 255}.1:${1024 + (i >> 16)}`, name: `b${i}` }));
    const config = validateConfig({ admin: { enabled: false }, services: [{ name: 'big', listen: '127.0.0.1:0', health: { enabled: false }, backends }] }, {});
    expect(config.services[0]?.backends).toHaveLength(20_000);
    backends.push({ address: backends[123]!.address, name: 'dup' });
    const err = thrown(() => validateConfig({ services: [{ name: 'big', listen: '127.0.0.1:0', backends }] }, {}));
    expect(err.details).toEqual([`services[0].backends[20000].address: duplicate backend address ${backends[123]!.address} (also backends[123])`]);
  });
});
