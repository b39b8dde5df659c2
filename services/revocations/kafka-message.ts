// A CloudEvent as a Kafka message: structured mode, with the attributes repeated as ce_* headers for routing.
import { CLOUDEVENTS_CONTENT_TYPE, type CloudEvent } from '../../clients/protocol.js';
import type { OutgoingMessage } from './bus.js';

/**
 * Kafka headers of a structured-mode CloudEvent: `content-type: application/cloudevents+json` (Kafka protocol
 * binding, structured mode) and the context attributes as `ce_<attribute>`. `datacontenttype` is not repeated:
 * in the Kafka binding it maps to `content-type`, which here names the structured envelope.
 */
export function cloudEventHeaders(ce: CloudEvent): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': CLOUDEVENTS_CONTENT_TYPE,
    ce_specversion: ce.specversion,
    ce_id: ce.id,
    ce_source: ce.source,
    ce_type: ce.type,
    ce_subject: ce.subject,
    ce_time: ce.time,
    ce_ledgerposition: String(ce.ledgerposition),
    ce_ledgercursor: ce.ledgercursor,
  };
  if (ce.ledgeractor !== undefined) h.ce_ledgeractor = ce.ledgeractor;
  return h;
}

export function toMessage(topic: string, ce: CloudEvent): OutgoingMessage {
  return { topic, key: ce.subject, value: JSON.stringify(ce), headers: cloudEventHeaders(ce) };
}
