// aws-sdk-js v3 against the broker: STS GetCallerIdentity and KMS CreateKey/Encrypt/Decrypt.
// Run by tests/protocols/http/test_gateway_node.py; the endpoint comes from AWS_ENDPOINT_URL
// (the SDK's own env style) and, for TLS, NODE_EXTRA_CA_CERTS. Prints one JSON line.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import {
  KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, DescribeKeyCommand,
} from "@aws-sdk/client-kms";

const region = process.env.AWS_REGION || "us-east-1";
const common = { region, maxAttempts: 1 };
const out = {};

const sts = new STSClient(common);
const me = await sts.send(new GetCallerIdentityCommand({}));
out.account = me.Account;
out.arn = me.Arn;

const kms = new KMSClient(common);
const key = await kms.send(new CreateKeyCommand({ Description: "node smoke" }));
out.keyArn = key.KeyMetadata.Arn;
const ctx = { from: "node" };
const enc = await kms.send(new EncryptCommand({
  KeyId: key.KeyMetadata.KeyId, Plaintext: new TextEncoder().encode("hello from node"), EncryptionContext: ctx,
}));
const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx }));
out.plaintext = new TextDecoder().decode(dec.Plaintext);
out.decryptKeyId = dec.KeyId;

try {
  await kms.send(new DescribeKeyCommand({ KeyId: "alias/node-missing-alias" }));
  out.error = null;
} catch (e) {
  out.error = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}
try {
  await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
  out.ctxError = null;
} catch (e) {
  out.ctxError = e.name;
}
console.log(JSON.stringify(out));
