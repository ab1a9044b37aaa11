// aws-sdk-js v3 against the broker's SNS: topic, SQS subscription, publish (single,
// batch, FIFO), attributes, listing, errors. Endpoint from BROKER_ENDPOINT; prints one
// JSON line with what it saw (the pytest side asserts).
import { SNSClient, CreateTopicCommand, SubscribeCommand, PublishCommand, PublishBatchCommand,
  GetTopicAttributesCommand, GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand,
  DeleteTopicCommand, SetSubscriptionAttributesCommand } from "@aws-sdk/client-sns";
import { SQSClient, CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand,
  DeleteMessageCommand, DeleteQueueCommand } from "@aws-sdk/client-sqs";

const endpoint = process.env.BROKER_ENDPOINT;
if (!endpoint) { console.error("BROKER_ENDPOINT not set"); process.exit(2); }
const config = { endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test-secret" } };
const sns = new SNSClient(config);
const sqs = new SQSClient(config);
const suffix = Math.random().toString(16).slice(2, 10);
const out = {};

async function queue(name, attrs) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attrs }));
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  return { url: QueueUrl, arn: a.Attributes.QueueArn };
}

async function drain(url, n) {
  const got = [];
  const deadline = Date.now() + 15000;
  while (got.length < n && Date.now() < deadline) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"] }));
    for (const m of r.Messages ?? []) {
      got.push(m);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return got;
}

try {
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `node-${suffix}`,
    Attributes: { DisplayName: "node" } }));
  const q = await queue(`node-sns-${suffix}`, {});
  const { SubscriptionArn } = await sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: q.arn,
    ReturnSubscriptionArn: true }));
  const pub = await sns.send(new PublishCommand({ TopicArn, Message: "hello node", Subject: "js",
    MessageAttributes: { kind: { DataType: "String", StringValue: "smoke" },
                         blob: { DataType: "Binary", BinaryValue: new Uint8Array([1, 2, 3]) } } }));
  // the envelope first: raw delivery applies to what is delivered after it is set
  const first = await drain(q.url, 1);
  await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: "RawMessageDelivery",
    AttributeValue: "true" }));
  const batch = await sns.send(new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: [
    { Id: "one", Message: "batch one" }, { Id: "two", Message: "batch two",
      MessageAttributes: { n: { DataType: "Number", StringValue: "7" } } }] }));
  const msgs = first.concat(await drain(q.url, 2));
  const envelope = msgs.map((m) => m.Body).filter((b) => b.startsWith("{")).map((b) => JSON.parse(b))[0];
  const raw = msgs.filter((m) => !m.Body.startsWith("{"));
  out.standard = { topicArn: TopicArn, subscriptionArn: SubscriptionArn, messageId: pub.MessageId,
    envelope, raw: raw.map((m) => ({ body: m.Body, n: m.MessageAttributes?.n?.StringValue ?? null })),
    batchOk: batch.Successful.map((s) => s.Id), batchFailed: batch.Failed?.length ?? 0 };
  const ta = await sns.send(new GetTopicAttributesCommand({ TopicArn }));
  const sa = await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn }));
  const subs = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn }));
  out.attributes = { displayName: ta.Attributes.DisplayName, confirmed: ta.Attributes.SubscriptionsConfirmed,
    raw: sa.Attributes.RawMessageDelivery, listed: subs.Subscriptions.map((s) => s.SubscriptionArn) };

  const fifoTopic = (await sns.send(new CreateTopicCommand({ Name: `node-${suffix}.fifo`,
    Attributes: { FifoTopic: "true", ContentBasedDeduplication: "true" } }))).TopicArn;
  const fq = await queue(`node-sns-${suffix}.fifo`, { FifoQueue: "true" });
  await sns.send(new SubscribeCommand({ TopicArn: fifoTopic, Protocol: "sqs", Endpoint: fq.arn,
    Attributes: { RawMessageDelivery: "true" } }));
  const seqs = [];
  for (let i = 0; i < 5; i++) {
    const r = await sns.send(new PublishCommand({ TopicArn: fifoTopic, Message: `f${i}`, MessageGroupId: "g" }));
    seqs.push(r.SequenceNumber);
  }
  out.fifo = { sequenceNumbers: seqs, bodies: (await drain(fq.url, 5)).map((m) => m.Body) };

  try {
    await sns.send(new PublishCommand({ TopicArn: `${TopicArn}-missing`, Message: "x" }));
    out.missing = "no error";
  } catch (e) {
    out.missing = { name: e.name, status: e.$metadata?.httpStatusCode ?? null, message: e.message };
  }
  for (const t of [TopicArn, fifoTopic]) await sns.send(new DeleteTopicCommand({ TopicArn: t }));
  for (const u of [q.url, fq.url]) await sqs.send(new DeleteQueueCommand({ QueueUrl: u }));
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`FAILED: ${e.name}: ${e.message}`);
  console.error(e.stack);
  process.exit(1);
}
