// amqplib (Node) against the broker's AMQP listener: confirms, topic routing, consume with prefetch,
// nack/requeue, dead-lettering with x-death, mandatory returns and an RPC over direct reply-to.
// URL from BROKER_AMQP_URL; prints one JSON line with what it saw (the pytest side asserts).
import amqp from "amqplib";

const url = process.env.BROKER_AMQP_URL;
if (!url) { console.error("BROKER_AMQP_URL not set"); process.exit(2); }
const suffix = Math.random().toString(16).slice(2, 10);
const out = {};
const conn = await amqp.connect(url);
out.serverProduct = conn.connection.serverProperties.product;
const ch = await conn.createConfirmChannel();
const ex = `node-x-${suffix}`, q = `node-q-${suffix}`, dlq = `node-dlq-${suffix}`;
await ch.assertExchange(ex, "topic", { durable: false });
await ch.assertQueue(dlq, { durable: false });
await ch.assertQueue(q, { durable: false, deadLetterExchange: "", deadLetterRoutingKey: dlq });
await ch.bindQueue(q, ex, "orders.#");
for (const i of [1, 2, 3]) {
  ch.publish(ex, `orders.eu.${i}`, Buffer.from(`m${i}`), { headers: { n: i }, contentType: "text/plain" });
}
await ch.waitForConfirms();
out.confirmed = true;
const returned = [];
ch.on("return", (m) => returned.push(m.fields.replyText));
ch.publish(ex, "nobody.here", Buffer.from("lost"), { mandatory: true });
await ch.waitForConfirms();
out.returned = returned;

await ch.prefetch(2);
const got = [];
await new Promise((resolve) => {
  ch.consume(q, (m) => {
    got.push({ body: m.content.toString(), redelivered: m.fields.redelivered, n: m.properties.headers.n });
    if (m.content.toString() === "m2" && !m.fields.redelivered) ch.nack(m, false, true);
    else if (m.content.toString() === "m3") ch.nack(m, false, false);
    else ch.ack(m);
    if (got.length === 4) resolve();
  }, { consumerTag: `node-${suffix}` });
});
out.got = got;
const dead = await new Promise((resolve) => {
  const poll = async () => {
    const m = await ch.get(dlq, { noAck: true });
    if (m) resolve(m); else setTimeout(poll, 20);
  };
  poll();
});
out.dead = { body: dead.content.toString(), reason: dead.properties.headers["x-death"][0].reason };

// RPC over direct reply-to
const rpcQ = `node-rpc-${suffix}`;
await ch.assertQueue(rpcQ, { durable: false });
await ch.consume(rpcQ, (m) => {
  ch.sendToQueue(m.properties.replyTo, Buffer.from(`re:${m.content}`), { correlationId: m.properties.correlationId });
  ch.ack(m);
});
const client = await conn.createChannel();
const reply = await new Promise(async (resolve) => {
  await client.consume("amq.rabbitmq.reply-to", (m) => resolve(m), { noAck: true });
  client.sendToQueue(rpcQ, Buffer.from("ping"), { replyTo: "amq.rabbitmq.reply-to", correlationId: "7" });
});
out.reply = { body: reply.content.toString(), correlationId: reply.properties.correlationId };

// a channel error, word for word
const bad = await conn.createChannel();
bad.on("error", () => {});
const err = await bad.checkQueue(`missing-${suffix}`).catch((e) => e);
out.error = err.message;
await conn.close();
console.log(JSON.stringify(out));
