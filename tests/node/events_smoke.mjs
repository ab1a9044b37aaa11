// aws-sdk-js v3 against the broker: EventBridge (bus, rule, targets, PutEvents into SQS with an input
// transformer, TestEventPattern, a pattern error) and Scheduler (a near at() schedule into SQS).
// Endpoint from BROKER_ENDPOINT; prints one JSON line with what it saw (the pytest side asserts).
import { EventBridgeClient, CreateEventBusCommand, PutRuleCommand, PutTargetsCommand, PutEventsCommand,
  TestEventPatternCommand, DescribeRuleCommand, ListTargetsByRuleCommand, RemoveTargetsCommand, DeleteRuleCommand,
  DeleteEventBusCommand } from "@aws-sdk/client-eventbridge";
import { SchedulerClient, CreateScheduleCommand, GetScheduleCommand, DeleteScheduleCommand } from "@aws-sdk/client-scheduler";
import { SQSClient, CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteQueueCommand }
  from "@aws-sdk/client-sqs";

const endpoint = process.env.BROKER_ENDPOINT;
if (!endpoint) { console.error("BROKER_ENDPOINT not set"); process.exit(2); }
const config = { endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test-secret" } };
const eb = new EventBridgeClient(config);
const sch = new SchedulerClient(config);
const sqs = new SQSClient(config);
const suffix = Math.random().toString(16).slice(2, 10);
const out = {};

async function queue(name) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  return { url: QueueUrl, arn: a.Attributes.QueueArn };
}

async function receiveOne(url, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    if (r.Messages && r.Messages.length) return r.Messages[0].Body;
  }
  return null;
}

try {
  const bus = `node-bus-${suffix}`;
  const q = await queue(`node-ev-${suffix}`);
  out.busArn = (await eb.send(new CreateEventBusCommand({ Name: bus }))).EventBusArn;
  const rule = `node-rule-${suffix}`;
  out.ruleArn = (await eb.send(new PutRuleCommand({ Name: rule, EventBusName: bus,
    EventPattern: JSON.stringify({ source: ["node.app"], detail: { amount: [{ numeric: [">", 10] }] } }) }))).RuleArn;
  await eb.send(new PutTargetsCommand({ Rule: rule, EventBusName: bus, Targets: [{ Id: "q", Arn: q.arn,
    InputTransformer: { InputPathsMap: { amt: "$.detail.amount" }, InputTemplate: '{"amount": <amt>}' } }] }));
  out.state = (await eb.send(new DescribeRuleCommand({ Name: rule, EventBusName: bus }))).State;
  const put = await eb.send(new PutEventsCommand({ Entries: [
    { Source: "node.app", DetailType: "Paid", Detail: JSON.stringify({ amount: 5 }), EventBusName: bus },
    { Source: "node.app", DetailType: "Paid", Detail: JSON.stringify({ amount: 42 }), EventBusName: bus },
    { DetailType: "Paid", Detail: "{}", EventBusName: bus }] }));
  out.failed = put.FailedEntryCount;
  out.entryError = put.Entries[2].ErrorCode;
  out.delivered = await receiveOne(q.url, 15);
  out.match = (await eb.send(new TestEventPatternCommand({ EventPattern: JSON.stringify({ source: ["a"] }),
    Event: JSON.stringify({ id: "1", source: "a", "detail-type": "t", account: "000000000000", region: "us-east-1",
      time: "2024-01-01T00:00:00Z" }) }))).Result;
  try {
    await eb.send(new PutRuleCommand({ Name: `bad-${suffix}`, EventPattern: '{"source": "a"}' }));
    out.patternError = "no error";
  } catch (e) {
    out.patternError = { name: e.name, message: e.message };
  }
  const targets = (await eb.send(new ListTargetsByRuleCommand({ Rule: rule, EventBusName: bus }))).Targets;
  await eb.send(new RemoveTargetsCommand({ Rule: rule, EventBusName: bus, Ids: targets.map((t) => t.Id) }));
  await eb.send(new DeleteRuleCommand({ Name: rule, EventBusName: bus }));
  await eb.send(new DeleteEventBusCommand({ Name: bus }));

  const sq = await queue(`node-sch-${suffix}`);
  const when = new Date(Date.now() + 2000).toISOString().slice(0, 19);
  const name = `node-sched-${suffix}`;
  out.scheduleArn = (await sch.send(new CreateScheduleCommand({ Name: name, ScheduleExpression: `at(${when})`,
    FlexibleTimeWindow: { Mode: "OFF" }, Target: { Arn: sq.arn, RoleArn: "arn:aws:iam::000000000000:role/r",
      Input: "from the js scheduler" } }))).ScheduleArn;
  out.scheduleState = (await sch.send(new GetScheduleCommand({ Name: name }))).State;
  out.scheduled = await receiveOne(sq.url, 20);
  await sch.send(new DeleteScheduleCommand({ Name: name }));
  try {
    await sch.send(new GetScheduleCommand({ Name: name }));
    out.missing = "no error";
  } catch (e) {
    out.missing = { name: e.name, status: e.$metadata?.httpStatusCode ?? null };
  }
  await sqs.send(new DeleteQueueCommand({ QueueUrl: q.url }));
  await sqs.send(new DeleteQueueCommand({ QueueUrl: sq.url }));
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`FAILED: ${e.name}: ${e.message}`);
  console.error(e.stack);
  process.exit(1);
}
