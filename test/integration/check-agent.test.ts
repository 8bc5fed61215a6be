import net from 'node:net';
import { parseConfigText } from '../../src/config';
import { start, type FulcrumHandle } from '../../src/index';
import { close, connect, readAll, until } from '../helpers/net';

/**
 * The agent check over real sockets: two "hosts" on loopback addresses, each
 * with a backend (answers its own address) and an agent on the same port whose
 * line the test sets. Every keyword, garbage, silence and an unreachable agent.
 */
const HOSTS = ['127.0.0.2', '127.0.0.3'];
const servers: net.Server[] = [];
const handles: FulcrumHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(0)));
  await Promise.all(servers.splice(0).map((s) => (s.listening ? close(s) : undefined)));
});

async function listenOn(server: net.Server, host: string, port = 0): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

/** An agent answering `line` (null: accepts and says nothing). */
function agent() {
  const state = { line: 'ready 100%' as string | null };
  const server = net.createServer((c) => {
    c.on('error', () => {});
    if (state.line !== null) c.end(`${state.line}\n`);
  });
  return { server, state };
}

async function setup() {
  const agents = HOSTS.map(agent);
  const agentPort = await listenOn(agents[0].server, HOSTS[0]);
  await listenOn(agents[1].server, HOSTS[1], agentPort);
  const backends = HOSTS.map((host) =>
    net.createServer((c) => {
      c.on('error', () => {});
      c.end(host);
    }),
  );
  const port = await listenOn(backends[0], HOSTS[0]);
  await listenOn(backends[1], HOSTS[1], port);
  const text = `services:
  - name: web
    listen: 127.0.0.1:0
    balance: round-robin
    backends: [{ address: "${HOSTS[0]}:${port}", name: a, weight: 10 }, { address: "${HOSTS[1]}:${port}", name: b, weight: 10 }]
    health: { interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }
    agent: { port: ${agentPort}, interval: 100ms, timeout: 300ms }
admin: { enabled: false }
log: { level: silent }
# Exact shares over a few picks need one round-robin rotation: each worker thread rotates on its own.
workers: 1
`;
  const h = await start(parseConfigText(text));
  handles.push(h);
  const listen = h.addresses.get('web')!.port;
  const status = (i: number) => h.manager.status().services[0].backends[i];
  /** Set a's agent line and wait until fulcrum has read it. */
  const say = async (line: string | null, seen = line === null ? 'agent timeout' : `agent ${line}`) => {
    agents[0].state.line = line;
    await until(() => status(0).agent?.result === seen, 10_000);
  };
  const picks = async (n: number) => {
    const count = new Map<string, number>([[HOSTS[0], 0], [HOSTS[1], 0]]);
    for (let i = 0; i < n; i++) {
      const c = await connect(listen);
      const host = (await readAll(c)).toString();
      count.set(host, (count.get(host) ?? 0) + 1);
    }
    return [count.get(HOSTS[0]), count.get(HOSTS[1])];
  };
  await until(() => status(0).agent?.result === 'agent ready 100%' && status(1).agent?.result === 'agent ready 100%', 10_000);
  return { h, text, agents, status, say, picks, backend: (i: number) => h.manager.services[0].pool.backends[i] };
}

test('a percentage scales the weight and weight:N replaces it, as seen in the picks', async () => {
  expect.assertions(4);
  const t = await setup();
  expect(await t.picks(20)).toEqual([10, 10]);
  await t.say('up 25%'); // 2.5 against 10: one pick in five
  expect(await t.picks(50)).toEqual([10, 40]);
  await t.say('weight:30'); // 30 against 10
  expect(await t.picks(40)).toEqual([30, 10]);
  expect(t.status(0)).toMatchObject({ weight: 10, effectiveWeight: 30 });
});

test('drain, maint and down hold until ready / up; maxconn caps; the reason after # is shown', async () => {
  expect.assertions(10);
  const t = await setup();
  await t.say('drain');
  expect(t.status(0)).toMatchObject({ state: 'draining', reasons: ['agent_drain'] });
  expect(await t.picks(4)).toEqual([0, 4]);
  await t.say('75%'); // a weight alone does not end the drain
  expect(t.status(0).state).toBe('draining');
  await t.say('ready');
  expect(t.status(0).state).toBe('up');
  await t.say('maint');
  expect(t.status(0)).toMatchObject({ state: 'disabled', reasons: ['agent_maint'] });
  await t.say('ready up');
  await t.say('down #disk full');
  expect(t.status(0)).toMatchObject({ state: 'down', reasons: ['agent_down'], agent: { result: 'agent down #disk full' } });
  await t.say('up');
  expect(t.status(0).state).toBe('up');
  for (const word of ['fail', 'stopped']) {
    await t.say(word);
    expect(t.status(0).state).toBe('down');
    await t.say('up');
  }
  await t.say('up ready maxconn:3');
  expect([t.backend(0).maxConnections, t.status(0).state]).toEqual([3, 'up']);
});

test('garbage, a silent agent and an unreachable one change nothing; fulcrum_check_result{type="agent"} says 0', async () => {
  expect.assertions(6);
  const t = await setup();
  await t.say('drain 50%');
  await t.say('hello world', 'agent garbage: "hello world"');
  expect(t.status(0)).toMatchObject({ state: 'draining', effectiveWeight: 5 });
  await t.say('150%', 'agent garbage: "150%"');
  expect(t.status(0).effectiveWeight).toBe(5);
  await t.say(null);
  expect(t.status(0)).toMatchObject({ state: 'draining', effectiveWeight: 5 });
  await close(t.agents[0].server);
  await until(() => t.status(0).agent?.result === 'agent ECONNREFUSED', 10_000);
  expect(t.status(0)).toMatchObject({ state: 'draining', effectiveWeight: 5 });
  const { renderMetrics } = await import('../../src/admin/metrics');
  const metrics = (await renderMetrics(t.h.manager.status())).body;
  expect(metrics).toContain('fulcrum_check_result{service="web",backend="a",type="agent"} 0');
  expect(metrics).toContain('fulcrum_check_result{service="web",backend="b",type="agent"} 1');
});

test('a reload that changes agent settings keeps what the agent said; one that removes agent: undoes it', async () => {
  expect.assertions(3);
  const t = await setup();
  await t.say('drain 50%');
  await t.h.manager.apply(parseConfigText(t.text.replace('interval: 100ms, timeout: 300ms', 'interval: 150ms, timeout: 300ms')));
  expect(t.status(0)).toMatchObject({ state: 'draining', effectiveWeight: 5 });
  await t.h.manager.apply(parseConfigText(t.text.replace(/ {4}agent: .*\n/, '')));
  expect(t.status(0)).toMatchObject({ state: 'up', effectiveWeight: 10, agent: null });
  expect(await t.picks(4)).toEqual([2, 2]);
});
