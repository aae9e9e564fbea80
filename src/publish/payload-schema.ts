// The MQTT payloads as schemas: the JSON Schemas in docs/mqtt.md are generated from these, and
// the integration tests validate real messages against them.
import { z } from 'zod';

const region = z
  .object({
    box: z
      .object({ x: z.number().int(), y: z.number().int(), width: z.number().int(), height: z.number().int() })
      .describe('bounding box; frame pixels, or web (x across, y = line) for line-scan'),
    area: z.number().int().describe('pixels above the threshold'),
    peak: z.object({ x: z.number().int(), y: z.number().int(), score: z.number() }).describe('highest map value and where'),
    mm: z
      .object({ along: z.number(), across: z.number() })
      .optional()
      .describe('line-scan with a scale: box top-left in mm along and across the web'),
    continues: z
      .boolean()
      .optional()
      .describe(
        'line-scan: the defect goes on beyond this box (longer than linescan.maxRegionLines): the next segment follows in a later result',
      ),
    web: z
      .object({
        along_mm: z.number(),
        across_mm: z.number(),
        length_mm: z.number(),
        width_mm: z.number(),
        seen_by: z.array(z.string()).min(1),
      })
      .strict()
      .optional()
      .describe(
        "several cameras over one web (config `cameras`): the defect on the web in mm (box top-left, length along, width across), merged over every camera that saw it; reported once, in the result of the camera answering for it (`box` is that camera's own region)",
      ),
  })
  .strict();

export const resultSchema = z
  .object({
    seq: z
      .number()
      .int()
      .min(0)
      .describe('frame sequence number of this run, from 0; a gap is a dropped frame (patchline_frames_dropped_total)'),
    line: z.string(),
    camera: z.string(),
    captured_at: z.iso.datetime().describe('capture time (source)'),
    published_at: z.iso.datetime(),
    position: z
      .object({
        index: z.number().int().optional(),
        file: z.string().optional(),
        line: z.number().int().optional().describe('line-scan: web line of the tile top'),
        x: z.number().int().optional().describe('line-scan: tile left edge across the web'),
        tileRow: z.number().int().optional(),
        tileCol: z.number().int().optional(),
      })
      .strict(),
    score: z.number().describe('image score: the largest patch score (mean squared distance to the k nearest good patches)'),
    normalized_score: z.number().min(0).max(1).describe('1 - 2^(-score/threshold): 0.5 at the threshold'),
    is_anomaly: z.boolean().describe('score >= threshold'),
    threshold: z.number(),
    bank: z.string().describe('bank file and checksum prefix that scored this frame'),
    latency_ms: z
      .record(z.string(), z.number())
      .describe('per stage: queue, preprocess, inference, postprocess, publish, total (capture to publish)'),
    regions: z
      .array(region)
      .describe('defect regions: connected map areas at or above the threshold (line-scan: each defect once, when its lines are final)'),
  })
  .strict();

export const statusSchema = z
  .object({
    state: z.enum(['online', 'offline']),
    since: z.iso
      .datetime()
      .optional()
      .describe(
        "when this state began; absent in the last will, which the broker publishes when it loses the connection (keepalive x 1.5 later): that message's arrival is the time of death",
      ),
    bank: z.string().optional().describe('bank id that scores now: `recipe@vN` for a recipe, else `<file>@<checksum prefix>`'),
    recipe: z.string().optional().describe('the product (recipe) running, when recipes are configured'),
    command: z
      .object({ name: z.string(), ok: z.boolean(), detail: z.string(), at: z.iso.datetime() })
      .optional()
      .describe('outcome of the last command received: a refused one (unknown recipe, bad bank) says why here'),
    backbone: z.string().optional(),
    version: z.string().optional(),
    heatmap: z
      .object({ width: z.number().int(), height: z.number().int(), format: z.string() })
      .optional()
      .describe('size and format of heat maps'),
    source: z
      .object({ up: z.boolean(), detail: z.string() })
      .optional()
      .describe('whether the camera or folder can be read; when down, the service keeps running and resumes when it returns'),
  })
  .strict();

/** Messages on the command topic. */
export const commandSchema = z.discriminatedUnion('command', [
  z
    .object({
      command: z.literal('reload-bank'),
      bank: z
        .string()
        .min(1)
        .max(4096)
        .optional()
        .describe('bank file inside the configured bank folder (absolute, or relative to it); default: the configured bank'),
    })
    .strict(),
  z
    .object({
      command: z.literal('select-recipe'),
      recipe: z
        .string()
        .min(1)
        .max(100)
        .describe("a key of the config's recipes: its active bank version is swapped in between two batches"),
    })
    .strict(),
]);

/** Command payloads larger than this are ignored unread. */
export const MAX_COMMAND_BYTES = 16 * 1024;

export type ResultPayload = z.infer<typeof resultSchema>;
export type StatusPayload = z.infer<typeof statusSchema>;
export type Command = z.infer<typeof commandSchema>;

export function payloadJsonSchemas(): { result: unknown; status: unknown; command: unknown } {
  return { result: z.toJSONSchema(resultSchema), status: z.toJSONSchema(statusSchema), command: z.toJSONSchema(commandSchema) };
}
