// mqtt.js (Node) against the broker's MQTT listeners: TCP and WebSocket, QoS 0/1/2, a retained
// message on subscribe, a persistent session that queues while its client is away, and a will.
// URLs from BROKER_MQTT_URL and BROKER_MQTT_WS_URL; prints one JSON line (the pytest side asserts).
import mqtt from "mqtt";

const tcp = process.env.BROKER_MQTT_URL, ws = process.env.BROKER_MQTT_WS_URL;
if (!tcp || !ws) { console.error("BROKER_MQTT_URL / BROKER_MQTT_WS_URL not set"); process.exit(2); }
const t = `node-${Math.random().toString(16).slice(2, 10)}`;
const out = {};
const messages = (client) => {
  const got = [];
  client.on("message", (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos,
                                                              retain: packet.retain }));
  return got;
};
const until = async (pred, ms = 10000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

const pub = await mqtt.connectAsync(tcp, { clientId: `${t}-pub`, protocolVersion: 4 });
await pub.publishAsync(`${t}/retained`, "kept", { qos: 1, retain: true });
const sub = await mqtt.connectAsync(`${ws}/mqtt`, { clientId: `${t}-sub`, protocolVersion: 4 });
const got = messages(sub);
const granted = await sub.subscribeAsync({ [`${t}/#`]: { qos: 2 } });
out.granted = granted.map((g) => g.qos);
await until(() => got.length === 1);
for (const qos of [0, 1, 2]) await pub.publishAsync(`${t}/q${qos}`, `m${qos}`, { qos });
await until(() => got.length === 4);
out.got = got.slice();

// persistent session: offline QoS 1 messages wait for the client
const opts = { clientId: `${t}-durable`, clean: false, protocolVersion: 4 };
let durable = await mqtt.connectAsync(tcp, opts);
await durable.subscribeAsync(`${t}/durable`, { qos: 1 });
await durable.endAsync();
await pub.publishAsync(`${t}/durable`, "while away", { qos: 1 });
durable = mqtt.connect(tcp, opts);            // handler first: queued messages follow the CONNACK at once
const away = messages(durable);
await new Promise((resolve) => durable.once("connect", (ack) => { out.sessionPresent = ack.sessionPresent; resolve(); }));
await until(() => away.length === 1);
out.away = away[0].payload;
await durable.endAsync();

// a will on an abnormal close
const willed = await mqtt.connectAsync(tcp, { clientId: `${t}-willed`, protocolVersion: 4, reconnectPeriod: 0,
                                              will: { topic: `${t}/will`, payload: "bye", qos: 1 } });
willed.stream.destroy();
await until(() => got.some((m) => m.topic === `${t}/will`));
out.will = got.find((m) => m.topic === `${t}/will`).payload;
willed.end(true);
await sub.endAsync();
await pub.endAsync();
console.log(JSON.stringify(out));
