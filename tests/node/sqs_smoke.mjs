// aws-sdk-js v3 against the broker: send, receive and delete on a standard and a FIFO queue.
// Endpoint from BROKER_ENDPOINT; prints one JSON line with what it saw (the pytest side asserts).
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand, DeleteMessageCommand,
  DeleteQueueCommand, GetQueueUrlCommand, SendMessageBatchCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const endpoint = process.env.BROKER_ENDPOINT;
if (!endpoint) { console.error("BROKER_ENDPOINT not set"); process.exit(2); }
const config = { endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test-secret" } };
const sqs = new SQSClient(config);
const suffix = Math.random().toString(16).slice(2, 10);
const out = {};

async function roundtrip(name, attrs, sendExtra) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attrs }));
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `hello ${name}`,
    MessageAttributes: { kind: { DataType: "String", StringValue: "smoke" },
                         blob: { DataType: "Binary.bin", BinaryValue: new Uint8Array([1, 2, 3]) } },
    ...sendExtra }));
  const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [
    { Id: "b1", MessageBody: "batch one", ...sendExtra }, { Id: "b2", MessageBody: "batch two", ...sendExtra }] }));
  const bodies = [];
  let attrsSeen = null;
  const deadline = Date.now() + 10000;
  while (bodies.length < 3 && Date.now() < deadline) {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
      MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"] }));
    for (const m of r.Messages ?? []) {
      bodies.push(m.Body);
      if (m.MessageId === sent.MessageId) attrsSeen = { kind: m.MessageAttributes.kind.StringValue,
        blob: Array.from(m.MessageAttributes.blob.BinaryValue), group: m.Attributes?.MessageGroupId ?? null };
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));
  await sqs.send(new DeleteQueueCommand({ QueueUrl }));
  return { url: QueueUrl, messageId: sent.MessageId, sequenceNumber: sent.SequenceNumber ?? null,
           md5: sent.MD5OfMessageBody, md5Attrs: sent.MD5OfMessageAttributes ?? null,
           batchOk: batch.Successful.length, batchFailed: (batch.Failed ?? []).length, bodies, attrs: attrsSeen,
           remaining: a.Attributes.ApproximateNumberOfMessages + "/" + a.Attributes.ApproximateNumberOfMessagesNotVisible };
}

try {
  out.standard = await roundtrip(`node-std-${suffix}`, {}, {});
  out.fifo = await roundtrip(`node-fifo-${suffix}.fifo`, { FifoQueue: "true", ContentBasedDeduplication: "true" },
                             { MessageGroupId: "g1" });
  try {
    await sqs.send(new GetQueueUrlCommand({ QueueName: `node-missing-${suffix}` }));
    out.missing = "no error";
  } catch (e) {
    out.missing = { name: e.name, code: e.Code ?? null, status: e.$metadata?.httpStatusCode ?? null };
  }
  const sts = new STSClient(config);
  out.account = (await sts.send(new GetCallerIdentityCommand({}))).Account;
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`FAILED: ${e.name}: ${e.message}`);
  console.error(e.stack);
  process.exit(1);
}
