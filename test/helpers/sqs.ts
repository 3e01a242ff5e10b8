/** A local endpoint speaking SQS's JSON protocol for SendMessage (`X-Amz-Target: AmazonSQS.SendMessage`); no emulator exists. */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SqsStandIn {
  endpoint: string;
  queueUrl: string;
  messages: Array<{ messageId: string; body: string; delaySeconds?: number }>;
  close(): Promise<void>;
}

export async function startSqs(): Promise<SqsStandIn> {
  const sqs: SqsStandIn = { endpoint: '', queueUrl: '', messages: [], close: async () => {} };
  let n = 0;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      const input = JSON.parse(text || '{}') as { MessageBody?: string; DelaySeconds?: number };
      if (req.headers['x-amz-target'] !== 'AmazonSQS.SendMessage' || typeof input.MessageBody !== 'string') {
        res.writeHead(400);
        res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#InvalidAction', message: 'only SendMessage' }));
        return;
      }
      const messageId = `m-${++n}`;
      sqs.messages.push({ messageId, body: input.MessageBody, ...(input.DelaySeconds === undefined ? {} : { delaySeconds: input.DelaySeconds }) });
      res.end(JSON.stringify({ MessageId: messageId, MD5OfMessageBody: createHash('md5').update(input.MessageBody).digest('hex') }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  sqs.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sqs.queueUrl = `${sqs.endpoint}/000000000000/follow-ups`;
  sqs.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return sqs;
}
