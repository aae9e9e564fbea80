// Heat-map overlays for people: the image with the anomaly map in JET colours (green-yellow at
// the threshold, red above) and, when known, the ground truth outlined in white.
import type { Image8 } from '../core/image.js';
import { loadOpenCV } from '../preprocess/opencv.js';

type Mat = InstanceType<Awaited<ReturnType<typeof loadOpenCV>>['Mat']>;

/** `image` and `map` share one size. Without a threshold the map is scaled to its maximum. */
export async function overlay(image: Image8, map: Float32Array, threshold: number, mask?: Uint8Array): Promise<Mat> {
  const cv = await loadOpenCV();
  const { width, height } = image;
  const bgr = new cv.Mat(Buffer.from(image.data), height, width, cv.CV_8UC3).cvtColor(cv.COLOR_RGB2BGR);
  let max = 1e-9;
  for (const v of map) if (v > max) max = v;
  const scale = threshold > 0 ? 127.5 / threshold : 255 / max;
  const heat = cv.applyColorMap(
    new cv.Mat(Buffer.from(Uint8Array.from(map, (v) => Math.max(0, Math.min(255, Math.round(v * scale))))), height, width, cv.CV_8UC1),
    cv.COLORMAP_JET,
  );
  const blended = bgr.addWeighted(0.55, heat, 0.45, 0);
  if (mask?.some((v) => v)) {
    const m = new cv.Mat(Buffer.from(Uint8Array.from(mask, (v) => v * 255)), height, width, cv.CV_8UC1);
    blended.drawContours(
      m.findContours(cv.RETR_EXTERNAL, cv.CHAIN_APPROX_SIMPLE).map((c) => c.getPoints()),
      -1,
      new cv.Vec3(255, 255, 255),
      1,
    );
  }
  return blended;
}

export async function overlayJpeg(image: Image8, map: Float32Array, threshold: number, quality: number): Promise<Buffer> {
  const cv = await loadOpenCV();
  return cv.imencode('.jpg', await overlay(image, map, threshold), [cv.IMWRITE_JPEG_QUALITY, quality]);
}
