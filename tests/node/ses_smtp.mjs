// nodemailer over the broker's SES SMTP interface (STARTTLS + AUTH, then implicit TLS),
// then @aws-sdk/client-sesv2 reading the account and sending through the API.
// Prints one JSON line with what happened; pytest checks it against the mailbox.
import fs from "node:fs";
import nodemailer from "nodemailer";
import { SESv2Client, GetAccountCommand, SendEmailCommand, CreateEmailIdentityCommand } from "@aws-sdk/client-sesv2";

const smtp = new URL(process.env.BROKER_SMTP);
const smtps = new URL(process.env.BROKER_SMTPS);
const ca = fs.readFileSync(process.env.BROKER_CA);
const sender = process.env.SENDER;
const to = process.env.RCPT;
const out = {};

const starttls = nodemailer.createTransport({
  host: smtp.hostname, port: Number(smtp.port), secure: false, requireTLS: true,
  auth: { user: "AKIDNODEMAILER", pass: "dev-mode-password" }, tls: { ca },
});
const info = await starttls.sendMail({
  from: sender, to, subject: "from nodemailer", text: "plain part", html: "<p>html part</p>",
  attachments: [{ filename: "note.txt", content: "attached text" }],
  headers: { "X-SES-MESSAGE-TAGS": "client=nodemailer" },
});
out.starttls = { response: info.response, accepted: info.accepted };

try {
  await starttls.sendMail({ from: "stranger@" + sender.split("@")[1], to, subject: "x", text: "x" });
  out.rejected = null;
} catch (e) {
  out.rejected = { code: e.responseCode, response: e.response };
}

const implicit = nodemailer.createTransport({
  host: smtps.hostname, port: Number(smtps.port), secure: true,
  auth: { user: "AKIDNODEMAILER", pass: "dev-mode-password" }, tls: { ca },
});
out.implicit = (await implicit.sendMail({ from: sender, to, subject: "implicit tls", text: "x" })).response;

const client = new SESv2Client({
  endpoint: process.env.BROKER_ENDPOINT, region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});
out.account = (await client.send(new GetAccountCommand({}))).SendQuota;
await client.send(new CreateEmailIdentityCommand({ EmailIdentity: "sdk-" + sender }));
out.api = (await client.send(new SendEmailCommand({
  FromEmailAddress: "sdk-" + sender, Destination: { ToAddresses: [to] },
  Content: { Simple: { Subject: { Data: "from sdk v3" }, Body: { Text: { Data: "sdk body" } } } },
}))).MessageId;
console.log(JSON.stringify(out));
