// Drives real pusher-js clients for the conformance tests.
//
// Commands arrive as JSON lines on stdin, reports leave as JSON lines on stdout (nothing else is
// ever written to stdout: console.* goes to stderr). Every command may carry an "id"; it is
// answered by {"type":"ack","id","op","result"} or {"type":"error","id","op","message"}.
// The full list of ops and report shapes is in tests/nodeclients.py (module docstring).
import { createRequire } from 'node:module';
import readline from 'node:readline';
import Pusher from 'pusher-js';

const PUSHER_JS_VERSION = createRequire(import.meta.url)('pusher-js/package.json').version;

// Keep stdout for reports only: libraries that log must not corrupt the line protocol.
for (const name of ['log', 'info', 'warn', 'debug', 'trace']) {
  console[name] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}
Pusher.log = (message) => process.stderr.write(`[pusher-js] ${message}\n`);

const clients = new Map(); // name -> {pusher, boundChannels: WeakSet, autoacks: Map}

function emit(report) {
  process.stdout.write(JSON.stringify(report, jsonSafe) + '\n');
}

function jsonSafe(_key, value) {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'bigint') return String(value);
  return value;
}

// Error objects from pusher-js hold sockets and close events: keep what a test can assert on.
function describeError(err) {
  if (err == null || typeof err !== 'object') return err;
  const out = {};
  for (const key of ['type', 'data', 'code', 'reason', 'status', 'message']) {
    if (err[key] !== undefined) out[key] = err[key];
  }
  if (err.error !== undefined) {
    const inner = err.error;
    out.error = inner && typeof inner === 'object' ? describeError(inner) : inner;
  }
  return out;
}

function eventReport(client, channel, event, data, metadata) {
  const report = { type: 'event', client, channel, event, data };
  if (metadata && metadata.user_id !== undefined) report.user_id = metadata.user_id;
  return report;
}

function membersSnapshot(members) {
  const list = [];
  members.each((member) => list.push({ id: member.id, info: member.info ?? null }));
  return { me: members.me ?? null, count: members.count, members: list };
}

function channelData(event, data) {
  // A presence channel hands its Members object to pusher:subscription_succeeded.
  if (event === 'pusher:subscription_succeeded' && data && typeof data.each === 'function') {
    return membersSnapshot(data);
  }
  return data;
}

function getClient(name) {
  const entry = clients.get(name);
  if (!entry) throw new Error(`unknown client ${JSON.stringify(name)}`);
  return entry;
}

function getChannel(entry, name) {
  const channel = entry.pusher.channel(name);
  if (!channel) throw new Error(`client is not subscribed to ${JSON.stringify(name)}`);
  return channel;
}

function buildOptions(cmd) {
  const options = {
    cluster: cmd.cluster ?? 'local', // required by pusher-js 8, unused once wsHost is given
    wsHost: cmd.wsHost ?? '127.0.0.1',
    wsPort: cmd.wsPort,
    wssPort: cmd.wssPort ?? cmd.wsPort,
    forceTLS: cmd.forceTLS ?? false,
    enabledTransports: cmd.enabledTransports ?? ['ws'],
    enableStats: false,
  };
  for (const key of ['wsPath', 'activityTimeout', 'pongTimeout', 'unavailableTimeout']) {
    if (cmd[key] !== undefined) options[key] = cmd[key];
  }
  const channelAuthorization =
    cmd.channelAuthorization ?? (cmd.authEndpoint ? { endpoint: cmd.authEndpoint } : null);
  if (channelAuthorization) {
    options.channelAuthorization = { transport: 'ajax', ...channelAuthorization };
  }
  if (cmd.userAuthentication) {
    options.userAuthentication = { transport: 'ajax', ...cmd.userAuthentication };
  }
  return { ...options, ...(cmd.options ?? {}) };
}

// Report everything the channel hands to the application. bind_global callbacks get no
// metadata (so no user_id), hence the observation of the channel's own emit: it sees exactly
// what channel.bind callbacks receive, metadata included. Observation only: emit is unchanged.
function watchChannel(name, entry, channel) {
  if (entry.boundChannels.has(channel)) return;
  entry.boundChannels.add(channel);
  const emitToApp = channel.emit.bind(channel);
  channel.emit = (event, data, metadata) => {
    emit(eventReport(name, channel.name, event, channelData(event, data), metadata));
    return emitToApp(event, data, metadata);
  };
}

function connect(cmd) {
  const name = cmd.client;
  if (clients.has(name)) clients.get(name).pusher.disconnect();
  const pusher = new Pusher(cmd.key, buildOptions(cmd));
  const entry = { pusher, boundChannels: new WeakSet() };
  clients.set(name, entry);
  pusher.connection.bind('state_change', ({ previous, current }) => {
    emit({
      type: 'state',
      client: name,
      previous,
      current,
      socket_id: pusher.connection.socket_id ?? null,
    });
  });
  // The constructor already moved initialized -> connecting, before we could bind.
  if (pusher.connection.state !== 'initialized') {
    emit({
      type: 'state',
      client: name,
      previous: 'initialized',
      current: pusher.connection.state,
      socket_id: null,
    });
  }
  pusher.connection.bind('error', (err) => {
    emit({ type: 'connection_error', client: name, error: describeError(err) });
  });
  pusher.connection.bind('message', (message) => {
    emit({ type: 'message', client: name, ...message });
    // Connection-level events (no channel) as the application sees them.
    const event = message.event;
    const protocol = event === 'pusher:ping' || event === 'pusher:pong';
    if (!message.channel && !protocol && !event.startsWith('pusher_internal:')) {
      emit(eventReport(name, null, event, message.data, message));
    }
  });
  // Server-to-user events and pusher:signin_error reach the app through pusher.user.
  pusher.user.bind_global((event, data) => {
    const channel = pusher.user.serverToUserChannel?.name ?? null;
    emit({ ...eventReport(name, channel, event, data), source: 'user' });
  });
  return { client: name };
}

function tutorialAutoack(cmd) {
  const entry = getClient(cmd.client);
  const channel = getChannel(entry, cmd.channel);
  const incoming = cmd.event ?? 'client-message-added';
  const outgoing = cmd.reply ?? 'client-message-delivered';
  channel.bind(incoming, (data) => {
    const id = data && typeof data === 'object' ? data.id : undefined;
    const sent = channel.trigger(outgoing, { id });
    emit({ type: 'autoack', client: cmd.client, channel: channel.name, id, result: sent });
  });
  return true;
}

const ops = {
  ping: () => 'pong',
  connect,
  subscribe(cmd) {
    const entry = getClient(cmd.client);
    watchChannel(cmd.client, entry, entry.pusher.subscribe(cmd.channel));
    return true;
  },
  unsubscribe(cmd) {
    getClient(cmd.client).pusher.unsubscribe(cmd.channel);
    return true;
  },
  bind(cmd) {
    const entry = getClient(cmd.client);
    const target = cmd.channel ? getChannel(entry, cmd.channel) : entry.pusher;
    target.bind(cmd.event, (data, metadata) => {
      const report = eventReport(cmd.client, cmd.channel ?? null, cmd.event, data, metadata);
      emit({ ...report, type: 'bound' });
    });
    return true;
  },
  bind_global(cmd) {
    getClient(cmd.client).pusher.bind_global((event, data) => {
      emit({ type: 'global', client: cmd.client, event, data });
    });
    return true;
  },
  trigger(cmd) {
    const entry = getClient(cmd.client);
    return getChannel(entry, cmd.channel).trigger(cmd.event, cmd.data ?? {});
  },
  send_event(cmd) {
    return getClient(cmd.client).pusher.send_event(cmd.event, cmd.data ?? {}, cmd.channel);
  },
  signin(cmd) {
    getClient(cmd.client).pusher.signin();
    return true;
  },
  disconnect(cmd) {
    getClient(cmd.client).pusher.disconnect();
    return true;
  },
  reconnect(cmd) {
    getClient(cmd.client).pusher.connect();
    return true;
  },
  state(cmd) {
    const connection = getClient(cmd.client).pusher.connection;
    return { state: connection.state, socket_id: connection.socket_id ?? null };
  },
  channels(cmd) {
    return getClient(cmd.client)
      .pusher.allChannels()
      .map((channel) => ({ name: channel.name, subscribed: channel.subscribed }));
  },
  members(cmd) {
    const channel = getChannel(getClient(cmd.client), cmd.channel);
    if (!channel.members) throw new Error(`${cmd.channel} is not a presence channel`);
    return membersSnapshot(channel.members);
  },
  user(cmd) {
    return getClient(cmd.client).pusher.user.user_data ?? null;
  },
  tutorial_autoack: tutorialAutoack,
  exit: () => true,
};

function shutdown(code) {
  for (const entry of clients.values()) entry.pusher.disconnect();
  // Let the last reports drain before leaving.
  process.stdout.write('', () => process.exit(code));
}

function handle(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    emit({ type: 'error', id: null, op: null, message: `bad JSON: ${err.message}` });
    return;
  }
  const { id = null, op } = cmd;
  const fn = Object.hasOwn(ops, op) ? ops[op] : null;
  if (!fn) {
    emit({ type: 'error', id, op, message: `unknown op ${JSON.stringify(op)}` });
    return;
  }
  try {
    emit({ type: 'ack', id, op, result: fn(cmd) ?? null });
  } catch (err) {
    emit({ type: 'error', id, op, message: String(err?.message ?? err) });
  }
  if (op === 'exit') shutdown(0);
}

process.on('uncaughtException', (err) => {
  emit({ type: 'crash', message: String(err?.stack ?? err) });
});
process.stdout.on('error', () => process.exit(0)); // the test went away: nothing to report to

const input = readline.createInterface({ input: process.stdin });
input.on('line', handle);
input.on('close', () => shutdown(0)); // stdin closed: the parent is done with us
emit({ type: 'ready', pid: process.pid, pusher_js: PUSHER_JS_VERSION });
