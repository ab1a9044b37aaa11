// Run under `broker run -- node broker_run_env.mjs`: aws-sdk-js v3 configured by the environment
// alone (AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL, AWS_REGION, keys); prints one JSON line.
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const sqs = new SQSClient({});                 // nothing configured in code
const name = `node-run-${Math.random().toString(16).slice(2, 10)}`;
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "hello from node" }));
const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5 }));
const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({ queueUrl: QueueUrl, bodies: (r.Messages ?? []).map((m) => m.Body),
  account: who.Account, endpoint: process.env.AWS_ENDPOINT_URL, amqp: process.env.BROKER_AMQP_URL ?? null }));
process.exit(Number(process.env.EXIT_CODE ?? 0));
