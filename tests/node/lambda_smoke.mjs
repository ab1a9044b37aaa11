// aws-sdk-js v3 against the broker's Lambda: create from a zip, invoke (RequestResponse with a log
// tail, Event, a function error), versions and an alias, reserved concurrency 0 (a throttle), a
// missing function, delete. Endpoint from BROKER_ENDPOINT, the zip from LAMBDA_ZIP; prints one JSON
// line with what it saw (the pytest side asserts).
import { readFileSync } from "node:fs";
import { LambdaClient, CreateFunctionCommand, InvokeCommand, GetFunctionCommand, PublishVersionCommand,
  CreateAliasCommand, PutFunctionConcurrencyCommand, DeleteFunctionConcurrencyCommand, DeleteFunctionCommand,
  paginateListFunctions } from "@aws-sdk/client-lambda";

const endpoint = process.env.BROKER_ENDPOINT;
if (!endpoint) { console.error("BROKER_ENDPOINT not set"); process.exit(2); }
const lambda = new LambdaClient({ endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test-secret" } });
const name = `node-fn-${Math.random().toString(16).slice(2, 10)}`;
const text = (bytes) => new TextDecoder().decode(bytes);
const payload = (obj) => new TextEncoder().encode(JSON.stringify(obj));
const out = { name };

async function failure(promise) {
  try { await promise; return null; } catch (e) {
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode, reason: e.Reason ?? null };
  }
}

const created = await lambda.send(new CreateFunctionCommand({ FunctionName: name, Runtime: "python3.11",
  Role: "arn:aws:iam::000000000000:role/NodeRole", Handler: "handler.handler",
  Code: { ZipFile: readFileSync(process.env.LAMBDA_ZIP) }, Environment: { Variables: { GREETING: "hi" } },
  Tags: { from: "node" } }));
out.created = { arn: created.FunctionArn, state: created.State, env: created.Environment };

const sync = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: payload({ n: 2 }), LogType: "Tail" }));
out.sync = { status: sync.StatusCode, version: sync.ExecutedVersion, payload: JSON.parse(text(sync.Payload)),
  functionError: sync.FunctionError ?? null, tail: Buffer.from(sync.LogResult, "base64").toString() };
const failed = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: payload({ fail: true }) }));
out.failed = { status: failed.StatusCode, functionError: failed.FunctionError, payload: JSON.parse(text(failed.Payload)) };
const event = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: "Event", Payload: payload({}) }));
out.event = { status: event.StatusCode };

const v = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: "live", FunctionVersion: v.Version }));
const viaAlias = await lambda.send(new InvokeCommand({ FunctionName: name, Qualifier: "live", Payload: payload({ n: 5 }) }));
out.alias = { version: v.Version, executed: viaAlias.ExecutedVersion, payload: JSON.parse(text(viaAlias.Payload)) };

const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
out.get = { env: got.Configuration.Environment, tags: got.Tags, location: got.Code.Location };
const names = [];
for await (const page of paginateListFunctions({ client: lambda }, { MaxItems: 1 })) {
  for (const f of page.Functions) names.push(f.FunctionName);
}
out.listed = names.includes(name);

await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 0 }));
out.throttled = await failure(lambda.send(new InvokeCommand({ FunctionName: name })));
await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: name }));
await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
out.missing = await failure(lambda.send(new GetFunctionCommand({ FunctionName: name })));
console.log(JSON.stringify(out));
