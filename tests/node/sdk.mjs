// One call of the real Node `pusher` server SDK, for the conformance tests.
//
//   node sdk.mjs '{"config":{appId,key,secret,host,port,useTLS:false}, "call":"trigger", "args":[...]}'
//
// Prints exactly one JSON line and exits 0, also when the call fails (errors are data):
//   HTTP calls  -> {"status": 200, "body": <JSON-decoded body, or the text>}
//                  {"error": "Unexpected status code 401", "status": 401, "body": "<text>"}
//                  {"error": "Request failed with an error", "cause": "..."}  (no answer at all)
//   local calls -> {"result": ...}   (authorizeChannel, authenticateUser, createSignedQueryString)
//   webhook     -> {"isValid": bool, "events": [...]|null, "time_ms": n|null, "error"?: ...}
//   SDK refuses the arguments -> {"error": "<message>"}
// Exit 2 only for misuse of this script (bad JSON, unknown call).
import { createRequire } from 'node:module';
import Pusher from 'pusher';

const SDK_VERSION = createRequire(import.meta.url)('pusher/package.json').version;

const HTTP_CALLS = new Set([
  'trigger',
  'triggerBatch',
  'get',
  'post',
  'sendToUser',
  'terminateUserConnections',
]);
const LOCAL_CALLS = new Set(['authorizeChannel', 'authenticateUser', 'createSignedQueryString']);

function print(value) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(value) + '\n', resolve));
}

async function decodeResponse(response) {
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: report the text as it came
  }
  return { status: response.status, body };
}

function describeFailure(err) {
  const out = { error: String(err?.message ?? err) };
  if (err?.status !== undefined) out.status = err.status;
  if (err?.body !== undefined) {
    try {
      out.body = JSON.parse(err.body);
    } catch {
      out.body = err.body;
    }
  }
  if (err?.error !== undefined) out.cause = String(err.error?.message ?? err.error);
  return out;
}

function validateWebhook(pusher, request) {
  // Node's http module lower-cases header names, and the SDK looks them up that way.
  const headers = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  const webhook = pusher.webhook({ headers, rawBody: request.body ?? request.rawBody ?? '' });
  const isValid = webhook.isValid();
  if (!isValid) return { isValid, events: null, time_ms: null };
  return { isValid, events: webhook.getEvents(), time_ms: webhook.getTime().getTime() };
}

async function run(request) {
  const config = { useTLS: false, timeout: 10000, ...request.config };
  const args = request.args ?? [];
  const call = request.call;
  const pusher = new Pusher(config);
  if (HTTP_CALLS.has(call)) {
    return decodeResponse(await pusher[call](...args));
  }
  if (LOCAL_CALLS.has(call)) {
    return { result: pusher[call](...args) };
  }
  if (call === 'webhook') {
    return validateWebhook(pusher, args[0] ?? {});
  }
  if (call === 'version') {
    return { result: SDK_VERSION };
  }
  throw new UsageError(`unknown call ${JSON.stringify(call)}`);
}

class UsageError extends Error {}

async function main() {
  let request;
  try {
    request = JSON.parse(process.argv[2] ?? '');
  } catch (err) {
    await print({ error: `usage: node sdk.mjs '<json>' (${err.message})` });
    return 2;
  }
  try {
    await print(await run(request));
    return 0;
  } catch (err) {
    await print(describeFailure(err));
    return err instanceof UsageError ? 2 : 0;
  }
}

process.exitCode = await main();
