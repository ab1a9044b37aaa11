// aws-sdk-js v3 against the broker's Step Functions: a Standard run with its history, an activity
// worker round trip, StartSyncExecution on an Express machine, a distributed Map's Map Run and its
// child executions, and an error. Endpoint from
// BROKER_ENDPOINT; prints one JSON line with what it saw (the pytest side asserts).
import { SFNClient, CreateStateMachineCommand, StartExecutionCommand, DescribeExecutionCommand,
  GetExecutionHistoryCommand, CreateActivityCommand, GetActivityTaskCommand, SendTaskSuccessCommand,
  StartSyncExecutionCommand, DescribeStateMachineCommand, ListMapRunsCommand, DescribeMapRunCommand,
  ListExecutionsCommand } from "@aws-sdk/client-sfn";

const endpoint = process.env.BROKER_ENDPOINT;
if (!endpoint) { console.error("BROKER_ENDPOINT not set"); process.exit(2); }
const sfn = new SFNClient({ endpoint, region: "us-east-1", maxAttempts: 1, disableHostPrefix: true,
  credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test-secret" } });
const role = "arn:aws:iam::000000000000:role/NodeRole";
const suffix = Math.random().toString(16).slice(2, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};

async function finished(executionArn) {
  for (let i = 0; i < 200; i++) {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (d.status !== "RUNNING") return d;
    await sleep(50);
  }
  throw new Error("execution did not finish");
}

const def = { StartAt: "P", States: { P: { Type: "Pass", Parameters: { "got.$": "$.x" }, Next: "W" },
  W: { Type: "Wait", Seconds: 0, End: true } } };
const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({ name: `node-${suffix}`,
  definition: JSON.stringify(def), roleArn: role }));
const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{"x": 41}' }));
const done = await finished(executionArn);
const hist = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
out.standard = { status: done.status, output: JSON.parse(done.output),
  startIsDate: done.startDate instanceof Date,
  events: hist.events.map((e) => [e.id, e.previousEventId, e.type]) };

const { activityArn } = await sfn.send(new CreateActivityCommand({ name: `node-act-${suffix}` }));
const actDef = { StartAt: "A", States: { A: { Type: "Task", Resource: activityArn, End: true } } };
const act = await sfn.send(new CreateStateMachineCommand({ name: `node-act-${suffix}`,
  definition: JSON.stringify(actDef), roleArn: role }));
const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: act.stateMachineArn, input: '{"n": 1}' }));
const task = await sfn.send(new GetActivityTaskCommand({ activityArn, workerName: "node-worker" }));
await sfn.send(new SendTaskSuccessCommand({ taskToken: task.taskToken, output: JSON.stringify({ n: 2 }) }));
const actDone = await finished(started.executionArn);
out.activity = { input: JSON.parse(task.input), status: actDone.status, output: JSON.parse(actDone.output) };

const express = await sfn.send(new CreateStateMachineCommand({ name: `node-x-${suffix}`, type: "EXPRESS",
  definition: JSON.stringify({ StartAt: "P", States: { P: { Type: "Pass", End: true } } }), roleArn: role }));
const sync = await sfn.send(new StartSyncExecutionCommand({ stateMachineArn: express.stateMachineArn,
  input: '{"sync": true}' }));
out.sync = { status: sync.status, output: JSON.parse(sync.output), billed: sync.billingDetails.billedMemoryUsedInMB };

const fanDef = { StartAt: "Fan", States: { Fan: { Type: "Map", ItemsPath: "$.items", Label: "Fan", End: true,
  ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" }, StartAt: "P",
    States: { P: { Type: "Pass", End: true } } } } } };
const fan = await sfn.send(new CreateStateMachineCommand({ name: `node-fan-${suffix}`,
  definition: JSON.stringify(fanDef), roleArn: role }));
const fanRun = await sfn.send(new StartExecutionCommand({ stateMachineArn: fan.stateMachineArn,
  input: '{"items": ["a", "b"]}' }));
const fanDone = await finished(fanRun.executionArn);
const { mapRuns } = await sfn.send(new ListMapRunsCommand({ executionArn: fanRun.executionArn }));
const mapRun = await sfn.send(new DescribeMapRunCommand({ mapRunArn: mapRuns[0].mapRunArn }));
const children = await sfn.send(new ListExecutionsCommand({ mapRunArn: mapRuns[0].mapRunArn }));
out.distributed = { status: fanDone.status, output: JSON.parse(fanDone.output), runStatus: mapRun.status,
  succeeded: mapRun.executionCounts.succeeded,
  children: children.executions.map((e) => [e.status, e.stateMachineArn === fan.stateMachineArn + "/Fan"]) };

try {
  await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: stateMachineArn + "-missing" }));
  out.missing = null;
} catch (e) {
  out.missing = { name: e.name, message: e.message, status: e.$metadata.httpStatusCode };
}
console.log(JSON.stringify(out));
