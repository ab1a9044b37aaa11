// Node.js runtime for the broker's Lambda: the loop AWS's runtime interface
// client runs, speaking the same Lambda Runtime API (AWS_LAMBDA_RUNTIME_API):
// load the handler once (init errors to /runtime/init/error), then forever
// GET /runtime/invocation/next, run the handler with AWS's context object, and
// POST /response or /error. Handlers may be async, return a promise, or take
// a callback; CommonJS and ES modules (.js, .mjs, .cjs) are both loaded.
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import util from "node:util";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const BASE = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [host, port] = API.split(":");
let currentRequestId = null;

function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request({ host, port, path: urlPath, method, agent,
      headers: { ...headers, ...(data ? { "Content-Length": data.length } : {}) } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

// console lines as AWS's Node.js runtime writes them: time, request id, level, message
for (const [name, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"],
  ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  console[name] = (...args) => {
    const msg = util.format(...args).replace(/\n/g, "\r");
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId ?? "undefined"}\t${level}\t${msg}\n`);
  };
}

function errorBody(err) {
  if (err instanceof Error) {
    return { errorType: err.name || "Error", errorMessage: err.message,
      trace: String(err.stack || "").split("\n") };
  }
  const text = typeof err === "string" ? err : JSON.stringify(err);
  return { errorType: "string", errorMessage: text, trace: [] };
}

async function postError(urlPath, err, type) {
  const body = errorBody(err);
  if (type) body.errorType = type;
  await request("POST", urlPath, JSON.stringify(body),
    { "Lambda-Runtime-Function-Error-Type": body.errorType, "Content-Type": "application/json" });
}

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    const e = new Error(`Bad handler ${spec}: missing handler name`); e.name = "Runtime.MalformedHandlerName"; throw e;
  }
  const modPath = spec.slice(0, dot), fnName = spec.slice(dot + 1);
  let file = null;
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const f = path.resolve(root, modPath + ext);
    if (fs.existsSync(f)) { file = f; break; }
  }
  if (!file) {
    const e = new Error(`Cannot find module '${path.basename(modPath)}'`);
    e.name = "Runtime.ImportModuleError"; throw e;
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const e = new Error(`${err.name}: ${err.message}`); e.name = "Runtime.UserCodeSyntaxError";
    e.stack = err.stack; throw e;
  }
  let fn = mod;
  for (const part of fnName.split(".")) fn = fn?.[part] ?? fn?.default?.[part];
  if (typeof fn !== "function") {
    const e = new Error(`${spec} is undefined or not exported`); e.name = "Runtime.HandlerNotFound"; throw e;
  }
  return fn;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const ctx = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  if (headers["lambda-runtime-client-context"]) ctx.clientContext = JSON.parse(headers["lambda-runtime-client-context"]);
  if (headers["lambda-runtime-cognito-identity"]) ctx.identity = JSON.parse(headers["lambda-runtime-cognito-identity"]);
  return ctx;
}

function run(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return; settled = true;
      err !== undefined && err !== null ? reject(err) : resolve(result);
    };
    ctx.done = done;
    ctx.succeed = (r) => done(null, r);
    ctx.fail = (e) => done(e ?? "handled");
    try {
      const out = handler(event, ctx, done);
      if (out && typeof out.then === "function") out.then((r) => done(null, r), (e) => done(e ?? "rejected"));
      else if (handler.length < 3) done(null, out);
    } catch (err) {
      done(err);
    }
  });
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  console.error(util.format(err));
  await postError(`${BASE}/init/error`, err, err.name);
  process.exit(1);
}

process.on("uncaughtException", async (err) => {
  console.error(util.format(err));
  if (currentRequestId) await postError(`${BASE}/invocation/${currentRequestId}/error`, err, "Runtime.UnhandledPromiseRejection").catch(() => {});
  process.exit(129);
});

for (;;) {
  const next = await request("GET", `${BASE}/invocation/next`);
  const id = next.headers["lambda-runtime-aws-request-id"];
  currentRequestId = id;
  if (next.headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
  else delete process.env._X_AMZN_TRACE_ID;
  let event;
  try {
    event = JSON.parse(next.body.toString("utf8") || "null");
    const result = await run(handler, event, context(next.headers));
    const text = result === undefined ? "null" : JSON.stringify(result);
    await request("POST", `${BASE}/invocation/${id}/response`, text, { "Content-Type": "application/json" });
  } catch (err) {
    console.error(util.format("Invoke Error", JSON.stringify(errorBody(err))));
    await postError(`${BASE}/invocation/${id}/error`, err);
  }
  currentRequestId = null;
}
