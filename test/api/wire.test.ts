/**
 * The client's wire types (src/api/wire.ts, no zod) against the server's zod schemas: the
 * type assertions fail `npm run typecheck` on any drift, the value checks fail the test.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type * as z from 'zod';
import type * as wire from '../../src/api/wire.js';
import { ERROR_CODES } from '../../src/api/wire.js';
import type { TrackRequest } from '../../src/app/service.js';
import { type AuditEvent, ExecutionState, type HeartbeatInput, type PublicExecution, StopReason } from '../../src/core/model.js';
import { openApiDocument } from '../../src/http/openapi.js';

describe('wire types', () => {
  it('are the server schemas’ types, field for field', () => {
    expectTypeOf<wire.PublicExecution>().toEqualTypeOf<PublicExecution>();
    expectTypeOf<wire.AuditEvent>().toEqualTypeOf<AuditEvent>();
    expectTypeOf<wire.HeartbeatInput>().toEqualTypeOf<HeartbeatInput>();
    expectTypeOf<wire.TrackRequest>().toEqualTypeOf<TrackRequest>();
    expectTypeOf<wire.ExecutionState>().toEqualTypeOf<z.infer<typeof ExecutionState>>();
    expectTypeOf<wire.StopReason>().toEqualTypeOf<z.infer<typeof StopReason>>();
  });

  it('name every state and stop reason the server has', () => {
    const states: Record<wire.ExecutionState, true> = {
      running: true,
      warned: true,
      cancel_requested: true,
      cancelling: true,
      cancelled: true,
      cancel_failed: true,
      cancel_unconfirmed: true,
      finished: true,
    };
    expect(Object.keys(states).sort()).toEqual([...ExecutionState.options].sort());
  });

  it('the OpenAPI error body lists exactly the error codes', () => {
    const doc = openApiDocument() as { components: { schemas: Record<string, { properties: { code: { enum: string[] } } }> } };
    expect(doc.components.schemas.Error!.properties.code.enum).toEqual([...ERROR_CODES]);
  });
});
