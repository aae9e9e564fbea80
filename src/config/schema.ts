// The one configuration schema of `patchline run`: every field with its default and its
// description. Files (YAML or JSON) and command-line overrides are validated against it, and
// `patchline config` prints its defaults and its JSON Schema.
import { z } from 'zod';

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const ms = (min: number) => z.number().int().min(min).max(MAX_TIMER_MS);

const syntheticSource = z
  .object({
    type: z.literal('synthetic-web'),
    width: z.number().int().min(16).default(448).describe('web width in pixels (across)'),
    linesPerChunk: z.number().int().min(1).default(64).describe('lines the simulated camera delivers per chunk'),
    linesPerSecond: z.number().min(0).default(0).describe('line rate to simulate; 0 = as fast as the pipeline takes them'),
    seed: z.number().int().default(1).describe('seed of the texture and the defects'),
    defectEvery: z.number().int().min(0).default(900).describe('mean lines between injected defects; 0 = a defect-free web'),
    lines: z.number().int().min(0).default(0).describe('stop after this many lines; 0 = endless'),
  })
  .strict();

const folderSource = z
  .object({
    type: z.literal('folder'),
    path: z.string().min(1).describe('folder of images, processed in name order'),
    watch: z.boolean().default(false).describe('keep running and process images that appear later'),
    pollMs: ms(50).default(500).describe('how often to look for new files when watching'),
    settleMs: ms(0)
      .default(1000)
      .describe(
        'watching: a new file is read once its size and modification time have not changed for this long (still being written otherwise)',
      ),
    retries: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(3)
      .describe(
        'watching: a file that cannot be decoded (partly written) is read again this many times, one poll apart, before it counts as bad',
      ),
    maxFileMb: z.number().min(0.001).default(256).describe('larger files are skipped and counted as bad without being read'),
    maxPixels: z
      .number()
      .int()
      .min(1)
      .default(50_000_000)
      .describe('images whose header declares more pixels are skipped and counted as bad without being decoded (decompression bombs)'),
    readTimeoutMs: ms(1).default(10_000).describe('a read that takes longer (a stalled network mount) is abandoned and retried'),
  })
  .strict();

const videoSource = z
  .object({
    type: z.literal('video'),
    path: z.string().min(1).describe('video file'),
    loop: z.boolean().default(false).describe('start again at the end'),
  })
  .strict();

const captureSource = z
  .object({
    type: z.literal('capture').describe('a live camera through OpenCV (the only driver a camera entry takes)'),
    device: z
      .union([z.number().int().min(0), z.string().min(1)])
      .describe('camera index, RTSP URL, or GStreamer pipeline ending in appsink'),
    reconnect: z
      .object({
        initialMs: ms(10).default(500).describe('first wait before reconnecting, ms'),
        maxMs: ms(10).default(30000).describe('longest wait, ms (the wait doubles per failed attempt up to this)'),
      })
      .strict()
      .prefault({})
      .describe('backoff between reconnection attempts when the camera drops'),
  })
  .strict();

const cameraEntry = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .describe('camera id (MQTT topic level, metric label)'),
    offsetMm: z.number().describe("cross-direction position of the camera's first pixel, mm from the web's reference edge"),
    widthPx: z.number().int().min(16).describe('pixels per line'),
    mmPerPixel: z.number().positive().optional().describe('pixel pitch across the web (default: linescan.mmPerPixel)'),
    source: captureSource
      .optional()
      .describe("the camera's driver (N-line frames); absent: this camera's view of the synthetic web configured in `source`"),
    bank: z
      .string()
      .min(1)
      .optional()
      .describe(
        "this camera's own bank (its part of the web looks different: an edge zone, another coating); its tile size must be model.bank's. A camera with its own bank runs its own model, one more backbone in memory, and is reloaded when its file is replaced. Absent: model.bank, shared with the other cameras",
      ),
  })
  .strict();

export const configSchema = z
  .object({
    line: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('line1')
      .describe('production line id (MQTT topic level)'),
    camera: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('cam1')
      .describe('camera id (MQTT topic level)'),
    source: z.discriminatedUnion('type', [syntheticSource, folderSource, videoSource, captureSource]).prefault({ type: 'synthetic-web' }),
    cameras: z
      .array(cameraEntry)
      .default([])
      .describe(
        'several line-scan cameras side by side over one web, in this one process (shared backbone and batches); neighbours overlap, and a defect two cameras see is reported once, at its web position. Empty: the one camera of `source`',
      ),
    linescan: z
      .object({
        enabled: z.boolean().optional().describe('tile a stream of lines into frames (default: on for synthetic-web, off otherwise)'),
        overlap: z
          .number()
          .int()
          .min(0)
          .default(32)
          .describe('pixels two neighbouring tiles share, along and across the web (at least one feature cell)'),
        mmPerLine: z.number().min(0).default(0).describe('web advance per line in mm (0 = report lines only)'),
        mmPerPixel: z.number().min(0).default(0).describe('pixel size across the web in mm (0 = pixels only)'),
        maxRegionLines: z
          .number()
          .int()
          .min(16)
          .default(1024)
          .describe(
            'a defect still growing after this many lines (a streak along the web) is reported in segments of this length, each marked `continues`, so an endless defect never holds results back',
          ),
      })
      .strict()
      .prefault({}),
    model: z
      .object({
        bank: z.string().min(1).optional().describe("bank file from 'patchline fit' (the demo fits its own); or use recipe"),
        recipe: z
          .string()
          .optional()
          .describe(
            'recipe (a key of `recipes`) whose active bank version runs, instead of model.bank; switched at run time by the page or the select-recipe command',
          ),
        backbone: z.string().optional().describe("backbone instead of the bank's (same file: sha256 is checked)"),
        modelDir: z.string().optional().describe('models directory (default: $PATCHLINE_MODEL_DIR or ./models)'),
        threads: z.number().int().min(1).optional().describe('onnxruntime threads per operator (default: all cores)'),
        maxBankMb: z
          .number()
          .min(1)
          .default(8192)
          .describe('bank files larger than this are refused unread (configured, reloaded or commanded)'),
        executionProviders: z
          .array(z.enum(['tensorrt', 'cuda', 'cpu']))
          .min(1)
          .default(['cpu'])
          .describe(
            'in order of preference; unavailable ones are skipped with a warning (Jetson: [tensorrt, cuda, cpu] with an onnxruntime built by deploy/jetson/build-onnxruntime.sh)',
          ),
        fused: z
          .boolean()
          .default(false)
          .describe(
            'run each frame as one ONNX graph (backbone, head, kNN, image score and map) instead of three chained sessions: lets TensorRT keep the whole frame on the GPU',
          ),
        tensorrt: z
          .object({
            fp16: z.boolean().default(true).describe('let TensorRT run layers in half precision'),
            engineCacheDir: z
              .string()
              .optional()
              .describe('where built engines and the timing cache are kept between starts (default: <cache dir>/tensorrt)'),
            workspaceMb: z.number().int().min(64).default(1024).describe('TensorRT builder workspace'),
          })
          .strict()
          .prefault({})
          .describe(
            'passed to TensorRT as provider options (needs the binding built by deploy/jetson/build-onnxruntime.sh; the npm package passes none)',
          ),
      })
      .strict()
      .prefault({}),
    pipeline: z
      .object({
        batchSize: z
          .union([z.number().int().min(1), z.literal('row')], {
            error: (i) => `expected a whole number of frames (1 or more) or 'row', got ${JSON.stringify(i.input)}`,
          })
          .default(1)
          .describe(
            "frames per inference call, at most: on a CPU 1 is as fast as 4 and needs far less memory (WRN50: 630 vs 860 MB peak); GPUs gain from 4-8. 'row' (line-scan): the tiles of one web row together, one call a row",
          ),
        batchTimeoutMs: ms(0).default(50).describe('send a smaller batch after this long'),
        batchesInFlight: z
          .number()
          .int()
          .min(1)
          .max(4)
          .default(2)
          .describe(
            'batches handed to inference at once: with 2, the next batch is decoded and preprocessed while one runs (1: strictly one after another)',
          ),
        queueSize: z
          .number()
          .int()
          .min(1)
          .default(16)
          .describe(
            "frames waiting for inference, at most (line-scan with drop-oldest: at least two web rows' tiles, which arrive at once)",
          ),
        queuePolicy: z
          .enum(['auto', 'drop-oldest', 'block'])
          .default('auto')
          .describe(
            "when the queue is full: drop the oldest frame (counted) or stop reading the source. 'auto': block for sources that can wait without losing anything (a folder, a video file, the synthetic web at linesPerSecond 0), drop-oldest for live ones (a camera, the synthetic web at a line rate)",
          ),
        minRegionArea: z.number().int().min(1).default(16).describe('smallest defect region reported, in pixels'),
        drainTimeoutMs: ms(0).default(5000).describe('on shutdown, time allowed to finish frames in flight'),
        stallTimeoutMs: ms(1000)
          .default(60_000)
          .describe(
            'frames queued or files waiting but nothing moved for this long: /healthz fails and the systemd watchdog restarts the service',
          ),
      })
      .strict()
      .prefault({}),
    mqtt: z
      .object({
        url: z.string().optional().describe('broker URL (mqtt://, mqtts://, ws://); absent = an in-process broker on localhost (demo)'),
        prefix: z
          .string()
          .regex(/^[^#+]+$/)
          .default('patchline')
          .describe('first topic level'),
        clientId: z.string().optional().describe('MQTT client id (default: patchline-<line>-<camera>)'),
        protocolVersion: z
          .union([z.literal(4), z.literal(5)])
          .optional()
          .describe('4 = MQTT 3.1.1, 5 = MQTT 5 (heat-map metadata as user properties); default 5, or 4 for the in-process broker'),
        username: z.string().optional(),
        password: z.string().optional(),
        tls: z
          .object({
            ca: z.string().optional().describe('CA certificate file (PEM)'),
            cert: z.string().optional().describe('client certificate file (PEM)'),
            key: z.string().optional().describe('client key file (PEM)'),
            rejectUnauthorized: z.boolean().default(true),
          })
          .strict()
          .optional(),
        qos: z
          .union([z.literal(0), z.literal(1), z.literal(2)])
          .default(1)
          .describe('QoS of result messages'),
        offlineQueue: z
          .number()
          .int()
          .min(0)
          .default(10000)
          .describe('results kept, in order, while the broker is away; beyond it the oldest are dropped and counted'),
        sparkplug: z
          .object({
            enabled: z
              .boolean()
              .default(false)
              .describe('also publish Sparkplug B (NBIRTH/DBIRTH/DDATA/NDEATH) for SCADA, on its own connection to the same broker'),
            groupId: z
              .string()
              .regex(/^[^#+/]+$/)
              .default('patchline')
              .describe('Sparkplug group id'),
            edgeNodeId: z
              .string()
              .regex(/^[^#+/]+$/)
              .optional()
              .describe('edge node id (default: the line id)'),
            deviceId: z
              .string()
              .regex(/^[^#+/]+$/)
              .optional()
              .describe('device id (default: the camera id)'),
          })
          .strict()
          .prefault({}),
        heatmap: z
          .object({
            enabled: z.boolean().default(true),
            format: z.enum(['jpeg', 'float16']).default('jpeg').describe('JPEG overlay, or the raw map as float16 little-endian'),
            maxPerSecond: z.number().min(0).default(2).describe('rate limit; anomalous frames first'),
            quality: z.number().int().min(1).max(100).default(80),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default('127.0.0.1').describe('address /metrics, /healthz and /readyz listen on'),
        port: z.number().int().min(0).max(65535).default(9464).describe('0 = any free port'),
      })
      .strict()
      .prefault({}),
    output: z
      .object({
        heatmapDir: z.string().optional().describe('also write heat-map images of anomalous frames here'),
        resultsFile: z
          .string()
          .optional()
          .describe(
            'also append every result here, one JSON object per line (the MQTT result payload): a local record that needs no broker',
          ),
      })
      .strict()
      .prefault({}),
    recipes: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'recipe names: letters, digits, _ and -, at most 40'),
        z
          .object({
            store: z
              .string()
              .min(1)
              .describe("bank store folder: numbered bank versions, the active one, the audit log ('patchline bank')"),
            keep: z
              .number()
              .int()
              .min(2)
              .max(1000)
              .default(10)
              .describe('versions kept (older ones are deleted; the active one and its rollback target never)'),
          })
          .strict(),
      )
      .default({})
      .describe('products: name -> bank store. Teach, correct and switch between them from the page, the CLI or MQTT'),
    ui: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('serve the operator page (live tiles, web strip, score timeline, defect gallery, reviews)'),
        bind: z
          .string()
          .default('127.0.0.1')
          .describe('address the page listens on; 0.0.0.0 to reach it from the plant network (writes still need the token)'),
        port: z.number().int().min(0).max(65535).default(8080).describe('0 = any free port'),
        dataDir: z
          .string()
          .optional()
          .describe(
            'gallery and reviewed images are kept here, surviving restarts (default: $PATCHLINE_DATA_DIR/ui, else ./patchline-data/ui)',
          ),
        tokenFile: z.string().optional().describe('file holding the token that allows writes (reviews); without it the page is read-only'),
        liveFps: z
          .number()
          .min(0)
          .max(30)
          .default(4)
          .describe('live tile images per second sent to each page, at most (anomalous tiles first)'),
        stripLines: z
          .number()
          .int()
          .min(256)
          .default(2048)
          .describe('line-scan: web lines kept for the strip and for defect crops (memory: lines x web width x 7 bytes)'),
        stripScale: z.number().int().min(1).max(16).default(4).describe('line-scan: the strip is this many times smaller than the web'),
        timelineSeconds: z.number().int().min(10).max(3600).default(300).describe('length of the score timeline'),
        pageBufferKb: z
          .number()
          .int()
          .min(16)
          .default(2048)
          .describe(
            'a page with more than this unsent gets no updates until it catches up (counted): a slow page never holds memory or the pipeline',
          ),
        gallery: z
          .object({
            maxItems: z.number().int().min(1).default(500).describe('oldest items go beyond this many'),
            maxMb: z.number().min(1).default(500).describe('oldest items go beyond this size on disk'),
            minFreeMb: z
              .number()
              .min(0)
              .default(1024)
              .describe('no new item is kept while the disk has less free space (never fills the disk)'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.model.recipe !== undefined && !(c.model.recipe in c.recipes))
      ctx.addIssue({
        code: 'custom',
        path: ['model', 'recipe'],
        message: `unknown recipe '${c.model.recipe}' (recipes: ${Object.keys(c.recipes).join(', ') || 'none configured'})`,
      });
    if (c.model.recipe !== undefined && c.model.bank !== undefined)
      ctx.addIssue({ code: 'custom', path: ['model', 'bank'], message: 'set model.bank or model.recipe, not both' });
    if (c.pipeline.batchSize === 'row' && c.cameras.length === 0 && !isLineScan(c))
      ctx.addIssue({
        code: 'custom',
        path: ['pipeline', 'batchSize'],
        message: `'row' batches the tiles of a line-scan web row, but source.type '${c.source.type}' is not tiled (set linescan.enabled or a number)`,
      });
    c.cameras.forEach((cam, i) => {
      if (!(cam.mmPerPixel ?? c.linescan.mmPerPixel > 0))
        ctx.addIssue({
          code: 'custom',
          path: ['cameras', i, 'mmPerPixel'],
          message: 'needed to place the camera on the web: set it here or linescan.mmPerPixel',
        });
      if (cam.bank !== undefined && c.model.recipe !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['cameras', i, 'bank'],
          message: `a recipe switches every camera's bank, so a camera cannot keep its own: drop model.recipe or cameras[${i}].bank`,
        });
      if (!cam.source && c.source.type !== 'synthetic-web')
        ctx.addIssue({
          code: 'custom',
          path: ['cameras', i, 'source'],
          message: `a camera without its own source views the synthetic web, but source.type is '${c.source.type}'`,
        });
    });
    // Ids name topics and metric labels; where the cameras lie on the web is checked at start
    // (linescan/camera-layout.ts).
    c.cameras.forEach((cam, i) => {
      const first = c.cameras.findIndex((o) => o.id === cam.id);
      if (first < i) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `'${cam.id}' is also cameras[${first}]'s id` });
    });
    if (c.cameras.length > 0 && !(c.linescan.mmPerLine > 0))
      ctx.addIssue({
        code: 'custom',
        path: ['linescan', 'mmPerLine'],
        message: 'several cameras meet on the web in mm: set the web advance per line (the encoder pitch)',
      });
    if (c.cameras.length > 0 && c.linescan.enabled === false)
      ctx.addIssue({ code: 'custom', path: ['linescan', 'enabled'], message: 'cameras are line-scan cameras: leave linescan.enabled on' });
  });

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config['source'];

/** Whether the configured source is tiled as a line-scan web. */
export function isLineScan(config: Pick<Config, 'source' | 'linescan'>): boolean {
  return config.linescan.enabled ?? config.source.type === 'synthetic-web';
}

/**
 * The queue policy in force. A file waits on disk, so a folder or video replay loses nothing by
 * making the source wait, while drop-oldest threw away most of a folder read faster than
 * inference (31 of 57 files in a first-run trial). A live camera cannot wait: its driver would
 * drop the frames instead, uncounted, so live sources keep the newest frame and count the rest.
 */
export function queuePolicyOf(config: Pick<Config, 'source' | 'cameras' | 'pipeline'>): 'drop-oldest' | 'block' {
  const policy = config.pipeline.queuePolicy;
  if (policy !== 'auto') return policy;
  const sources = [config.source, ...config.cameras.flatMap((c) => (c.source ? [c.source] : []))];
  const canWait = (s: SourceConfig) => s.type === 'folder' || s.type === 'video' || (s.type === 'synthetic-web' && s.linesPerSecond === 0);
  return sources.every(canWait) ? 'block' : 'drop-oldest';
}
